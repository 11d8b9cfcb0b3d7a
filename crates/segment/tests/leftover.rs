//! Specification of finding and removing named segments left behind by creators that exited
//! (`list_named`, `remove_if_creator_exited`; Linux only: no other OS can list its names).
#![cfg(target_os = "linux")]

mod support;

use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;

use shmring_segment::{
    list_named, remove_if_creator_exited, CreatorState, NamedSegmentInfo, OpenError, Segment, SegmentKind, SegmentName,
    HEADER_LEN,
};
use support::{run_child, test_name, UnlinkGuard};

const BLOB: SegmentKind = SegmentKind(2);
const NAME_ENV: &str = "SHMRING_SEGMENT_TEST_NAME";

fn listed(name: &SegmentName) -> Option<NamedSegmentInfo> {
    list_named().unwrap().into_iter().find(|info| &info.name == name)
}

#[test]
fn a_segment_whose_creator_exited_is_listed_as_exited_and_removed() {
    if support::child_role().as_deref() == Some("leftover-creator") {
        let name = SegmentName::new(&std::env::var(NAME_ENV).unwrap()).unwrap();
        let segment = Segment::create_named(&name, BLOB, 8192).unwrap();
        segment.publish();
        return; // exits without removing the name, as a crashed creator would
    }
    let name = test_name();
    let _guard = UnlinkGuard(name.clone());
    run_child(
        "a_segment_whose_creator_exited_is_listed_as_exited_and_removed",
        "leftover-creator",
        &[(NAME_ENV, name.to_string())],
        |_| {},
    );
    let info = listed(&name).expect("the left-over segment is listed");
    assert_eq!(info.creator, CreatorState::Exited);
    assert_eq!(info.len, (HEADER_LEN + 8192) as u64);
    assert_eq!(info.kind, BLOB);
    assert!(info.published);
    assert_ne!(info.creator_pid, std::process::id());

    assert!(remove_if_creator_exited(&name).unwrap());
    assert!(listed(&name).is_none());
    assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::NotFound)));
}

#[test]
fn a_segment_whose_creator_runs_is_listed_as_running_and_never_removed() {
    let name = test_name();
    let _guard = UnlinkGuard(name.clone());
    let segment = Segment::create_named(&name, BLOB, 4096).unwrap();
    let info = listed(&name).expect("listed before it is published");
    assert!(!info.published);
    segment.publish();
    let info = listed(&name).unwrap();
    assert!(info.published);
    assert_eq!(info.creator, CreatorState::Running);
    assert_eq!(info.creator_pid, std::process::id());
    assert!(!remove_if_creator_exited(&name).unwrap());
    assert!(Segment::open_named(&name, BLOB).is_ok());
}

#[test]
fn a_live_process_that_reused_the_creators_pid_does_not_keep_the_segment() {
    let name = test_name();
    let _guard = UnlinkGuard(name.clone());
    let segment = Segment::create_named(&name, BLOB, 4096).unwrap();
    segment.publish();
    // The header records our start time at offset 40; another start time under our pid is
    // what a later process with a recycled pid looks like.
    // SAFETY: the header is the `HEADER_LEN` bytes before `payload()`, mapped read-write while
    // `segment` lives; offset 40 is 8-aligned.
    let start = unsafe { &*segment.payload().as_ptr().sub(HEADER_LEN - 40).cast::<std::sync::atomic::AtomicU64>() };
    let recorded = start.load(std::sync::atomic::Ordering::Relaxed);
    assert_ne!(recorded, 0, "a named segment records its creator's start time");
    start.store(recorded + 1, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(listed(&name).unwrap().creator, CreatorState::Exited);
    assert!(remove_if_creator_exited(&name).unwrap());
    assert!(matches!(Segment::open_named(&name, BLOB), Err(OpenError::NotFound)));
}

#[test]
fn objects_that_are_not_shmring_segments_are_neither_listed_nor_removed() {
    let write = |name: &SegmentName, bytes: &[u8], mode: u32| {
        let path = std::path::Path::new("/dev/shm").join(name.as_str());
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
    };
    let garbage = test_name();
    let empty = test_name();
    let short = test_name();
    let guards = [UnlinkGuard(garbage.clone()), UnlinkGuard(empty.clone()), UnlinkGuard(short.clone())];
    write(&garbage, &[0xa5; 4096], 0o600);
    write(&empty, &[], 0o600);
    write(&short, &[0; HEADER_LEN - 1], 0o600);
    for guard in &guards {
        assert!(listed(&guard.0).is_none(), "{} is listed", guard.0);
        assert!(!remove_if_creator_exited(&guard.0).unwrap());
        assert!(std::path::Path::new("/dev/shm").join(guard.0.as_str()).exists());
    }
}

#[test]
fn removing_a_name_that_does_not_exist_is_not_found() {
    let error = remove_if_creator_exited(&test_name()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
}
