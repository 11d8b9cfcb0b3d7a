//! Specification of `SegmentName`: which strings are names, random names, and that every valid
//! name works with `create_named`/`unlink` while every other string is a `NameError`, never a
//! panic.

mod support;

use proptest::prelude::*;
use shmring_segment::{CreateError, NameError, Segment, SegmentKind, SegmentName};
use support::UnlinkGuard;

#[test]
fn letters_digits_dash_underscore_and_dot_make_a_name() {
    let name = SegmentName::new("My-app_2.frames").unwrap();
    assert_eq!(name.as_str(), "My-app_2.frames");
    assert_eq!(name.to_string(), "My-app_2.frames");
    assert_eq!(AsRef::<str>::as_ref(&name), "My-app_2.frames");
    assert_eq!("My-app_2.frames".parse::<SegmentName>(), Ok(name));
}

#[test]
fn an_empty_string_is_not_a_name() {
    assert_eq!(SegmentName::new(""), Err(NameError::Empty));
}

#[test]
fn slashes_backslashes_spaces_nul_and_non_ascii_are_invalid_chars() {
    for (s, c) in [
        ("a/b", '/'),
        ("/abs", '/'),
        ("a\\b", '\\'),
        ("a b", ' '),
        ("a\0b", '\0'),
        ("caf\u{e9}", '\u{e9}'),
        ("Local\\x", '\\'),
    ] {
        assert_eq!(SegmentName::new(s), Err(NameError::InvalidChar(c)), "{s:?}");
    }
}

#[test]
fn a_leading_dot_is_invalid_but_inner_dots_are_fine() {
    assert_eq!(SegmentName::new("."), Err(NameError::InvalidChar('.')));
    assert_eq!(SegmentName::new(".."), Err(NameError::InvalidChar('.')));
    assert_eq!(SegmentName::new(".hidden"), Err(NameError::InvalidChar('.')));
    assert!(SegmentName::new("a..b.").is_ok());
}

#[test]
fn names_up_to_the_os_limit_are_accepted_and_longer_ones_are_too_long() {
    let max = SegmentName::MAX_LEN;
    assert!(SegmentName::new(&"a".repeat(max)).is_ok());
    assert_eq!(SegmentName::new(&"a".repeat(max + 1)), Err(NameError::TooLong { len: max + 1, max }));
}

#[test]
fn the_longest_name_works_with_the_os() {
    let name = SegmentName::random(&"x".repeat(SegmentName::MAX_LEN - SegmentName::RANDOM_SUFFIX_LEN)).unwrap();
    assert_eq!(name.as_str().len(), SegmentName::MAX_LEN);
    let _guard = UnlinkGuard(name.clone());
    let segment = Segment::create_named(&name, SegmentKind(2), 0).unwrap();
    segment.unlink().unwrap();
}

#[test]
fn a_random_name_is_the_prefix_and_16_hex_digits_and_differs_each_time() {
    let a = SegmentName::random("app-").unwrap();
    let b = SegmentName::random("app-").unwrap();
    assert_ne!(a, b);
    let suffix = a.as_str().strip_prefix("app-").unwrap();
    assert_eq!(suffix.len(), SegmentName::RANDOM_SUFFIX_LEN);
    assert!(suffix.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(SegmentName::random("").is_ok());
}

#[test]
fn a_random_name_with_a_bad_or_long_prefix_is_refused() {
    assert_eq!(SegmentName::random("a/"), Err(NameError::InvalidChar('/')));
    assert_eq!(SegmentName::random(".x"), Err(NameError::InvalidChar('.')));
    let prefix = "p".repeat(SegmentName::MAX_LEN);
    assert_eq!(
        SegmentName::random(&prefix),
        Err(NameError::TooLong {
            len: SegmentName::MAX_LEN + SegmentName::RANDOM_SUFFIX_LEN,
            max: SegmentName::MAX_LEN,
        })
    );
}

fn any_name_like_string() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[A-Za-z0-9_.-]{0,40}", "[A-Za-z0-9_./\\\\ -]{0,300}",]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_string_is_either_a_usable_name_or_a_name_error(s in any_name_like_string()) {
        match SegmentName::new(&s) {
            Ok(name) => {
                prop_assert_eq!(name.as_str(), s.as_str());
                match Segment::create_named(&name, SegmentKind(2), 0) {
                    Ok(segment) => {
                        let _guard = UnlinkGuard(name.clone());
                        segment.unlink().unwrap();
                    }
                    // Someone else on this machine holds this exact name: still a usable name.
                    Err(CreateError::AlreadyExists) => {}
                    Err(e) => prop_assert!(false, "valid name {:?} failed: {}", s, e),
                }
            }
            Err(NameError::Empty) => prop_assert!(s.is_empty()),
            Err(NameError::TooLong { len, max }) => {
                prop_assert_eq!(len, s.len());
                prop_assert!(len > max);
            }
            Err(NameError::InvalidChar(c)) => prop_assert!(s.contains(c)),
            Err(NameError::RandomUnavailable) => prop_assert!(false, "new() never needs randomness"),
        }
    }
}
