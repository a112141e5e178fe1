//! The decoded legacy parameters as an action reads them: `_` in a name
//! reads as `.` (the legacy signature's rule, so `codeObject_cosBucketName`
//! is `codeObject.cosBucketName`), an empty optional value is absent, and
//! every refusal is a legacy 4000 naming the parameter (docs/protocol.md,
//! "Decoding").

use crate::error::{BridgeError, ErrorKind};
use crate::legacy::decode::Params;

/// The verified parameters of one request, owned by the action's parser.
#[derive(Debug)]
pub struct LegacyParams {
    params: Params,
}

impl LegacyParams {
    pub fn new(params: Params) -> Self {
        LegacyParams { params }
    }

    /// The decoded parameters as they are.
    pub fn raw(&self) -> &Params {
        &self.params
    }

    /// The value of `name`, also when sent with `_` for a `.`
    /// (`filter_retCode` for `filter.retCode`). Empty values included.
    pub fn get(&self, name: &str) -> Option<&str> {
        if !name.contains('.') {
            return self.params.get(name);
        }
        self.params
            .iter()
            .find(|(k, _)| same_name(k, name))
            .map(|(_, v)| v)
    }

    /// The value of an optional parameter; an empty value is absent.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// The value of a required parameter: absent is `MissingParameter`,
    /// empty is `InvalidParameterValue`.
    pub fn required(&self, name: &'static str) -> Result<&str, BridgeError> {
        match self.get(name) {
            None => Err(missing(name)),
            Some("") => Err(invalid_value(name, "a non-empty value")),
            Some(v) => Ok(v),
        }
    }

    /// An optional decimal integer in `min..=max`.
    pub fn integer(
        &self,
        name: &'static str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, BridgeError> {
        let Some(text) = self.optional(name) else {
            return Ok(None);
        };
        let ok = text
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'));
        match text.parse::<i64>() {
            Ok(n) if ok && (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(invalid_value_owned(
                name,
                format!("an integer from {min} to {max}"),
            )),
        }
    }

    /// An optional value out of a vocabulary, compared ASCII
    /// case-insensitively: `table` maps each accepted legacy spelling to
    /// its typed value; `expected` lists them for the message.
    pub fn choice<T: Copy>(
        &self,
        name: &'static str,
        table: &[(&str, T)],
        expected: &'static str,
    ) -> Result<Option<T>, BridgeError> {
        self.pick(name, table, expected, str::eq_ignore_ascii_case)
    }

    /// [`LegacyParams::choice`] compared exactly (for parameters whose
    /// legacy values are case-sensitive).
    pub fn exact<T: Copy>(
        &self,
        name: &'static str,
        table: &[(&str, T)],
        expected: &'static str,
    ) -> Result<Option<T>, BridgeError> {
        self.pick(name, table, expected, |a, b| a == b)
    }

    fn pick<T: Copy>(
        &self,
        name: &'static str,
        table: &[(&str, T)],
        expected: &'static str,
        same: impl Fn(&str, &str) -> bool,
    ) -> Result<Option<T>, BridgeError> {
        let Some(text) = self.optional(name) else {
            return Ok(None);
        };
        table
            .iter()
            .find(|(k, _)| same(k, text))
            .map(|(_, v)| Some(*v))
            .ok_or_else(|| invalid_value(name, expected))
    }

    /// The value of `name`, taking the decoded text over instead of
    /// copying it (for a body-sized value); the other parameters are gone.
    pub fn into_value(self, name: &str) -> Option<String> {
        self.params.into_value(name)
    }
}

/// `key` names `name` once `_` is read as `.`.
fn same_name(key: &str, name: &str) -> bool {
    key.len() == name.len()
        && key
            .bytes()
            .zip(name.bytes())
            .all(|(k, n)| k == n || (k == b'_' && n == b'.'))
}

/// `MissingParameter`: "missing required parameter `name`".
pub fn missing(name: &str) -> BridgeError {
    BridgeError::new(
        ErrorKind::MissingParameter,
        format!("missing required parameter `{name}`"),
    )
}

/// `InvalidParameterValue`: "invalid value for `name`: expected …".
pub fn invalid_value(name: &str, expected: &str) -> BridgeError {
    invalid_value_owned(name, expected.to_owned())
}

fn invalid_value_owned(name: &str, expected: String) -> BridgeError {
    BridgeError::new(
        ErrorKind::InvalidParameterValue,
        format!("invalid value for `{name}`: expected {expected}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::decode::decode_form;

    fn p(form: &str) -> LegacyParams {
        LegacyParams::new(decode_form(form.as_bytes()).unwrap())
    }

    #[test]
    fn an_underscore_reads_as_a_dot_in_nested_names() {
        let v = p("codeObject_cosBucketName=b&filter.retCode=is0");
        assert_eq!(v.get("codeObject.cosBucketName"), Some("b"));
        assert_eq!(v.get("filter.retCode"), Some("is0"));
        assert_eq!(v.get("codeObject.cosBucketRegion"), None);
    }

    #[test]
    fn empty_optional_is_absent_and_empty_required_is_invalid() {
        let v = p("a=&b=x");
        assert_eq!(v.optional("a"), None);
        assert_eq!(v.optional("b"), Some("x"));
        assert_eq!(v.required("b").unwrap(), "x");
        let e = v.required("a").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidParameterValue);
        assert!(e.detail.contains("`a`"), "{}", e.detail);
        let e = v.required("c").unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingParameter);
        assert_eq!(e.detail, "missing required parameter `c`");
    }

    #[test]
    fn integers_are_decimal_and_bounded() {
        let v = p("a=20&b=-1&c=1e3&d=+5&e=99999999999999999999&f=");
        assert_eq!(v.integer("a", 0, 100).unwrap(), Some(20));
        assert_eq!(v.integer("f", 0, 100).unwrap(), None);
        assert_eq!(v.integer("z", 0, 100).unwrap(), None);
        for name in ["b", "c", "d", "e"] {
            let e = v.integer(name, 0, 100).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidParameterValue, "{name}");
            assert!(e.detail.contains(&format!("`{name}`")), "{}", e.detail);
        }
        assert_eq!(v.integer("b", -5, 5).unwrap(), Some(-1));
    }

    #[test]
    fn choices_are_case_insensitive_and_name_the_parameter() {
        let v = p("order=DESC&orderby=size");
        let table = [("asc", 1), ("desc", 2)];
        assert_eq!(v.choice("order", &table, "asc or desc").unwrap(), Some(2));
        let e = v.choice("orderby", &table, "asc or desc").unwrap_err();
        assert_eq!(
            e.detail,
            "invalid value for `orderby`: expected asc or desc"
        );
    }
}
