//! Specification of handle passing on Windows: side B attaches to a duplicate of the
//! creator's section handle (`share_handle` → `from_handle`), as a peer process does after
//! `DuplicateHandle`; and the spawn rendezvous, where a real child process (this test binary,
//! re-executed) pulls the handle named by `HANDLE_ENV` (`pass_to_child` → `from_parent`).
//! Type-checked on Linux with ci/cross-check.sh; runs in the GitHub workflow on Windows.
#![cfg(windows)]

mod support;

use std::time::Duration;

use shmring_channel::{Channel, ChannelError, ChannelOptions, OpenError, Priority, Side, HANDLE_ENV};

const SMALL: ChannelOptions = ChannelOptions { capacity: 64 << 10, high_capacity: 4096, critical_capacity: 4096 };
const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn a_duplicated_handle_attaches_side_b_and_both_sides_exchange_messages() {
    let mut a = Channel::create_with(&SMALL).unwrap();
    let mut b = Channel::from_handle(a.share_handle().unwrap()).expect("attach side B");
    assert_eq!(b.side(), Side::B);
    assert!(a.is_peer_attached());
    a.send(b"ping", Some(LIMIT)).unwrap();
    assert_eq!(b.recv_timeout(LIMIT).unwrap(), b"ping");
    b.try_send_with(b"urgent", Priority::Critical).unwrap();
    assert_eq!(a.recv_timeout(LIMIT).unwrap(), b"urgent");
    a.close();
    assert!(matches!(b.recv_timeout(LIMIT), Err(ChannelError::PeerClosed)));
}

#[test]
fn a_second_attach_through_another_handle_is_refused() {
    let a = Channel::create_with(&SMALL).unwrap();
    let _b = Channel::from_handle(a.share_handle().unwrap()).unwrap();
    assert!(matches!(Channel::from_handle(a.share_handle().unwrap()), Err(OpenError::AlreadyAttached)));
}

#[test]
fn a_child_started_with_the_channel_pulls_its_handle_and_echoes_until_the_close() {
    const TEST: &str = "a_child_started_with_the_channel_pulls_its_handle_and_echoes_until_the_close";
    if support::role().is_some() {
        let mut channel = Channel::from_parent().expect("from_parent in the child");
        assert_eq!(channel.side(), Side::B);
        loop {
            match channel.recv_timeout(LIMIT) {
                Ok(message) => channel.send(&message, Some(LIMIT)).unwrap(),
                Err(ChannelError::PeerClosed) => return,
                Err(e) => panic!("child: {e}"),
            }
        }
    }
    let mut channel = Channel::create_with(&SMALL).unwrap();
    let mut command = support::child_command(TEST, "echo");
    channel.pass_to_child(&mut command).unwrap();
    let child = command.spawn().expect("spawn the child");
    channel.watch_peer(child.id());
    for i in 0..1000u32 {
        channel.send(&i.to_le_bytes(), Some(LIMIT)).unwrap();
        assert_eq!(channel.recv_timeout(LIMIT).unwrap(), i.to_le_bytes());
    }
    channel.close();
    support::wait_for_success(child, LIMIT);
}

#[test]
fn a_handle_value_for_another_channel_is_refused_before_it_is_claimed() {
    let a = Channel::create_with(&SMALL).unwrap();
    let other = Channel::create_with(&SMALL).unwrap();
    // `other`'s handle with `a`'s channel id: as if the parent had closed `a` and the handle
    // value had been reused for `other` before the child attached.
    let for_a = a.handle_for_child();
    let for_other = other.handle_for_child();
    let id_of_a = for_a.rsplit(':').next().unwrap();
    let (pid_and_handle, _) = for_other.rsplit_once(':').unwrap();
    let forged = format!("{pid_and_handle}:{id_of_a}");
    assert!(matches!(Channel::from_parent_handle(&forged), Err(OpenError::Incompatible(_))));
    assert!(!other.is_peer_attached(), "the wrong channel must not be claimed");
    let b = Channel::from_parent_handle(&for_other).expect("the right id attaches");
    assert!(other.is_peer_attached());
    drop(b);
}

#[test]
fn a_malformed_or_dangling_handle_variable_is_an_error_not_a_crash() {
    // Our own pid with a small handle value: it names no section of ours (an early handle of
    // the process, or nothing), so either the duplication or the mapping refuses it.
    let not_a_section = format!("{}:4:0123456789abcdef", std::process::id());
    for value in ["", "garbage", "1:4:0123456789abcdef", not_a_section.as_str()] {
        assert!(Channel::from_parent_handle(value).is_err(), "{value:?}");
    }
    if std::env::var_os(HANDLE_ENV).is_none() {
        assert!(Channel::from_parent().is_err());
    }
}
