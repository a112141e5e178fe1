//! JSON text written straight into a byte buffer, byte-identical to what
//! `serde_json`'s compact serializer writes for the same values, for the
//! per-request bodies whose strings dominate them (the 3.0 invocation body
//! carries the caller's `param` as one string). serde_json looks every byte
//! up in its escape table; [`push_str`] skips eight bytes at a time while
//! none of them needs escaping, which is what a JSON `param` mostly is.
//! A leaf module: no dependency on the rest of the crate.

/// Appends `s` as a JSON string, quotes included: `"` and `\` escaped with
/// a backslash, `\b \f \n \r \t` by name, every other byte below 0x20 as
/// `\u00xx` (lowercase hex), everything else (DEL and non-ASCII included)
/// as it is — serde_json's choices.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0; // start of the bytes not yet copied
    let mut i = 0;
    while i < bytes.len() {
        // Whole words while none of their bytes needs escaping.
        while let Some(word) = bytes.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            if any_needs_escape(u64::from_le_bytes(w)) {
                break;
            }
            i += 8;
        }
        // Then one byte: the one that stopped the words, or a tail byte.
        let Some(&b) = bytes.get(i) else { break };
        if let Some(escape) = escape_of(b) {
            out.extend_from_slice(&bytes[run..i]);
            push_escape(out, b, escape);
            run = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Appends `"key":` for a key that needs no escaping (a field name).
pub fn push_key(out: &mut Vec<u8>, key: &'static str) {
    debug_assert!(key.bytes().all(|b| escape_of(b).is_none()));
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Whether any of the eight bytes of `word` is below 0x20, `"` or `\`
/// (the classic "has a zero byte" test on `word`, `word ^ "…"` and
/// `word ^ \…`; exact as a yes/no answer).
fn any_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | quote | backslash) & HIGH != 0
}

/// The escape letter of a byte that needs one (`u` for `\u00xx`).
fn escape_of(b: u8) -> Option<u8> {
    match b {
        b'"' => Some(b'"'),
        b'\\' => Some(b'\\'),
        0x08 => Some(b'b'),
        0x0C => Some(b'f'),
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        b'\t' => Some(b't'),
        0x00..=0x1F => Some(b'u'),
        _ => None,
    }
}

fn push_escape(out: &mut Vec<u8>, b: u8, escape: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if escape == b'u' {
        out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xF)],
        ]);
    } else {
        out.extend_from_slice(&[b'\\', escape]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, s);
        String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn escapes_as_written_by_hand() {
        assert_eq!(ours(""), r#""""#);
        assert_eq!(ours(r#"{"a":1}"#), r#""{\"a\":1}""#);
        assert_eq!(ours("a\\b"), r#""a\\b""#);
        assert_eq!(ours("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(ours("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(ours("été 😀"), "\"été 😀\"");
        // An escape at every position of an eight-byte word, and across words.
        assert_eq!(ours("0123456\"89"), r#""0123456\"89""#);
        assert_eq!(ours("01234567\""), r#""01234567\"""#);
        assert_eq!(ours("\"1234567"), r#""\"1234567""#);
    }

    #[test]
    fn agrees_with_serde_json_on_every_byte_in_every_position() {
        // Every ASCII byte and a few multi-byte characters, at each offset
        // of a word, in runs long enough to take the eight-byte path.
        let mut specials: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        specials.extend(["é", "€", "😀", "\u{2028}"].map(String::from));
        for special in &specials {
            for offset in 0..17 {
                let s = format!("{}{special}{}", "x".repeat(offset), "y".repeat(17 - offset));
                let expected = serde_json::to_string(&s).unwrap();
                assert_eq!(ours(&s), expected, "{special:?} at {offset}");
            }
        }
    }

    #[test]
    fn agrees_with_serde_json_on_pseudo_random_strings() {
        // A fixed xorshift sequence: reproducible, biased toward the bytes
        // that need escaping.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = [
            'a', ' ', '"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', 'é', '😀', '{', '%',
        ];
        for _ in 0..2_000 {
            let len = (next() % 64) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn keys_are_written_with_their_colon() {
        let mut out = Vec::new();
        push_key(&mut out, "Event");
        assert_eq!(out, br#""Event":"#);
    }
}
