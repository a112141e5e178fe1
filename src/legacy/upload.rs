//! Values the legacy signature does not cover. On `POST`, a value beginning
//! with `@` is left out of the string to sign (the legacy file upload,
//! `code=@<zip>`; see [`super::signature::string_to_sign`]), so anyone who
//! sees or replays a signed POST could add or rewrite such a value without
//! breaking the signature. The bridge reads no such value: a request
//! carrying one on a parameter that is not an upload is refused before
//! anything is sent (docs/protocol.md, "Unsigned values").

use super::decode::Params;

/// The first parameter of a `method` request whose value is outside the
/// signature (a POST value beginning with `@`) and whose key is not in
/// `allowed`; `None` when every value the request carries is signed. GET
/// values are always signed. Pure: the same inputs, the same answer.
pub fn unsigned_upload_violation<'a>(
    params: &'a Params,
    method: &str,
    allowed: &[&str],
) -> Option<&'a str> {
    if method != "POST" {
        return None;
    }
    params
        .iter()
        .find(|(k, v)| v.starts_with('@') && !allowed.contains(k))
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::decode::decode_form;

    fn check(form: &str, method: &str, allowed: &[&str]) -> Option<String> {
        let p = decode_form(form.as_bytes()).unwrap();
        unsigned_upload_violation(&p, method, allowed).map(str::to_owned)
    }

    #[test]
    fn an_at_value_on_post_is_named_unless_it_is_an_upload() {
        let base = "Action=InvokeFunction&functionName=f";
        for key in [
            "param",
            "Token",
            "namespace",
            "version",
            "functionName2",
            "X",
        ] {
            let form = format!("{base}&{key}=%40x");
            assert_eq!(check(&form, "POST", &[]).as_deref(), Some(key), "{key}");
            assert_eq!(check(&form, "GET", &[]), None, "GET values are signed");
        }
        assert_eq!(check("code=%40zip&a=1", "POST", &["code"]), None);
        assert_eq!(
            check("code=%40zip&a=%40b", "POST", &["code"]).as_deref(),
            Some("a")
        );
        // `@` elsewhere in a value is signed like any other byte.
        assert_eq!(check("param=x%40y&e=", "POST", &[]), None);
        // The method is compared as the signature compares it: exactly.
        assert_eq!(check("param=%40x", "post", &[]), None);
    }
}
