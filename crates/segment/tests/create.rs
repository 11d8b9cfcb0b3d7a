//! Specification of creating an anonymous segment: its size, its payload, its header and
//! (Linux) its seals.

mod support;

use shmring_segment::{CreateError, Segment, SegmentKind, HEADER_LEN, LAYOUT_VERSION, MAGIC, MAX_TOTAL_LEN};
use support::{header_bytes, read_payload, write_payload};

const BLOB: SegmentKind = SegmentKind(2);

#[test]
fn a_new_segment_has_the_requested_payload_length_after_a_128_byte_header() {
    let segment = Segment::create(BLOB, 1000).unwrap();
    assert_eq!(segment.payload_len(), 1000);
    assert_eq!(segment.len(), HEADER_LEN + 1000);
    assert_eq!(segment.kind(), BLOB);
}

#[test]
fn the_payload_is_aligned_to_128_bytes() {
    let segment = Segment::create(BLOB, 64).unwrap();
    assert_eq!(segment.payload().as_ptr() as usize % 128, 0);
}

#[test]
fn the_payload_is_zeroed_and_writable_to_its_last_byte() {
    let segment = Segment::create(BLOB, 8192).unwrap();
    assert!(read_payload(&segment, 0, 8192).iter().all(|&b| b == 0));
    write_payload(&segment, 0, b"first");
    write_payload(&segment, 8192 - 4, b"last");
    assert_eq!(read_payload(&segment, 0, 5), b"first");
    assert_eq!(read_payload(&segment, 8188, 4), b"last");
}

#[test]
fn a_zero_length_payload_is_allowed() {
    let segment = Segment::create(BLOB, 0).unwrap();
    assert_eq!(segment.len(), HEADER_LEN);
    assert_eq!(segment.payload_len(), 0);
}

#[test]
fn the_header_records_version_kind_lengths_and_creator_but_no_magic_until_published() {
    let segment = Segment::create(SegmentKind(0xabcd), 300).unwrap();
    let h = header_bytes(&segment);
    let u32_at = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().unwrap());
    assert_eq!(u64_at(0), 0, "magic is written last, by publish()");
    assert_eq!(u32_at(8), LAYOUT_VERSION);
    assert_eq!(u32_at(12), 0xabcd);
    assert_eq!(u64_at(16), (HEADER_LEN + 300) as u64);
    assert_eq!(u32_at(24), HEADER_LEN as u32);
    assert_eq!(u32_at(28), std::process::id());
    assert!(u64_at(32) > 1_600_000_000_000, "created_unix_ms is a recent time");
    assert!(h[40..].iter().all(|&b| b == 0), "reserved bytes are zero");
    assert_eq!(segment.creator_pid(), std::process::id());
    assert_eq!(segment.created_unix_ms(), u64_at(32));
}

#[test]
fn publish_stores_the_magic() {
    let segment = Segment::create(BLOB, 16).unwrap();
    segment.publish();
    let h = header_bytes(&segment);
    assert_eq!(&h[0..8], b"SHMRING\x01");
    assert_eq!(u64::from_le_bytes(h[0..8].try_into().unwrap()), MAGIC);
}

#[test]
fn an_anonymous_segment_has_no_name_and_unlink_is_a_no_op() {
    let segment = Segment::create(BLOB, 16).unwrap();
    assert_eq!(segment.name(), None);
    segment.unlink().unwrap();
}

#[test]
fn a_payload_too_large_for_the_limit_is_invalid_size() {
    assert!(matches!(Segment::create(BLOB, usize::MAX), Err(CreateError::InvalidSize(usize::MAX))));
    if let Ok(over) = usize::try_from(MAX_TOTAL_LEN - HEADER_LEN as u64 + 1) {
        assert!(matches!(
            Segment::create(BLOB, over),
            Err(CreateError::InvalidSize(n)) if n == over
        ));
    }
}

#[test]
fn segments_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Segment>();
}

#[test]
fn a_segment_can_be_published_from_another_thread() {
    let segment = Segment::create(BLOB, 16).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| segment.publish());
    });
    assert_eq!(&header_bytes(&segment)[0..8], b"SHMRING\x01");
}

#[cfg(unix)]
#[test]
fn a_second_mapping_of_the_same_fd_shares_the_bytes_both_ways() {
    use std::os::fd::AsFd;

    let segment = Segment::create(BLOB, 4096).unwrap();
    write_payload(&segment, 100, b"from creator");
    segment.publish();
    let fd = segment.as_fd().try_clone_to_owned().unwrap();
    let other = Segment::from_fd(fd, BLOB).unwrap();
    assert_eq!(other.len(), segment.len());
    assert_eq!(other.creator_pid(), std::process::id());
    assert_eq!(read_payload(&other, 100, 12), b"from creator");
    write_payload(&other, 2000, b"from opener");
    assert_eq!(read_payload(&segment, 2000, 11), b"from opener");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::AsFd;

    use nix::errno::Errno;
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, SealFlag};
    use nix::unistd::ftruncate;
    use shmring_segment::{Segment, HEADER_LEN};

    use super::BLOB;

    #[test]
    fn the_fd_carries_the_shrink_grow_and_seal_seals() {
        let segment = Segment::create(BLOB, 64).unwrap();
        let seals = SealFlag::from_bits_retain(fcntl(segment.as_fd(), FcntlArg::F_GET_SEALS).unwrap());
        assert!(seals.contains(SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL));
        assert!(!seals.contains(SealFlag::F_SEAL_WRITE), "both sides must still write");
    }

    #[test]
    fn the_seals_are_real_ftruncate_on_our_own_fd_fails() {
        let segment = Segment::create(BLOB, 4096).unwrap();
        let len = segment.len() as i64;
        assert_eq!(ftruncate(segment.as_fd(), len - 1), Err(Errno::EPERM));
        assert_eq!(ftruncate(segment.as_fd(), 0), Err(Errno::EPERM));
        assert_eq!(ftruncate(segment.as_fd(), len + 4096), Err(Errno::EPERM));
        assert_eq!(
            fcntl(segment.as_fd(), FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_WRITE)),
            Err(Errno::EPERM),
            "F_SEAL_SEAL forbids adding seals",
        );
        assert_eq!(nix::sys::stat::fstat(segment.as_fd()).unwrap().st_size, HEADER_LEN as i64 + 4096);
    }

    #[test]
    fn every_page_of_the_memfd_is_allocated_at_creation_so_a_full_memory_fails_there_not_with_sigbus_later() {
        let payload_len = 1 << 20;
        let segment = Segment::create(BLOB, payload_len).unwrap();
        let stat = nix::sys::stat::fstat(segment.as_fd()).unwrap();
        // `st_blocks` counts 512-byte units actually allocated; a sparse memfd would hold only
        // the header page written so far.
        assert!(
            stat.st_blocks as u64 * 512 >= (HEADER_LEN + payload_len) as u64,
            "{} bytes allocated of {}",
            stat.st_blocks * 512,
            HEADER_LEN + payload_len,
        );
    }

    #[test]
    fn the_fd_is_close_on_exec() {
        let segment = Segment::create(BLOB, 64).unwrap();
        let flags = FdFlag::from_bits_retain(fcntl(segment.as_fd(), FcntlArg::F_GETFD).unwrap());
        assert!(flags.contains(FdFlag::FD_CLOEXEC));
    }
}
