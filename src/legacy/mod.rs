//! The legacy v2 dialect (`/v2/index.php`), pure: decoding, signatures,
//! regions and the `{"code","message","codeDesc","data"}` answer.
//! Never imports hyper, tokio, the clock or the file system, nor `scf3`.
//!
//! The walk of one request through this module:
//! [`decode::decode_form`] → [`request::read_common`] →
//! [`signature::string_to_sign`] + [`signature::verify`] →
//! ([`region::resolve_region`] for the translation) → [`answer::LegacyAnswer`].

pub mod answer;
pub mod decode;
pub mod region;
pub mod request;
pub mod signature;
pub mod upload;

use std::fmt;

/// Longest piece of client-supplied text (a key, a region, an action name)
/// that an error keeps for its message, in characters.
pub(crate) const SHOWN_MAX_CHARS: usize = 64;

/// Client-supplied text cut to `max` characters, for error values.
/// A cut string ends with `…` so the operator can see it was cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => {
            let mut out = String::with_capacity(at + 3);
            out.push_str(&text[..at]);
            out.push('…');
            out
        }
    }
}

/// Displays client-supplied text with control and other non-printable
/// characters escaped, so an error message can't forge log lines.
pub(crate) struct Shown<'a>(pub(crate) &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c == '`' {
                f.write_str("\\`")?;
            } else if c == '\\' || c.is_control() || is_bidi_or_invisible(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Zero-width and bidirectional-override characters: printable by Unicode's
/// reckoning, but they can make a log line read differently than it is.
fn is_bidi_or_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_marks_cut_text() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
        assert_eq!(clip("云函数云", 2), "云函…");
    }

    #[test]
    fn shown_escapes_control_characters_and_backticks() {
        assert_eq!(Shown("a\nb`c\\").to_string(), "a\\nb\\`c\\\\");
        assert_eq!(Shown("云 x").to_string(), "云 x");
        assert_eq!(Shown("a\u{202E}b").to_string(), "a\\u{202e}b");
    }
}
