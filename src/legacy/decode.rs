//! Form decoding of a legacy query string or `application/x-www-form-urlencoded`
//! body into ordered, unambiguous [`Params`] (docs/protocol.md, "Encoding"), and its
//! inverse [`encode_form`], the wire format the Python SDK sends.
//!
//! Rules, in order: split on `&` (empty segments skipped), split each segment
//! on its first `=` (no `=` → value `""`), `+` → space, `%XX` → byte, then the
//! decoded bytes must be UTF-8. A key given twice, or two keys that are the
//! same once `_` is read as `.` (how the signature sees keys), are rejected:
//! either would make the signed string ambiguous.
//!
//! Errors name the parameter key only, never a value (`Signature`, `Token`
//! and `param` may carry secrets).

use std::cmp::Ordering;
use std::fmt;

use super::{clip, Shown, SHOWN_MAX_CHARS};

/// Decoded parameters in wire order. Keys are unique, also once `_` is read
/// as `.` (see [`signed_key_cmp`]).
///
/// All keys and values live in one string: decoding a request allocates
/// twice, however many parameters it has.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Params {
    text: String,
    pairs: Vec<Pair>,
}

/// Byte offsets into [`Params::text`]: the key is `key_start..value_start`,
/// the value `value_start..value_end`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Pair {
    key_start: usize,
    value_start: usize,
    value_end: usize,
}

impl Params {
    /// The value of `key` (exact, case-sensitive match), if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// `(key, value)` pairs in wire order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.pairs.iter().map(|p| {
            (
                &self.text[p.key_start..p.value_start],
                &self.text[p.value_start..p.value_end],
            )
        })
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The value of `key` (as [`Params::get`] finds it), taking the decoded
    /// text over: the value is moved to the front of the text in place and
    /// the rest cut off, so no new buffer is allocated however large the
    /// value is (the text keeps its capacity). The other parameters are
    /// gone; `None` when `key` is absent.
    pub fn into_value(self, key: &str) -> Option<String> {
        let Params { mut text, pairs } = self;
        let p = pairs
            .iter()
            .find(|p| &text[p.key_start..p.value_start] == key)?;
        text.truncate(p.value_end);
        text.drain(..p.value_start);
        Some(text)
    }

    /// Builds parameters from already decoded pairs (tests, clients), with
    /// the same checks as [`decode_form`]: no empty key, no duplicate, no two
    /// keys equal once `_` is read as `.`.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, DecodeError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut params = Params::default();
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            if key.is_empty() {
                return Err(DecodeError::EmptyKey);
            }
            let key_start = params.text.len();
            params.text.push_str(key);
            let value_start = params.text.len();
            params.text.push_str(value);
            params.pairs.push(Pair {
                key_start,
                value_start,
                value_end: params.text.len(),
            });
        }
        params.check_unique()?;
        Ok(params)
    }

    /// Rejects a key given twice, or two keys equal once `_` is read as `.`.
    /// Quadratic for the usual handful of parameters, `n log n` beyond.
    fn check_unique(&self) -> Result<(), DecodeError> {
        const LINEAR_MAX: usize = 16;
        let key = |i: usize| {
            let p = &self.pairs[i];
            &self.text[p.key_start..p.value_start]
        };
        let clash = |first: &str, second: &str| {
            if first == second {
                DecodeError::DuplicateParameter {
                    key: clip(first, SHOWN_MAX_CHARS),
                }
            } else {
                DecodeError::AmbiguousKeys {
                    first: clip(first, SHOWN_MAX_CHARS),
                    second: clip(second, SHOWN_MAX_CHARS),
                }
            }
        };
        let n = self.pairs.len();
        if n <= LINEAR_MAX {
            for j in 1..n {
                for i in 0..j {
                    if signed_key_cmp(key(i), key(j)) == Ordering::Equal {
                        return Err(clash(key(i), key(j)));
                    }
                }
            }
            return Ok(());
        }
        let mut order: Vec<usize> = (0..n).collect();
        // Stable: equal keys stay in wire order, so `first` is first.
        order.sort_by(|&a, &b| signed_key_cmp(key(a), key(b)));
        for w in order.windows(2) {
            if signed_key_cmp(key(w[0]), key(w[1])) == Ordering::Equal {
                return Err(clash(key(w[0]), key(w[1])));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Params {
    /// Keys only: values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Params")
            .field("keys", &self.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Orders keys the way the signature sees them: byte order of the key with
/// every `_` read as `.` (docs/protocol.md, "Signature (v1)"). Allocation-free.
pub fn signed_key_cmp(a: &str, b: &str) -> Ordering {
    fn as_signed(b: u8) -> u8 {
        if b == b'_' {
            b'.'
        } else {
            b
        }
    }
    a.bytes().map(as_signed).cmp(b.bytes().map(as_signed))
}

/// Why a form could not be decoded. Messages name keys, never values; a key
/// is cut to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits, in the key or the value.
    #[error("malformed percent-encoding in parameter `{}`", Shown(.key))]
    BadPercentEncoding { key: String },
    /// The decoded key or value is not UTF-8 (the key is shown lossily).
    #[error("parameter `{}` is not valid UTF-8 once decoded", Shown(.key))]
    NotUtf8 { key: String },
    /// The same key twice.
    #[error("parameter `{}` is given more than once", Shown(.key))]
    DuplicateParameter { key: String },
    /// Two different keys that the signature sees as one (`a_b` and `a.b`).
    #[error(
        "parameters `{}` and `{}` are the same once `_` is signed as `.`",
        Shown(.first),
        Shown(.second)
    )]
    AmbiguousKeys { first: String, second: String },
    /// A segment starting with `=`.
    #[error("a parameter has an empty name")]
    EmptyKey,
    /// More parameters than `server.max_params`; found while decoding, so
    /// the rest are never looked at.
    #[error("the request has more than {max} parameters (server.max_params)")]
    TooManyParameters { max: usize },
}

/// Bytes of decoding state per parameter beyond the decoded text: the
/// decoder's offsets ([`Pair`], 24 B), the uniqueness check's index (8 B)
/// and the verifier's sorted `(key, value)` slices (32 B), rounded up.
pub const DECODE_BYTES_PER_PARAM: usize = 80;

/// An upper bound on the heap a decode and a signature check of an
/// `input_len`-byte form take, with at most `max_params` parameters: the
/// decoded text (never longer than the input) plus the per-parameter state.
/// What the server reserves from its buffer budget before decoding.
pub fn decode_bytes_needed(input_len: usize, max_params: usize) -> usize {
    let pairs = max_params.min(input_len / 2 + 1);
    input_len.saturating_add(pairs.saturating_mul(DECODE_BYTES_PER_PARAM))
}

/// Decodes a query string or form body (see the module doc for the rules).
/// One pass over the input, then one UTF-8 check over the decoded text;
/// two allocations for up to 16 parameters.
pub fn decode_form(input: &[u8]) -> Result<Params, DecodeError> {
    decode_form_with::<true>(input, usize::MAX)
}

/// [`decode_form`] that stops with [`DecodeError::TooManyParameters`] at
/// the `max_params + 1`-th parameter: the list of offsets never holds more
/// than `max_params` entries, whatever the input, and the rest of the input
/// is not decoded. What the bridge runs on unauthenticated input.
pub fn decode_form_limited(input: &[u8], max_params: usize) -> Result<Params, DecodeError> {
    decode_form_with::<true>(input, max_params)
}

/// [`decode_form`], with values decoded eight bytes at a time where they
/// allow it (`WORDS`) or one byte at a time throughout (the tests' reference:
/// both must give the same result for every input).
fn decode_form_with<const WORDS: bool>(
    input: &[u8],
    max_params: usize,
) -> Result<Params, DecodeError> {
    // Decoding never lengthens the text, so the output fits in a buffer of
    // the input's size, written through a cursor (`w`) and cut to length at
    // the end.
    let mut buf: Vec<u8> = vec![0; input.len()];
    let mut w = 0;
    let mut pairs: Vec<Pair> = Vec::with_capacity(16.min(max_params));
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'&' => {
                i += 1; // an empty segment
                continue;
            }
            b'=' => return Err(DecodeError::EmptyKey),
            _ => {}
        }
        if pairs.len() == max_params {
            return Err(DecodeError::TooManyParameters { max: max_params });
        }
        let segment_start = i;
        let key_start = w;
        i = decode_until::<WORDS>(input, i, true, &mut buf, &mut w).map_err(|()| {
            let raw_key_len = input[segment_start..]
                .iter()
                .position(|&b| b == b'=' || b == b'&')
                .unwrap_or(input.len() - segment_start);
            DecodeError::BadPercentEncoding {
                key: lossy_key(&input[segment_start..segment_start + raw_key_len]),
            }
        })?;
        let value_start = w;
        if input.get(i) == Some(&b'=') {
            i = decode_until::<WORDS>(input, i + 1, false, &mut buf, &mut w).map_err(|()| {
                DecodeError::BadPercentEncoding {
                    key: lossy_key(&buf[key_start..value_start]),
                }
            })?;
        }
        pairs.push(Pair {
            key_start,
            value_start,
            value_end: w,
        });
        i += 1; // past the `&` (or the end)
    }
    buf.truncate(w);
    let text = match String::from_utf8(buf) {
        Ok(text) => text,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let buf = e.into_bytes();
            let p = pairs
                .iter()
                .find(|p| at < p.value_end)
                .expect("an invalid byte lies inside some pair");
            return Err(DecodeError::NotUtf8 {
                key: lossy_key(&buf[p.key_start..p.value_start]),
            });
        }
    };
    // The whole is UTF-8; each piece is too unless a multi-byte character
    // straddles a piece boundary (a key or value ending mid-character).
    for (i, p) in pairs.iter().enumerate() {
        let culprit = if !text.is_char_boundary(p.value_start) {
            Some(p)
        } else if !text.is_char_boundary(p.key_start) {
            Some(&pairs[i - 1]) // the previous value ends mid-character
        } else {
            None
        };
        if let Some(c) = culprit {
            return Err(DecodeError::NotUtf8 {
                key: lossy_key(&text.as_bytes()[c.key_start..c.value_start]),
            });
        }
    }
    let params = Params { text, pairs };
    params.check_unique()?;
    Ok(params)
}

/// Form-decodes `input[from..]` into `out[*w..]` (`+` → space, `%XX` →
/// byte) up to the next `&` (or, for a key, `=`) or the end, advancing the
/// write cursor `w`, and returns where it stopped. `out` is at least as long
/// as `input` and `*w <= from`: decoding never writes ahead of reading.
///
/// Keys go one byte at a time ([`byte_steps`]). Values (the bulk of a large
/// request) go eight bytes at a time ([`word_steps`]) while that pays, and
/// one byte at a time for a stretch whenever it does not (JSON punctuation
/// is all `%XX` on the wire, leaving runs of one or two plain bytes).
fn decode_until<const WORDS: bool>(
    input: &[u8],
    from: usize,
    is_key: bool,
    out: &mut [u8],
    w: &mut usize,
) -> Result<usize, ()> {
    /// Bytes or escapes decoded one at a time before words are tried again.
    const BYTEWISE_STRETCH: usize = 256;
    let mut i = from;
    let mut o = *w;
    if WORDS && !is_key {
        loop {
            // Words stop at `&`, a malformed escape, the last seven bytes,
            // or a dense stretch; one byte step deals with the first three.
            let steps = if word_steps(input, &mut i, out, &mut o) {
                BYTEWISE_STRETCH
            } else {
                1
            };
            if byte_steps(input, &mut i, out, &mut o, false, steps)? {
                break;
            }
        }
    } else {
        byte_steps(input, &mut i, out, &mut o, is_key, usize::MAX)?;
    }
    *w = o;
    Ok(i)
}

/// Decodes up to `steps` bytes or escapes one at a time through a class
/// table (plain bytes cost one load, one compare and one store); `Ok(true)`
/// once the key or value has ended (at `&`, for a key `=`, or the end).
#[inline(always)]
fn byte_steps(
    input: &[u8],
    i: &mut usize,
    out: &mut [u8],
    o: &mut usize,
    is_key: bool,
    mut steps: usize,
) -> Result<bool, ()> {
    while steps > 0 {
        let Some(&b) = input.get(*i) else {
            return Ok(true);
        };
        steps -= 1;
        if !SPECIAL[usize::from(b)] {
            out[*o] = b;
            *o += 1;
            *i += 1;
            continue;
        }
        match b {
            b'&' => return Ok(true),
            b'=' if is_key => return Ok(true),
            b'+' => {
                out[*o] = b' ';
                *i += 1;
            }
            b'%' => {
                out[*o] = escaped(input, *i).ok_or(())?;
                *i += 3;
            }
            _ => {
                // `=` inside a value.
                out[*o] = b;
                *i += 1;
            }
        }
        *o += 1;
    }
    Ok(false)
}

/// The byte `%XX` at `input[at]` spells, if both digits are hex.
#[inline(always)]
fn escaped(input: &[u8], at: usize) -> Option<u8> {
    let Some(&[hi, lo]) = input.get(at + 1..at + 3) else {
        return None;
    };
    let (hi, lo) = (HEX[usize::from(hi)], HEX[usize::from(lo)]);
    (hi | lo < 16).then_some(hi << 4 | lo)
}

/// Inside a value, decodes eight bytes at a time: a word without `&` or
/// `%` is stored whole (its `+` turned into spaces within the word);
/// otherwise its plain bytes up to the first such byte are, and a
/// well-formed `%XX` there is decoded and the words go on. Stops at `&`, at
/// a malformed escape and with fewer than eight bytes left (returning
/// false: the caller's byte step takes over there), and when words stop
/// paying for themselves — a run of escapes with few plain bytes between
/// them — returning true.
///
/// Each word is stored whole even when only part of it is plain: the bytes
/// past that part land ahead of the write cursor and are overwritten by
/// what is decoded next (or cut off at the end). The store fits because
/// `o <= i` and `out` is at least as long as `input`.
fn word_steps(input: &[u8], i: &mut usize, out: &mut [u8], o: &mut usize) -> bool {
    // Plain bytes gained per word, less the four a word must gain to beat
    // byte steps; words stop when this falls below -4.
    let mut paying: i32 = 0;
    while let Some(chunk) = input.get(*i..*i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let stops = bytes_equal_to(word, b'&') | bytes_equal_to(word, b'%');
        // 0x80 in each `+` byte → 0x01 → `+` ^ ` ` in that byte.
        let plus = bytes_equal_to(word, b'+');
        let word = word ^ ((plus >> 7) * u64::from(b'+' ^ b' '));
        out[*o..*o + 8].copy_from_slice(&word.to_le_bytes());
        if stops == 0 {
            *i += 8;
            *o += 8;
            paying = (paying + 4).min(16);
            continue;
        }
        let plain = (stops.trailing_zeros() / 8) as usize;
        *i += plain;
        *o += plain;
        if chunk[plain] != b'%' {
            return false;
        }
        let Some(byte) = escaped(input, *i) else {
            return false;
        };
        out[*o] = byte;
        *i += 3;
        *o += 1;
        paying += plain as i32 - 4;
        if paying < -4 {
            return true;
        }
    }
    false
}

/// `0x80` in each byte of `word` equal to `b`, `0x00` in every other byte.
/// Exact in every byte (no borrow runs from one byte into the next, unlike
/// the classic "has a zero byte" test, which is exact only for the first).
fn bytes_equal_to(word: u64, b: u8) -> u64 {
    const LOW7: u64 = u64::from_le_bytes([0x7F; 8]);
    let x = word ^ u64::from_le_bytes([b; 8]);
    // Per byte: (x & 0x7F) + 0x7F carries into bit 7 iff the low seven bits
    // are not all zero, never past it; with x's own bit 7 that is "x != 0".
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The bytes [`byte_steps`] must look at: `&`, `=`, `+` and `%`.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'&' as usize] = true;
    t[b'=' as usize] = true;
    t[b'+' as usize] = true;
    t[b'%' as usize] = true;
    t
};

/// The value of each hex digit (either case); `0xFF` for every other byte.
const HEX: [u8; 256] = {
    let mut t = [0xFF; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            c @ b'A'..=b'F' => c - b'A' + 10,
            _ => 0xFF,
        };
        b += 1;
    }
    t
};

fn lossy_key(bytes: &[u8]) -> String {
    clip(&String::from_utf8_lossy(bytes), SHOWN_MAX_CHARS)
}

/// Encodes pairs as Python's `urllib.parse.urlencode` (`quote_plus`) does:
/// `A-Za-z0-9_.-~` kept, space → `+`, every other byte of the UTF-8 text →
/// `%XX` (upper-case hex), pairs joined with `&`. The inverse of
/// [`decode_form`]; for clients and tests.
pub fn encode_form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        quote_plus_into(key, &mut out);
        out.push('=');
        quote_plus_into(value, &mut out);
    }
    out
}

fn quote_plus_into(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xF)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(input: &str) -> Vec<(String, String)> {
        decode_form(input.as_bytes())
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn splits_on_ampersand_then_first_equals_sign() {
        assert_eq!(
            pairs("a=1&b=x=y&c=="),
            owned(&[("a", "1"), ("b", "x=y"), ("c", "=")])
        );
    }

    #[test]
    fn plus_decodes_to_space() {
        assert_eq!(pairs("param=a+b++c"), owned(&[("param", "a b  c")]));
    }

    #[test]
    fn encoded_plus_stays_plus() {
        assert_eq!(pairs("s=p3n%2Bpx"), owned(&[("s", "p3n+px")]));
    }

    #[test]
    fn percent_escapes_decode_in_either_case() {
        assert_eq!(pairs("k=%7b%7D%2f%2F%20"), owned(&[("k", "{}// ")]));
    }

    #[test]
    fn percent_escapes_decode_in_keys_too() {
        assert_eq!(pairs("a%5Fb=1"), owned(&[("a_b", "1")]));
    }

    #[test]
    fn decoding_happens_once() {
        // `%2541` is `%41` after one decoding, not `A`.
        assert_eq!(pairs("k=%2541"), owned(&[("k", "%41")]));
    }

    #[test]
    fn utf8_from_percent_escapes() {
        assert_eq!(
            pairs("param=%E4%BA%91%E5%87%BD%E6%95%B0+x"),
            owned(&[("param", "云函数 x")])
        );
    }

    #[test]
    fn raw_utf8_bytes_are_accepted() {
        assert_eq!(pairs("param=云"), owned(&[("param", "云")]));
    }

    #[test]
    fn empty_segments_are_skipped() {
        assert_eq!(pairs("&a=1&&b=2&"), owned(&[("a", "1"), ("b", "2")]));
        assert!(decode_form(b"").unwrap().is_empty());
        assert!(decode_form(b"&&&").unwrap().is_empty());
    }

    #[test]
    fn key_without_equals_sign_has_empty_value() {
        assert_eq!(
            pairs("flag&a=&b=1"),
            owned(&[("flag", ""), ("a", ""), ("b", "1")])
        );
    }

    #[test]
    fn wire_order_is_kept() {
        assert_eq!(
            pairs("z=1&A=2&m=3"),
            owned(&[("z", "1"), ("A", "2"), ("m", "3")])
        );
    }

    #[test]
    fn malformed_percent_is_rejected_naming_the_key() {
        for input in ["k=%", "k=%G1", "k=a%4", "k=%%41", "k=%4G"] {
            assert_eq!(
                decode_form(input.as_bytes()),
                Err(DecodeError::BadPercentEncoding { key: "k".into() }),
                "{input}"
            );
        }
    }

    #[test]
    fn malformed_percent_in_key_is_rejected() {
        assert_eq!(
            decode_form(b"a=1&b%Z=2"),
            Err(DecodeError::BadPercentEncoding { key: "b%Z".into() })
        );
    }

    #[test]
    fn invalid_utf8_is_rejected_naming_the_key() {
        assert_eq!(
            decode_form(b"a=1&param=%FF&c=3"),
            Err(DecodeError::NotUtf8 {
                key: "param".into()
            })
        );
        assert_eq!(
            decode_form(b"a=1&param=\xC3"),
            Err(DecodeError::NotUtf8 {
                key: "param".into()
            })
        );
    }

    #[test]
    fn invalid_utf8_in_key_is_shown_lossily() {
        assert_eq!(
            decode_form(b"k%FF=1"),
            Err(DecodeError::NotUtf8 {
                key: "k\u{FFFD}".into()
            })
        );
    }

    #[test]
    fn utf8_is_checked_per_key_and_value_not_across_them() {
        // `%C3` ends the key, `%A9` starts the value: together they'd be `é`.
        assert_eq!(
            decode_form(b"k%C3=%A9"),
            Err(DecodeError::NotUtf8 {
                key: "k\u{FFFD}".into()
            })
        );
        // A value ending mid-character followed by a key starting with the rest.
        assert_eq!(
            decode_form(b"a=%C3&%A9=1"),
            Err(DecodeError::NotUtf8 { key: "a".into() })
        );
    }

    #[test]
    fn same_key_twice_is_rejected() {
        assert_eq!(
            decode_form(b"Signature=a&x=1&Signature=b"),
            Err(DecodeError::DuplicateParameter {
                key: "Signature".into()
            })
        );
    }

    #[test]
    fn same_key_twice_is_rejected_among_many() {
        let mut input: String = (0..100).map(|i| format!("k{i}=v&")).collect();
        input.push_str("k42=again");
        assert_eq!(
            decode_form(input.as_bytes()),
            Err(DecodeError::DuplicateParameter { key: "k42".into() })
        );
    }

    #[test]
    fn keys_equal_once_underscore_is_dot_are_rejected() {
        assert_eq!(
            decode_form(b"InstanceIds_0=a&InstanceIds.0=b"),
            Err(DecodeError::AmbiguousKeys {
                first: "InstanceIds_0".into(),
                second: "InstanceIds.0".into()
            })
        );
        let mut many: String = (0..40).map(|i| format!("k{i}=v&")).collect();
        many.push_str("a.b=1&a_b=2");
        assert_eq!(
            decode_form(many.as_bytes()),
            Err(DecodeError::AmbiguousKeys {
                first: "a.b".into(),
                second: "a_b".into()
            })
        );
    }

    #[test]
    fn keys_differing_in_case_are_distinct() {
        assert_eq!(
            pairs("version=1&Version=2017-03-12"),
            owned(&[("version", "1"), ("Version", "2017-03-12")])
        );
    }

    #[test]
    fn empty_key_is_rejected() {
        assert_eq!(decode_form(b"a=1&=2"), Err(DecodeError::EmptyKey));
        assert_eq!(decode_form(b"="), Err(DecodeError::EmptyKey));
    }

    #[test]
    fn errors_never_show_values() {
        let secret = "TOPSECRETVALUE";
        for input in [
            format!("Signature={secret}%"),
            format!("Signature={secret}%FF"),
            format!("Signature={secret}&Signature={secret}"),
        ] {
            let err = decode_form(input.as_bytes()).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("Signature"), "{shown}");
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn long_keys_are_cut_in_errors() {
        let key = "k".repeat(1000);
        let err = decode_form(format!("{key}=%").as_bytes()).unwrap_err();
        let DecodeError::BadPercentEncoding { key: shown } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(shown.chars().count(), SHOWN_MAX_CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn error_messages_escape_control_characters() {
        let err = decode_form(b"a%0Ab=1&a%0Ab=2").unwrap_err();
        assert_eq!(err.to_string(), "parameter `a\\nb` is given more than once");
    }

    #[test]
    fn debug_shows_keys_but_not_values() {
        let params = decode_form(b"Signature=s3cret&Token=t0ken&Action=X").unwrap();
        let shown = format!("{params:?}");
        assert!(shown.contains("Signature") && shown.contains("Action"));
        assert!(!shown.contains("s3cret") && !shown.contains("t0ken"));
    }

    #[test]
    fn get_is_exact_and_case_sensitive() {
        let params = decode_form(b"version=1&Version=2").unwrap();
        assert_eq!(params.get("version"), Some("1"));
        assert_eq!(params.get("Version"), Some("2"));
        assert_eq!(params.get("VERSION"), None);
        assert_eq!(params.len(), 2);
    }

    #[test]
    fn from_pairs_applies_the_same_checks() {
        assert_eq!(
            Params::from_pairs([("a", "1"), ("a", "2")]),
            Err(DecodeError::DuplicateParameter { key: "a".into() })
        );
        assert_eq!(Params::from_pairs([("", "1")]), Err(DecodeError::EmptyKey));
        let params = Params::from_pairs([("a", "1"), ("b", "x y")]).unwrap();
        assert_eq!(params, decode_form(b"a=1&b=x+y").unwrap());
    }

    #[test]
    fn encode_form_is_quote_plus() {
        assert_eq!(
            encode_form([("param", "{\"a\": 1}"), ("k_0.-~", "云 +&=%")]),
            "param=%7B%22a%22%3A+1%7D&k_0.-~=%E4%BA%91+%2B%26%3D%25"
        );
    }

    #[test]
    fn into_value_moves_the_value_out_whatever_its_place() {
        let form = b"a=1&param=%7B%22x%22%3A+1%7D&z=&last=%E4%BA%91";
        for (key, want) in [
            ("a", Some("1")),
            ("param", Some("{\"x\": 1}")),
            ("z", Some("")),
            ("last", Some("云")),
            ("missing", None),
            ("Param", None),
        ] {
            let params = decode_form(form).unwrap();
            let capacity = params.text.capacity();
            let got = params.into_value(key);
            assert_eq!(got.as_deref(), want, "{key}");
            if let Some(v) = got {
                // The decoded text itself, not a new buffer.
                assert_eq!(v.capacity(), capacity, "{key}");
            }
        }
        assert_eq!(Params::default().into_value("param"), None);
    }

    #[test]
    fn bytes_equal_to_marks_exactly_the_equal_bytes() {
        // Every target against every byte value in every position, with the
        // other bytes equal to the target (a borrow would spill into them)
        // or one off it.
        for b in 0..=255u8 {
            for v in 0..=255u8 {
                for at in 0..8 {
                    for filler in [b, b.wrapping_add(1), b.wrapping_sub(1), 0, 0xFF] {
                        let mut bytes = [filler; 8];
                        bytes[at] = v;
                        let mask = bytes_equal_to(u64::from_le_bytes(bytes), b);
                        let want: [u8; 8] =
                            std::array::from_fn(|k| if bytes[k] == b { 0x80 } else { 0 });
                        assert_eq!(mask.to_le_bytes(), want, "b={b} v={v} at={at} f={filler}");
                    }
                }
            }
        }
    }

    #[test]
    fn hex_table_is_the_hex_digits_of_either_case() {
        for b in 0..=255u8 {
            let want = char::from(b).to_digit(16).map_or(0xFF, |d| d as u8);
            assert_eq!(HEX[usize::from(b)], want, "{b:#04x}");
        }
    }

    #[test]
    fn word_decoding_handles_escapes_and_plus_at_every_offset() {
        // A stop byte or `+` at each position of a word and across words.
        for n in 0..24 {
            for special in ["+", "%41", "%e4%ba%91", "&k=", "=", "%", "%4", "%G0"] {
                let value = format!("{}{special}{}", "x".repeat(n), "y".repeat(n % 9));
                let form = format!("a=b&v={value}&z=1");
                assert_eq!(
                    decode_form(form.as_bytes()),
                    decode_form_with::<false>(form.as_bytes(), usize::MAX),
                    "{form}"
                );
            }
        }
        assert_eq!(
            pairs("v=abcdefgh+ijklmno%2Bpq+rs"),
            owned(&[("v", "abcdefgh ijklmno+pq rs")])
        );
        // Long dense stretches (byte steps) between long plain ones (words),
        // and a malformed escape or a `&` after each.
        let dense = "%7B%22a%22%3A1%2C%22b%22%3A%5B%5D%7D".repeat(40);
        let plain = "abcdefghij+klmnopqrstuvwxyz".repeat(20);
        for tail in ["", "%", "%4", "%zz", "&x=1"] {
            let form = format!("v={plain}{dense}{plain}{dense}{tail}");
            assert_eq!(
                decode_form(form.as_bytes()),
                decode_form_with::<false>(form.as_bytes(), usize::MAX),
                "{tail}"
            );
        }
    }

    /// Forms made of runs of plain bytes (long enough to fill words) and
    /// the bytes the decoder stops at, well-formed or not.
    fn wordy_form() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            "[a-zA-Z0-9._~-]{0,40}".prop_map(String::into_bytes),
            Just(b"+".to_vec()),
            Just(b"&".to_vec()),
            Just(b"=".to_vec()),
            Just(b"%".to_vec()),
            "%[0-9a-fA-F]{2}".prop_map(String::into_bytes),
            "%[0-9a-zA-Z%]{0,2}".prop_map(String::into_bytes),
            Just("云函数".as_bytes().to_vec()),
            proptest::collection::vec(any::<u8>(), 1..4),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    proptest::proptest! {
        #[test]
        fn prop_word_decoding_equals_byte_decoding(input in wordy_form()) {
            proptest::prop_assert_eq!(decode_form(&input), decode_form_with::<false>(&input, usize::MAX));
        }

        #[test]
        fn prop_word_decoding_equals_byte_decoding_on_any_bytes(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)
        ) {
            proptest::prop_assert_eq!(decode_form(&input), decode_form_with::<false>(&input, usize::MAX));
        }
    }

    #[test]
    fn the_parameter_cap_stops_decoding_at_the_first_parameter_past_it() {
        let many = "a&".repeat(1_000_000);
        assert_eq!(
            decode_form_limited(many.as_bytes(), 300),
            Err(DecodeError::TooManyParameters { max: 300 })
        );
        // Exactly at the cap is fine; empty segments do not count.
        let at_cap: String = (0..300).map(|i| format!("k{i}=v&&")).collect();
        assert_eq!(
            decode_form_limited(at_cap.as_bytes(), 300).unwrap().len(),
            300
        );
        let over = format!("{at_cap}x=1");
        let err = decode_form_limited(over.as_bytes(), 300).unwrap_err();
        assert_eq!(err, DecodeError::TooManyParameters { max: 300 });
        assert!(err.to_string().contains("server.max_params"), "{err}");
        // A malformed escape before the cap is still reported as such.
        assert_eq!(
            decode_form_limited(b"k=%G", 1),
            Err(DecodeError::BadPercentEncoding { key: "k".into() })
        );
    }

    #[test]
    fn decode_accounting_bounds_the_text_and_the_pairs() {
        assert_eq!(decode_bytes_needed(0, 256), DECODE_BYTES_PER_PARAM);
        assert_eq!(
            decode_bytes_needed(20 << 20, 256),
            (20 << 20) + 256 * DECODE_BYTES_PER_PARAM
        );
        // A short form cannot hold more parameters than half its bytes.
        assert_eq!(
            decode_bytes_needed(10, 256),
            10 + 6 * DECODE_BYTES_PER_PARAM
        );
    }

    proptest::proptest! {
        #[test]
        fn prop_the_cap_only_refuses_what_has_more_parameters(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            max in 0usize..12,
        ) {
            match (decode_form(&input), decode_form_limited(&input, max)) {
                (Ok(all), Ok(capped)) => {
                    proptest::prop_assert!(all.len() <= max);
                    proptest::prop_assert_eq!(all, capped);
                }
                (Ok(all), Err(e)) => {
                    proptest::prop_assert!(all.len() > max);
                    proptest::prop_assert_eq!(e, DecodeError::TooManyParameters { max });
                }
                (Err(_), Ok(_)) => proptest::prop_assert!(false, "the cap made a bad form good"),
                (Err(_), Err(_)) => {}
            }
        }
    }

    #[test]
    fn signed_key_order_reads_underscore_as_dot() {
        assert_eq!(signed_key_cmp("a_b", "a.b"), Ordering::Equal);
        // `.` (0x2E) sorts before `0` (0x30), `_` (0x5F) would sort after `Z`.
        assert_eq!(signed_key_cmp("a_", "a0"), Ordering::Less);
        assert_eq!(signed_key_cmp("Z", "a"), Ordering::Less);
    }
}
