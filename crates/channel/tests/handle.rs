//! Specification of handle passing on Windows: side B attaches to a duplicate of the
//! creator's section handle (`share_handle` → `from_handle`), as a peer process does after
//! `DuplicateHandle`. Type-checked on Linux with ci/cross-check.sh; runs in the GitHub
//! workflow on Windows.
#![cfg(windows)]

use std::time::Duration;

use shmring_channel::{Channel, ChannelError, ChannelOptions, OpenError, Priority, Side};

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
