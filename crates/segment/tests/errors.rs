//! Specification of the error types: short lowercase messages, `std::error::Error`, and the OS
//! error kept as the source.

use std::error::Error;
use std::io;

use shmring_segment::{CreateError, NameError, OpenError};

#[test]
fn messages_are_short_and_lowercase() {
    let messages = [
        CreateError::AlreadyExists.to_string(),
        CreateError::PermissionDenied.to_string(),
        CreateError::InvalidSize(7).to_string(),
        OpenError::NotFound.to_string(),
        OpenError::PermissionDenied.to_string(),
        OpenError::NotSealed { missing: 6 }.to_string(),
        OpenError::TooSmall(3).to_string(),
        OpenError::TooLarge(3).to_string(),
        OpenError::SizeMismatch { header: 1, actual: 2 }.to_string(),
        OpenError::BadMagic(1).to_string(),
        OpenError::VersionMismatch { found: 2, expected: 1 }.to_string(),
        OpenError::KindMismatch { found: 2, expected: 1 }.to_string(),
        OpenError::NotYetInitialized.to_string(),
        OpenError::UnsupportedFileSystem(0x9584_58f6).to_string(),
        NameError::Empty.to_string(),
        NameError::TooLong { len: 40, max: 30 }.to_string(),
        NameError::InvalidChar('/').to_string(),
        NameError::RandomUnavailable.to_string(),
    ];
    for m in &messages {
        assert!(m.len() < 80, "{m}");
        assert!(m.chars().next().unwrap().is_lowercase(), "{m}");
        assert!(!m.ends_with('.'), "{m}");
    }
    assert_eq!(OpenError::NotFound.to_string(), "segment not found");
    assert_eq!(CreateError::AlreadyExists.to_string(), "segment already exists");
    assert_eq!(OpenError::NotYetInitialized.to_string(), "segment not yet initialized");
}

#[test]
fn os_errors_keep_the_io_error_as_source() {
    let e = OpenError::Os(io::Error::from_raw_os_error(22));
    assert!(e.source().is_some());
    let e = CreateError::Os(io::Error::other("boom"));
    assert_eq!(e.source().unwrap().to_string(), "boom");
    assert!(OpenError::NotFound.source().is_none());
}

#[test]
fn errors_are_send_sync_and_static() {
    fn assert_error<E: Error + Send + Sync + 'static>() {}
    assert_error::<CreateError>();
    assert_error::<OpenError>();
    assert_error::<NameError>();
}
