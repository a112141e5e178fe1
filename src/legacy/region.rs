//! Legacy `Region` values → SCF 3.0 region names (docs/protocol.md, "Regions"):
//! the documented short codes (`gz` → `ap-guangzhou`, …) are mapped; long
//! names (`ap-guangzhou`, `ap-shanghai-fsi`) pass through unchanged.
//!
//! Matching is exact and case-sensitive (`GZ` is not `gz`): no source shows
//! the legacy service folding case, and the value is signed as sent anyway.

use std::borrow::Cow;

use super::{clip, Shown};

/// Every documented legacy short code and its 3.0 region, in the order of
/// docs/protocol.md, "Regions".
pub const SHORT_CODES: &[(&str, &str)] = &[
    ("gz", "ap-guangzhou"),
    ("sh", "ap-shanghai"),
    ("bj", "ap-beijing"),
    ("hk", "ap-hongkong"),
    ("ca", "na-toronto"),
    ("cd", "ap-chengdu"),
    ("cq", "ap-chongqing"),
    ("sg", "ap-singapore"),
    ("th", "ap-bangkok"),
    ("kr", "ap-seoul"),
    ("jp", "ap-tokyo"),
    ("de", "eu-frankfurt"),
    ("in", "ap-mumbai"),
    ("usw", "na-siliconvalley"),
    ("use", "na-ashburn"),
    ("shjr", "ap-shanghai-fsi"),
    ("szjr", "ap-shenzhen-fsi"),
];

/// Longest long name accepted as a pass-through.
pub const LONG_NAME_MAX_LEN: usize = 32;

/// Characters of an unknown value kept in the error.
const SHOWN_MAX_CHARS: usize = 32;

/// A `Region` that is neither a short code nor shaped like a long name.
/// Holds the value cut to 32 characters (a region is not a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown region `{}`: expected a short code such as `gz` or a region name such as `ap-guangzhou`", Shown(.value))]
pub struct UnknownRegion {
    pub value: String,
}

/// Maps a short code to its 3.0 region (borrowed, static); passes a long
/// name through (borrowed from `value`). A long name is two lower-case
/// letters, then one or two `-`-separated parts of lower-case letters and
/// digits (`xx-yyyy[-zzz]`), 32 bytes at most. Anything else is
/// [`UnknownRegion`], the empty string included.
pub fn resolve_region(value: &str) -> Result<Cow<'_, str>, UnknownRegion> {
    if let Some((_, long)) = SHORT_CODES.iter().find(|(short, _)| *short == value) {
        return Ok(Cow::Borrowed(long));
    }
    if is_long_name(value) {
        return Ok(Cow::Borrowed(value));
    }
    Err(UnknownRegion {
        value: clip(value, SHOWN_MAX_CHARS),
    })
}

fn is_long_name(value: &str) -> bool {
    if value.len() > LONG_NAME_MAX_LEN {
        return false;
    }
    let mut parts = value.split('-');
    let area_ok = parts
        .next()
        .is_some_and(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    area_ok
        && (1..=2).contains(&rest.len())
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(v: &str) -> String {
        resolve_region(v).unwrap().into_owned()
    }

    #[test]
    fn gz_is_guangzhou() {
        assert_eq!(resolved("gz"), "ap-guangzhou");
    }
    #[test]
    fn sh_is_shanghai() {
        assert_eq!(resolved("sh"), "ap-shanghai");
    }
    #[test]
    fn bj_is_beijing() {
        assert_eq!(resolved("bj"), "ap-beijing");
    }
    #[test]
    fn hk_is_hongkong() {
        assert_eq!(resolved("hk"), "ap-hongkong");
    }
    #[test]
    fn ca_is_toronto() {
        assert_eq!(resolved("ca"), "na-toronto");
    }
    #[test]
    fn cd_is_chengdu() {
        assert_eq!(resolved("cd"), "ap-chengdu");
    }
    #[test]
    fn cq_is_chongqing() {
        assert_eq!(resolved("cq"), "ap-chongqing");
    }
    #[test]
    fn sg_is_singapore() {
        assert_eq!(resolved("sg"), "ap-singapore");
    }
    #[test]
    fn th_is_bangkok() {
        assert_eq!(resolved("th"), "ap-bangkok");
    }
    #[test]
    fn kr_is_seoul() {
        assert_eq!(resolved("kr"), "ap-seoul");
    }
    #[test]
    fn jp_is_tokyo() {
        assert_eq!(resolved("jp"), "ap-tokyo");
    }
    #[test]
    fn de_is_frankfurt() {
        assert_eq!(resolved("de"), "eu-frankfurt");
    }
    #[test]
    fn in_is_mumbai() {
        assert_eq!(resolved("in"), "ap-mumbai");
    }
    #[test]
    fn usw_is_siliconvalley() {
        assert_eq!(resolved("usw"), "na-siliconvalley");
    }
    #[test]
    fn use_is_ashburn() {
        assert_eq!(resolved("use"), "na-ashburn");
    }
    #[test]
    fn shjr_is_shanghai_fsi() {
        assert_eq!(resolved("shjr"), "ap-shanghai-fsi");
    }
    #[test]
    fn szjr_is_shenzhen_fsi() {
        assert_eq!(resolved("szjr"), "ap-shenzhen-fsi");
    }

    #[test]
    fn table_has_every_documented_short_code_once() {
        assert_eq!(SHORT_CODES.len(), 17);
        for (i, (short, long)) in SHORT_CODES.iter().enumerate() {
            assert!(SHORT_CODES[i + 1..].iter().all(|(s, _)| s != short));
            assert!(is_long_name(long), "{long}");
        }
    }

    #[test]
    fn long_names_pass_through_unchanged_and_borrowed() {
        for long in [
            "ap-guangzhou",
            "ap-shanghai-fsi",
            "na-siliconvalley",
            "eu-moscow",
            "sa-saopaulo",
            "ap-guangzhou-2",
        ] {
            let got = resolve_region(long).unwrap();
            assert!(matches!(got, Cow::Borrowed(b) if b == long), "{long}");
        }
    }

    #[test]
    fn short_codes_are_case_sensitive() {
        assert!(resolve_region("GZ").is_err());
        assert!(resolve_region("Gz").is_err());
    }

    #[test]
    fn other_shapes_are_rejected() {
        for bad in [
            "",
            "guangzhou",
            "xx",
            "AP-GUANGZHOU",
            "ap-",
            "-guangzhou",
            "ap--guangzhou",
            "ap-guangzhou-",
            "apx-guangzhou",
            "a-guangzhou",
            "ap-guang zhou",
            "ap-guangzhou-fsi-x",
            "ap_guangzhou",
            " gz",
            "gz ",
            "ap-广州",
        ] {
            assert!(resolve_region(bad).is_err(), "{bad:?}");
        }
        assert!(resolve_region(&format!("ap-{}", "a".repeat(30))).is_err());
    }

    #[test]
    fn unknown_region_names_the_value_cut_and_escaped() {
        let err = resolve_region("mars\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown region `mars\\n`: expected a short code such as `gz` or a region name such as `ap-guangzhou`"
        );
        let long = "x".repeat(500);
        let err = resolve_region(&long).unwrap_err();
        assert_eq!(err.value, format!("{}…", "x".repeat(32)));
    }
}
