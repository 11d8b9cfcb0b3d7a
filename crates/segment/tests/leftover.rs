//! Specification of finding and removing named segments left behind by creators that exited
//! (`list_named`, `remove_if_creator_exited`; Linux only: no other OS can list its names).
#![cfg(target_os = "linux")]

mod support;

use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;

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
fn examiners_looking_at_once_all_see_an_abandoned_segment_as_exited() {
    if support::child_role().as_deref() == Some("leftover-creator") {
        let name = SegmentName::new(&std::env::var(NAME_ENV).unwrap()).unwrap();
        Segment::create_named(&name, BLOB, 4096).unwrap().publish();
        return;
    }
    let name = test_name();
    let _guard = UnlinkGuard(name.clone());
    run_child(
        "examiners_looking_at_once_all_see_an_abandoned_segment_as_exited",
        "leftover-creator",
        &[(NAME_ENV, name.to_string())],
        |_| {},
    );
    // Each look locks the object exclusively for a moment; a look that meets another one's
    // lock must not take it for a live creator's.
    let states: Vec<CreatorState> = std::thread::scope(|scope| {
        let lookers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| (0..200).map(|_| listed(&name).expect("listed").creator).collect::<Vec<_>>()))
            .collect();
        lookers.into_iter().flat_map(|looker| looker.join().unwrap()).collect()
    });
    let not_exited: Vec<_> = states.iter().filter(|&&state| state != CreatorState::Exited).collect();
    assert!(not_exited.is_empty(), "{} of {} looks said {:?}", not_exited.len(), states.len(), not_exited.first());
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
fn a_segment_stays_in_use_while_a_process_the_creator_forked_holds_it() {
    if support::child_role().as_deref() == Some("forking-creator") {
        use std::os::fd::{AsFd, AsRawFd};
        use std::os::unix::process::CommandExt;
        let name = SegmentName::new(&std::env::var(NAME_ENV).unwrap()).unwrap();
        let segment = Segment::create_named(&name, BLOB, 4096).unwrap();
        segment.publish();
        let fd = segment.as_fd().as_raw_fd();
        let mut command = std::process::Command::new("sleep");
        // Not our stdout: the parent reads that pipe to its end.
        command.arg("30").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        // SAFETY: the closure only calls `fcntl`, which is async-signal-safe, on an fd that
        // stays open in the forked child until it execs.
        unsafe {
            command.pre_exec(move || match libc::fcntl(fd, libc::F_SETFD, 0) {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            });
        }
        // Deliberately not waited for: it must outlive this process (the parent kills it).
        #[allow(clippy::zombie_processes)]
        let grandchild = command.spawn().unwrap();
        println!("grandchild={}", grandchild.id());
        return; // exits; the grandchild keeps the fd, and with it the creator's lock
    }
    let name = test_name();
    let _guard = UnlinkGuard(name.clone());
    let output = run_child(
        "a_segment_stays_in_use_while_a_process_the_creator_forked_holds_it",
        "forking-creator",
        &[(NAME_ENV, name.to_string())],
        |_| {},
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let grandchild: i32 =
        stdout.split("grandchild=").nth(1).and_then(|s| s.split_whitespace().next()).unwrap().parse().unwrap();
    let kill_grandchild = || {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(grandchild), nix::sys::signal::Signal::SIGKILL);
    };
    let info = listed(&name).unwrap();
    let in_use = info.creator == CreatorState::Running && !remove_if_creator_exited(&name).unwrap();
    kill_grandchild();
    assert!(in_use, "the creator exited but a process it forked holds the segment: {info:?}");
    // The grandchild is not ours to reap; its fds close when it dies.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while listed(&name).unwrap().creator != CreatorState::Exited {
        assert!(std::time::Instant::now() < deadline, "the lock outlived the last process holding the segment");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(remove_if_creator_exited(&name).unwrap());
}

/// A hand-made segment file (no creator lock) whose header names `creator_pid`.
fn forged(creator_pid: u32) -> (SegmentName, UnlinkGuard) {
    let name = test_name();
    let guard = UnlinkGuard(name.clone());
    let mut header = support::RawHeader::valid(BLOB.0, 4096);
    header.creator_pid = creator_pid;
    let mut bytes = header.to_bytes().to_vec();
    bytes.resize(HEADER_LEN + 4096, 0);
    write_shm(&name, &bytes, 0o600);
    (name, guard)
}

fn write_shm(name: &SegmentName, bytes: &[u8], mode: u32) {
    let path = std::path::Path::new("/dev/shm").join(name.as_str());
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).unwrap();
    std::io::Write::write_all(&mut file, bytes).unwrap();
}

#[test]
fn an_unlocked_segment_is_left_over_only_if_its_creator_pid_is_gone() {
    let (alive, _alive_guard) = forged(std::process::id());
    assert_eq!(listed(&alive).unwrap().creator, CreatorState::Unknown, "a live pid without the lock is kept");
    assert!(!remove_if_creator_exited(&alive).unwrap());

    let mut exited = std::process::Command::new("true").spawn().unwrap();
    exited.wait().unwrap();
    let (gone, _gone_guard) = forged(exited.id());
    assert_eq!(listed(&gone).unwrap().creator, CreatorState::Exited);
    assert!(remove_if_creator_exited(&gone).unwrap());
    assert!(listed(&gone).is_none());

    let (nobody, _nobody_guard) = forged(0);
    assert_eq!(listed(&nobody).unwrap().creator, CreatorState::Unknown, "pid 0 is no process");
}

#[test]
fn objects_that_are_not_shmring_segments_of_ours_are_neither_listed_nor_removed() {
    let (garbage, empty, short, shared) = (test_name(), test_name(), test_name(), test_name());
    let (fifo, link, dir) = (test_name(), test_name(), test_name());
    let guards: Vec<UnlinkGuard> =
        [&garbage, &empty, &short, &shared, &fifo, &link, &dir].into_iter().map(|n| UnlinkGuard(n.clone())).collect();
    write_shm(&garbage, &[0xa5; 4096], 0o600);
    write_shm(&empty, &[], 0o600);
    write_shm(&short, &[0; HEADER_LEN - 1], 0o600);
    // A valid header, but open to others: not ours alone, so never touched.
    let mut bytes = support::RawHeader::valid(BLOB.0, 0).to_bytes().to_vec();
    bytes[28..32].copy_from_slice(&0u32.to_le_bytes());
    write_shm(&shared, &bytes, 0o644);
    let shm = std::path::Path::new("/dev/shm");
    nix::unistd::mkfifo(&shm.join(fifo.as_str()), nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR)
        .unwrap();
    std::os::unix::fs::symlink(shm.join(garbage.as_str()), shm.join(link.as_str())).unwrap();
    std::fs::create_dir(shm.join(dir.as_str())).unwrap();
    for guard in &guards {
        assert!(listed(&guard.0).is_none(), "{} is listed", guard.0);
        assert!(!remove_if_creator_exited(&guard.0).unwrap(), "{} was removed", guard.0);
        assert!(std::fs::symlink_metadata(shm.join(guard.0.as_str())).is_ok());
    }
    std::fs::remove_dir(shm.join(dir.as_str())).unwrap();
    std::fs::remove_file(shm.join(fifo.as_str())).unwrap();
}

#[test]
fn removing_a_name_that_does_not_exist_is_not_found() {
    let error = remove_if_creator_exited(&test_name()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
}
