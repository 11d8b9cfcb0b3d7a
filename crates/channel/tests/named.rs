//! Specification of the named rendezvous between two processes, on every OS: the parent
//! creates a channel under a name, a child (this test binary, re-executed) finds it with
//! `Channel::open_named`. On Windows this is the only rendezvous, so these are the tests that
//! exercise its backends (file mapping, Event objects, `OpenProcess` liveness) end to end;
//! they run in the GitHub workflow on macOS and Windows.

mod support;

use std::time::{Duration, Instant};

use shmring_channel::{Channel, ChannelError, ChannelOptions};
use shmring_segment::SegmentName;
use support::LIMIT;

/// Where the parent tells the child the channel's name.
const NAME_ENV: &str = "SHMRING_TEST_CHANNEL_NAME";

const SMALL: ChannelOptions = ChannelOptions { capacity: 64 << 10, high_capacity: 4096, critical_capacity: 4096 };

fn random_name() -> String {
    SegmentName::random("snt-").expect("random name").as_str().to_owned()
}

fn name_from_parent() -> String {
    std::env::var(NAME_ENV).expect("the parent passes the channel name")
}

#[test]
fn a_child_that_opens_the_name_exchanges_messages_both_ways_then_sees_the_close() {
    const TEST: &str = "a_child_that_opens_the_name_exchanges_messages_both_ways_then_sees_the_close";
    if support::role().is_some() {
        let mut channel = Channel::open_named(&name_from_parent()).expect("open_named in the child");
        assert_eq!(channel.recv_timeout(LIMIT).expect("the parent's ping"), b"ping");
        channel.send(b"pong", Some(LIMIT)).unwrap();
        let end = channel.recv_timeout(LIMIT);
        assert!(matches!(end, Err(ChannelError::PeerClosed)), "after the parent's close: {end:?}");
        return;
    }
    let name = random_name();
    let mut channel = Channel::create_named(&name, &SMALL).unwrap();
    let child = support::spawn_child(TEST, "echo", &[(NAME_ENV, name)]);
    assert!(channel.wait_for_peer(LIMIT), "the child never attached");
    channel.send(b"ping", Some(LIMIT)).unwrap();
    assert_eq!(channel.recv_timeout(LIMIT).expect("the child's pong"), b"pong");
    channel.close();
    support::wait_for_success(child, LIMIT);
}

#[test]
fn a_recv_blocked_in_the_parent_is_woken_by_the_childs_send() {
    const TEST: &str = "a_recv_blocked_in_the_parent_is_woken_by_the_childs_send";
    if support::role().is_some() {
        let mut channel = Channel::open_named(&name_from_parent()).expect("open_named in the child");
        // Long enough for the parent to be asleep in its wait object, not spinning.
        std::thread::sleep(Duration::from_millis(300));
        channel.send(b"late", Some(LIMIT)).unwrap();
        channel.close();
        return;
    }
    let name = random_name();
    let mut channel = Channel::create_named(&name, &SMALL).unwrap();
    let child = support::spawn_child(TEST, "late sender", &[(NAME_ENV, name)]);
    let start = Instant::now();
    assert_eq!(channel.recv_timeout(LIMIT).expect("woken by the child's send"), b"late");
    assert!(start.elapsed() >= Duration::from_millis(300), "received before the child sent");
    assert!(matches!(channel.recv_timeout(LIMIT), Err(ChannelError::PeerClosed)));
    support::wait_for_success(child, LIMIT);
}

#[test]
fn a_child_that_exits_without_closing_is_reported_dead_while_it_is_not_yet_reaped() {
    const TEST: &str = "a_child_that_exits_without_closing_is_reported_dead_while_it_is_not_yet_reaped";
    if support::role().is_some() {
        let channel = Channel::open_named(&name_from_parent()).expect("open_named in the child");
        // `exit` runs no destructors: the channel is never closed, as if the process crashed.
        std::mem::forget(channel);
        std::process::exit(0);
    }
    let name = random_name();
    let mut channel = Channel::create_named(&name, &SMALL).unwrap();
    let child = support::spawn_child(TEST, "crash", &[(NAME_ENV, name)]);
    assert!(channel.wait_for_peer(LIMIT), "the child never attached");
    // `child` is not waited for until the end: on Unix the dead child stays a zombie, which
    // `kill(pid, 0)` alone would report alive.
    let start = Instant::now();
    let end = channel.recv_timeout(LIMIT);
    assert!(matches!(end, Err(ChannelError::PeerDead)), "after the child exited: {end:?}");
    assert!(start.elapsed() < LIMIT, "PeerDead took {:?}", start.elapsed());
    support::wait_for_exit(child, LIMIT);
}
