//! Specification of adopting an fd received from a peer (`Segment::from_fd`): what is accepted,
//! what is refused and with which error, and that an inherited fd works in another process.
//! The refused fds are built by hand (memfd, seals, header bytes) to play a hostile peer.
#![cfg(unix)]

mod support;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use shmring_segment::{OpenError, Segment, SegmentKind};
use support::{read_payload, run_child, write_payload};

const CHANNEL: SegmentKind = SegmentKind(1);
const BLOB: SegmentKind = SegmentKind(2);

#[test]
fn a_created_but_unpublished_segment_is_not_yet_initialized() {
    let segment = Segment::create(BLOB, 64).unwrap();
    let fd = segment.as_fd().try_clone_to_owned().unwrap();
    assert!(matches!(Segment::from_fd(fd, BLOB), Err(OpenError::NotYetInitialized)));
    segment.publish();
    let fd = segment.as_fd().try_clone_to_owned().unwrap();
    assert!(Segment::from_fd(fd, BLOB).is_ok());
}

#[test]
fn a_segment_of_another_kind_is_refused_as_kind_mismatch() {
    let segment = Segment::create(BLOB, 64).unwrap();
    segment.publish();
    let fd = segment.as_fd().try_clone_to_owned().unwrap();
    assert!(matches!(Segment::from_fd(fd, CHANNEL), Err(OpenError::KindMismatch { found: 2, expected: 1 })));
}

const FD_ENV: &str = "SHMRING_SEGMENT_TEST_FD";

#[test]
fn an_fd_inherited_by_a_child_process_maps_the_same_bytes() {
    if support::child_role().as_deref() == Some("inherit-child") {
        let raw: i32 = std::env::var(FD_ENV).unwrap().parse().unwrap();
        // SAFETY: the parent left exactly this fd open (not close-on-exec) for us, and nothing
        // else in this process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let segment = Segment::from_fd(fd, BLOB).unwrap();
        assert_eq!(read_payload(&segment, 0, 13), b"hello, child!");
        write_payload(&segment, 1000, b"hello, parent!");
        return;
    }
    let segment = Segment::create(BLOB, 4096).unwrap();
    write_payload(&segment, 0, b"hello, child!");
    segment.publish();
    // `dup` leaves FD_CLOEXEC clear, so the child inherits this copy only.
    let inheritable = nix::unistd::dup(segment.as_fd()).unwrap();
    run_child(
        "an_fd_inherited_by_a_child_process_maps_the_same_bytes",
        "inherit-child",
        &[(FD_ENV, inheritable.as_raw_fd().to_string())],
        |_| {},
    );
    drop(inheritable);
    assert_eq!(read_payload(&segment, 1000, 14), b"hello, parent!");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::Write;
    use std::os::fd::OwnedFd;

    use nix::fcntl::SealFlag;
    use shmring_segment::{OpenError, Segment, HEADER_LEN, MAX_TOTAL_LEN};

    use super::{support, BLOB};
    use support::linux::{memfd, ALL_SEALS};
    use support::RawHeader;

    fn open(fd: OwnedFd) -> Result<Segment, OpenError> {
        Segment::from_fd(fd, BLOB)
    }

    fn valid_header(payload_len: u64) -> [u8; HEADER_LEN] {
        RawHeader::valid(BLOB.0, payload_len).to_bytes()
    }

    const SEAL: u32 = 1; // F_SEAL_SEAL
    const SHRINK: u32 = 2; // F_SEAL_SHRINK
    const GROW: u32 = 4; // F_SEAL_GROW

    #[test]
    fn a_hand_built_sealed_memfd_with_a_valid_header_is_accepted() {
        let segment = open(memfd(HEADER_LEN as u64 + 100, &valid_header(100), ALL_SEALS)).unwrap();
        assert_eq!(segment.payload_len(), 100);
        assert_eq!(segment.creator_pid(), 4242);
        assert_eq!(segment.created_unix_ms(), 1_700_000_000_000);
    }

    #[test]
    fn a_memfd_without_seals_is_refused_as_not_sealed() {
        let fd = memfd(HEADER_LEN as u64 + 100, &valid_header(100), SealFlag::empty());
        assert!(matches!(open(fd), Err(OpenError::NotSealed { missing }) if missing == SEAL | SHRINK | GROW));
    }

    #[test]
    fn a_memfd_with_only_some_seals_is_refused_naming_the_missing_ones() {
        let fd = memfd(HEADER_LEN as u64 + 100, &valid_header(100), SealFlag::F_SEAL_SHRINK);
        assert!(matches!(open(fd), Err(OpenError::NotSealed { missing }) if missing == SEAL | GROW));
        let fd = memfd(HEADER_LEN as u64 + 100, &valid_header(100), SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW);
        assert!(matches!(open(fd), Err(OpenError::NotSealed { missing }) if missing == SEAL));
        let fd = memfd(HEADER_LEN as u64 + 100, &valid_header(100), SealFlag::F_SEAL_SEAL);
        assert!(matches!(open(fd), Err(OpenError::NotSealed { missing }) if missing == SHRINK | GROW));
    }

    #[test]
    fn a_regular_file_is_refused_as_not_sealed() {
        let mut file = tempfile_in_target();
        file.write_all(&valid_header(100)).unwrap();
        file.write_all(&[0u8; 100]).unwrap();
        // On tmpfs a plain file reports F_SEAL_SEAL only; elsewhere F_GET_SEALS fails: either
        // way SHRINK and GROW are missing.
        assert!(matches!(
            open(OwnedFd::from(file)),
            Err(OpenError::NotSealed { missing }) if missing & (SHRINK | GROW) == SHRINK | GROW
        ));
    }

    fn tempfile_in_target() -> std::fs::File {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("shmring-segment-spec-{}", support::test_name()));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn a_pipe_is_refused_as_not_sealed() {
        let (read, _write) = nix::unistd::pipe().unwrap();
        assert!(matches!(open(read), Err(OpenError::NotSealed { missing }) if missing == SEAL | SHRINK | GROW));
    }

    #[test]
    fn a_sealed_memfd_smaller_than_the_header_is_too_small() {
        assert!(matches!(open(memfd(64, &valid_header(0), ALL_SEALS)), Err(OpenError::TooSmall(64))));
        assert!(matches!(open(memfd(0, &[], ALL_SEALS)), Err(OpenError::TooSmall(0))));
        assert!(matches!(
            open(memfd(HEADER_LEN as u64 - 1, &valid_header(0), ALL_SEALS)),
            Err(OpenError::TooSmall(127))
        ));
    }

    #[test]
    fn a_sealed_memfd_larger_than_the_limit_is_too_large_and_never_mapped() {
        let size = MAX_TOTAL_LEN + 1;
        // Sparse: no memory is used. Mapping 1 TiB would be refused anyway; we must not try.
        let fd = memfd(size, &valid_header(size - HEADER_LEN as u64), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::TooLarge(n)) if n == size));
    }

    #[test]
    fn a_truncated_memfd_is_refused_as_size_mismatch() {
        // The header promises 4096 payload bytes but the (sealed) object is shorter: mapping
        // by the header would fault with SIGBUS.
        let fd = memfd(HEADER_LEN as u64 + 1000, &valid_header(4096), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::SizeMismatch { header: 4224, actual: 1128 })));
    }

    #[test]
    fn a_memfd_longer_than_its_header_says_is_refused_as_size_mismatch() {
        let fd = memfd(HEADER_LEN as u64 + 8192, &valid_header(100), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::SizeMismatch { header: 228, actual: 8320 })));
    }

    #[test]
    fn a_header_with_a_small_total_len_is_refused_as_size_mismatch() {
        let mut header = RawHeader::valid(BLOB.0, 0);
        header.total_len = 0;
        let fd = memfd(HEADER_LEN as u64, &header.to_bytes(), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::SizeMismatch { header: 0, actual: 128 })));
    }

    #[test]
    fn a_wrong_magic_is_refused_as_bad_magic() {
        let mut header = RawHeader::valid(BLOB.0, 100);
        header.magic = u64::from_le_bytes(*b"NOTSHMRG");
        let fd = memfd(HEADER_LEN as u64 + 100, &header.to_bytes(), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::BadMagic(m)) if m == u64::from_le_bytes(*b"NOTSHMRG")));
    }

    #[test]
    fn a_zero_magic_is_not_yet_initialized() {
        let mut header = RawHeader::valid(BLOB.0, 100);
        header.magic = 0;
        let fd = memfd(HEADER_LEN as u64 + 100, &header.to_bytes(), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::NotYetInitialized)));
    }

    #[test]
    fn another_layout_version_is_refused_as_version_mismatch() {
        let mut header = RawHeader::valid(BLOB.0, 100);
        header.layout_version = 2;
        let fd = memfd(HEADER_LEN as u64 + 100, &header.to_bytes(), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::VersionMismatch { found: 2, expected: 1 })));
    }

    #[test]
    fn another_header_len_is_refused_as_size_mismatch() {
        let mut header = RawHeader::valid(BLOB.0, 100);
        header.header_len = 64;
        let fd = memfd(HEADER_LEN as u64 + 100, &header.to_bytes(), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::SizeMismatch { header: 64, actual: 128 })));
    }

    #[test]
    fn another_kind_is_refused_as_kind_mismatch() {
        let fd = memfd(HEADER_LEN as u64 + 100, &RawHeader::valid(7, 100).to_bytes(), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::KindMismatch { found: 7, expected: 2 })));
    }

    #[test]
    fn a_sealed_hugetlb_memfd_is_refused_as_unsupported_file_system() {
        use nix::fcntl::{fcntl, FcntlArg};
        use nix::sys::memfd::{memfd_create, MFdFlags};

        // hugetlbfs pages come from a fixed pool: a sender can punch holes or drain the pool,
        // and our next touch faults with SIGBUS although the fd is sealed.
        let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING | MFdFlags::MFD_HUGETLB;
        let fd = match memfd_create(c"spec-huge", flags) {
            Ok(fd) => fd,
            Err(e) => {
                println!("skipped: this kernel cannot create a hugetlb memfd ({e})");
                return;
            }
        };
        // One 2 MiB huge page; sizing reserves nothing, so this works with an empty pool too.
        if let Err(e) = nix::unistd::ftruncate(&fd, 2 << 20) {
            println!("skipped: cannot size a hugetlb memfd ({e})");
            return;
        }
        if let Err(e) = fcntl(&fd, FcntlArg::F_ADD_SEALS(ALL_SEALS)) {
            println!("skipped: cannot seal a hugetlb memfd ({e})");
            return;
        }
        const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;
        assert!(matches!(open(fd), Err(OpenError::UnsupportedFileSystem(HUGETLBFS_MAGIC))));
    }

    #[test]
    fn seals_are_checked_before_the_header() {
        // Not sealed *and* a bad magic: the seal check comes first.
        let mut header = RawHeader::valid(BLOB.0, 100);
        header.magic = 1;
        let fd = memfd(HEADER_LEN as u64 + 100, &header.to_bytes(), SealFlag::empty());
        assert!(matches!(open(fd), Err(OpenError::NotSealed { .. })));
    }

    #[test]
    fn the_magic_is_checked_before_the_version_and_the_version_before_the_kind() {
        let mut header = RawHeader::valid(9, 100);
        header.layout_version = 3;
        let fd = memfd(HEADER_LEN as u64 + 100, &header.to_bytes(), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::VersionMismatch { .. })));
        header.magic = 5;
        let fd = memfd(HEADER_LEN as u64 + 100, &header.to_bytes(), ALL_SEALS);
        assert!(matches!(open(fd), Err(OpenError::BadMagic(5))));
    }
}
