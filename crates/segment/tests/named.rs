//! Specification of named segments: exclusive creation, opening from another process,
//! not-found, unlinking, and (Unix) refusing names squatted or tampered with by hand.

mod support;

use shmring_segment::{CreateError, OpenError, Segment, SegmentKind, SegmentName};
use support::{read_payload, run_child, test_name, write_payload, UnlinkGuard};

const BLOB: SegmentKind = SegmentKind(2);
const NAME_ENV: &str = "SHMRING_SEGMENT_TEST_NAME";

#[test]
fn a_named_segment_is_opened_by_another_process_which_sees_the_bytes_written() {
    if support::child_role().as_deref() == Some("named-child") {
        let name = SegmentName::new(&std::env::var(NAME_ENV).unwrap()).unwrap();
        let segment = Segment::open_named(&name, BLOB).unwrap();
        assert_eq!(segment.payload_len(), 4096);
        assert_eq!(segment.name(), Some(&name));
        assert_ne!(segment.creator_pid(), std::process::id());
        assert_eq!(read_payload(&segment, 0, 11), b"from parent");
        write_payload(&segment, 4096 - 10, b"from child");
        return;
    }
    let name = test_name();
    let _guard = UnlinkGuard(name.clone());
    let segment = Segment::create_named(&name, BLOB, 4096).unwrap();
    assert_eq!(segment.name(), Some(&name));
    write_payload(&segment, 0, b"from parent");
    segment.publish();
    run_child(
        "a_named_segment_is_opened_by_another_process_which_sees_the_bytes_written",
        "named-child",
        &[(NAME_ENV, name.to_string())],
        |_| {},
    );
    assert_eq!(read_payload(&segment, 4096 - 10, 10), b"from child");
    segment.unlink().unwrap();
}

#[test]
fn creating_an_existing_name_is_already_exists_and_leaves_it_untouched() {
    let name = test_name();
    let _guard = UnlinkGuard(name.clone());
    let first = Segment::create_named(&name, BLOB, 64).unwrap();
    write_payload(&first, 0, b"original");
    first.publish();

    assert!(matches!(Segment::create_named(&name, BLOB, 4096), Err(CreateError::AlreadyExists)));
    assert!(matches!(Segment::create_named(&name, SegmentKind(1), 64), Err(CreateError::AlreadyExists)));

    let reopened = Segment::open_named(&name, BLOB).unwrap();
    assert_eq!(reopened.payload_len(), 64, "the size was not changed");
    assert_eq!(read_payload(&reopened, 0, 8), b"original", "the bytes were not changed");
    first.unlink().unwrap();
}

#[test]
fn opening_a_missing_name_is_not_found() {
    let name = test_name();
    assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::NotFound)));
}

#[test]
fn opening_before_publish_is_not_yet_initialized_and_succeeds_after() {
    let name = test_name();
    let _guard = UnlinkGuard(name.clone());
    let segment = Segment::create_named(&name, BLOB, 64).unwrap();
    assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::NotYetInitialized)));
    segment.publish();
    Segment::open_named(&name, BLOB).unwrap();
    segment.unlink().unwrap();
}

#[test]
fn opening_with_another_kind_is_kind_mismatch() {
    let name = test_name();
    let _guard = UnlinkGuard(name.clone());
    let segment = Segment::create_named(&name, BLOB, 64).unwrap();
    segment.publish();
    assert!(matches!(
        Segment::open_named(&name, SegmentKind(1)),
        Err(OpenError::KindMismatch { found: 2, expected: 1 })
    ));
    segment.unlink().unwrap();
}

#[cfg(unix)]
mod unix {
    use shmring_segment::{OpenError, Segment, HEADER_LEN};

    use super::{read_payload, test_name, write_payload, UnlinkGuard, BLOB};
    use crate::support::unix::squat;
    use crate::support::RawHeader;

    #[test]
    fn unlink_removes_the_name_but_mappings_stay_valid() {
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        let segment = Segment::create_named(&name, BLOB, 64).unwrap();
        segment.publish();
        let opened = Segment::open_named(&name, BLOB).unwrap();
        segment.unlink().unwrap();
        assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::NotFound)));
        assert_eq!(segment.unlink().unwrap_err().kind(), std::io::ErrorKind::NotFound, "a second unlink finds nothing");
        write_payload(&segment, 0, b"still shared");
        assert_eq!(read_payload(&opened, 0, 12), b"still shared");
        // The name is free again and can be created anew.
        let again = Segment::create_named(&name, BLOB, 64).unwrap();
        again.unlink().unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn every_page_of_a_named_object_is_allocated_at_creation() {
        use std::os::fd::AsFd;
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        let payload_len = 1 << 20;
        let segment = Segment::create_named(&name, BLOB, payload_len).unwrap();
        let stat = nix::sys::stat::fstat(segment.as_fd()).unwrap();
        // A sparse file in /dev/shm would hold only the header page: touching the rest when
        // /dev/shm is full would kill us with SIGBUS instead of failing here.
        assert!(stat.st_blocks as u64 * 512 >= (HEADER_LEN + payload_len) as u64);
        segment.unlink().unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_named_segment_larger_than_dev_shm_fails_at_creation_with_no_space_and_leaves_no_name() {
        let shm = nix::sys::statvfs::statvfs("/dev/shm").unwrap();
        let capacity = shm.blocks() as u64 * shm.fragment_size() as u64;
        let payload_len = capacity + (1 << 20);
        if capacity == 0 || payload_len + HEADER_LEN as u64 > shmring_segment::MAX_TOTAL_LEN {
            println!("skipped: /dev/shm has {capacity} bytes, no size we may request exceeds it");
            return;
        }
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        // tmpfs refuses an allocation larger than the whole file system at once (no partial
        // fill that could disturb other users of /dev/shm).
        match Segment::create_named(&name, BLOB, payload_len as usize) {
            Err(shmring_segment::CreateError::Os(e)) => assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}"),
            other => panic!("expected ENOSPC, got {other:?}"),
        }
        assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::NotFound)));
    }

    #[test]
    fn the_object_is_created_with_mode_0600() {
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        let segment = Segment::create_named(&name, BLOB, 64).unwrap();
        use std::os::fd::AsFd;
        let stat = nix::sys::stat::fstat(segment.as_fd()).unwrap();
        assert_eq!(stat.st_mode & 0o777, 0o600);
        segment.unlink().unwrap();
    }

    #[test]
    fn a_name_squatted_with_mode_0644_is_permission_denied() {
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        let size = HEADER_LEN + 64;
        let _fd = squat(&name, 0o644, size, &RawHeader::valid(BLOB.0, 64).to_bytes());
        assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::PermissionDenied)));
    }

    #[test]
    fn a_name_owned_by_another_user_is_permission_denied() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: only root can give an object to another user");
            return;
        }
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        let fd = squat(&name, 0o600, HEADER_LEN + 64, &RawHeader::valid(BLOB.0, 64).to_bytes());
        let nobody = nix::unistd::Uid::from_raw(65534);
        if nix::unistd::fchown(&fd, Some(nobody), None).is_err() {
            eprintln!("skipped: this OS cannot chown a shm object");
            return;
        }
        // Root may open anything, so only the owner check can refuse it.
        assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::PermissionDenied)));
    }

    #[test]
    fn a_name_squatted_with_a_bad_magic_is_bad_magic() {
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        let mut header = RawHeader::valid(BLOB.0, 64);
        header.magic = 0xdead_beef;
        let _fd = squat(&name, 0o600, HEADER_LEN + 64, &header.to_bytes());
        assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::BadMagic(0xdead_beef))));
    }

    #[test]
    fn a_name_squatted_with_the_wrong_size_is_size_mismatch() {
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        // The header claims 64 payload bytes; the object is 64 KiB (beyond any page rounding).
        let _fd = squat(&name, 0o600, 64 * 1024, &RawHeader::valid(BLOB.0, 64).to_bytes());
        assert!(matches!(
            Segment::open_named(&name, BLOB),
            Err(OpenError::SizeMismatch { header: 192, actual: 65536 })
        ));
    }

    #[test]
    fn a_name_squatted_with_a_tiny_object_is_too_small() {
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        let _fd = squat(&name, 0o600, 64, &[]);
        #[cfg(target_os = "linux")]
        assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::TooSmall(64))));
        // macOS rounds the object up to a page, so it is a header of zeros instead.
        #[cfg(not(target_os = "linux"))]
        assert!(Segment::open_named(&name, BLOB).is_err());
    }

    #[test]
    fn a_name_created_but_not_yet_sized_is_not_yet_initialized() {
        let name = test_name();
        let _guard = UnlinkGuard(name.clone());
        let _fd = squat(&name, 0o600, 0, &[]);
        assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::NotYetInitialized)));
    }
}
