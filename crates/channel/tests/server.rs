//! Specification of the named server (Unix): a `Listener` on a socket path gives every client
//! process a channel of its own; stale socket files are replaced, live ones refused; a server
//! that answers anything but a shmring handshake is refused without leaking fds; a client that
//! hangs up or dies does not disturb the server.
#![cfg(unix)]

mod support;

use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use shmring_channel::{
    AcceptError, Channel, ChannelError, ChannelOptions, Connection, Listener, OpenError, HANDSHAKE_MAGIC,
};
use support::LIMIT;

const SMALL: ChannelOptions = ChannelOptions { capacity: 64 << 10, high_capacity: 4096, critical_capacity: 4096 };
const PATH_ENV: &str = "SHMRING_TEST_SOCKET";
const MESSAGES: u64 = 2_000;

/// A fresh socket path in the temporary directory (short: socket paths are limited to ~100 bytes).
fn socket_path() -> PathBuf {
    let name = shmring_segment::SegmentName::random("shmring-").unwrap();
    std::env::temp_dir().join(format!("{name}.sock"))
}

#[test]
fn every_client_process_gets_a_channel_of_its_own() {
    const TEST: &str = "every_client_process_gets_a_channel_of_its_own";
    if support::role().as_deref() == Some("client") {
        let mut channel = Channel::connect(std::env::var(PATH_ENV).unwrap(), LIMIT).expect("connect");
        let mut buf = Vec::new();
        for seq in 0..MESSAGES {
            support::message(seq, 16 + (seq as usize * 37) % 2000, &mut buf);
            channel.send(&buf, Some(LIMIT)).unwrap();
            let echo = channel.recv_timeout(LIMIT).unwrap();
            support::verify(&echo, seq).unwrap();
        }
        channel.close();
        return;
    }
    let path = socket_path();
    let listener = Listener::bind(&path, &SMALL).unwrap();
    let clients: Vec<_> =
        (0..3).map(|_| support::spawn_child(TEST, "client", &[(PATH_ENV, path.display().to_string())])).collect();
    let mut ids = Vec::new();
    let servers: Vec<_> = (0..3)
        .map(|_| {
            let mut channel = listener.accept().expect("accept");
            ids.push(channel.id());
            std::thread::spawn(move || {
                let mut echoed = 0;
                loop {
                    match channel.recv_timeout(LIMIT) {
                        Ok(message) => {
                            channel.send(&message, Some(LIMIT)).unwrap();
                            echoed += 1;
                        }
                        Err(ChannelError::PeerClosed) => return echoed,
                        Err(e) => panic!("server side: {e}"),
                    }
                }
            })
        })
        .collect();
    for server in servers {
        assert_eq!(server.join().unwrap(), MESSAGES);
    }
    for client in clients {
        support::wait_for_success(client, LIMIT);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct channels");
    drop(listener);
    assert!(!path.exists(), "dropping the listener removes its socket file");
}

#[test]
fn the_server_learns_that_a_client_process_died() {
    const TEST: &str = "the_server_learns_that_a_client_process_died";
    if support::role().as_deref() == Some("dying-client") {
        let mut channel = Channel::connect(std::env::var(PATH_ENV).unwrap(), LIMIT).expect("connect");
        channel.send(b"last words", Some(LIMIT)).unwrap();
        std::process::exit(0); // without closing the channel
    }
    let path = socket_path();
    let listener = Listener::bind(&path, &SMALL).unwrap();
    let client = support::spawn_child(TEST, "dying-client", &[(PATH_ENV, path.display().to_string())]);
    let mut channel = listener.accept().unwrap();
    assert_eq!(channel.recv_timeout(LIMIT).unwrap(), b"last words");
    let started = Instant::now();
    let end = channel.recv_timeout(LIMIT);
    assert!(matches!(end, Err(ChannelError::PeerDead)), "after the client died: {end:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "noticed after {:?}", started.elapsed());
    support::wait_for_exit(client, LIMIT);
}

#[test]
fn a_stale_socket_file_is_replaced_and_a_live_server_is_not() {
    let path = socket_path();
    drop(UnixListener::bind(&path).unwrap()); // leaves the file, with nobody listening
    assert!(path.exists());
    let listener = Listener::bind(&path, &SMALL).expect("a stale socket file is replaced");
    let second = Listener::bind(&path, &SMALL).unwrap_err();
    assert_eq!(second.kind(), std::io::ErrorKind::AddrInUse);
    drop(listener);

    std::fs::write(&path, b"not a socket").unwrap();
    let refused = Listener::bind(&path, &SMALL).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::AddrInUse, "{refused}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket", "someone else's file is left alone");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn connecting_where_nobody_listens_says_so() {
    let path = socket_path();
    let missing = Channel::connect(&path, LIMIT).unwrap_err();
    assert!(matches!(&missing, OpenError::Os(e) if e.kind() == std::io::ErrorKind::NotFound), "{missing:?}");
    drop(UnixListener::bind(&path).unwrap());
    let refused = Channel::connect(&path, LIMIT).unwrap_err();
    assert!(matches!(&refused, OpenError::Os(e) if e.kind() == std::io::ErrorKind::ConnectionRefused), "{refused:?}");
    std::fs::remove_file(&path).unwrap();
}

/// Runs a fake server at a fresh path that answers the first connection with `answer`, and
/// returns what `Channel::connect` made of it (waiting up to `LIMIT`, so a slow machine does
/// not turn an answer into a timeout).
fn connect_to_fake(answer: impl FnOnce(UnixStream) + Send + 'static) -> OpenError {
    connect_to_fake_within(LIMIT, answer)
}

fn connect_to_fake_within(timeout: Duration, answer: impl FnOnce(UnixStream) + Send + 'static) -> OpenError {
    let path = socket_path();
    let fake = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = fake.accept().unwrap();
        answer(stream);
    });
    let result = Channel::connect(&path, timeout);
    server.join().unwrap();
    std::fs::remove_file(&path).unwrap();
    result.expect_err("a fake server's answer is refused")
}

fn send(stream: &UnixStream, message: &[u8], fds: &[&OwnedFd]) {
    let raw: Vec<_> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let cmsgs = if raw.is_empty() { vec![] } else { vec![ControlMessage::ScmRights(&raw)] };
    sendmsg::<()>(stream.as_raw_fd(), &[IoSlice::new(message)], &cmsgs, MsgFlags::empty(), None).unwrap();
}

fn handshake(id: u64) -> [u8; 16] {
    let mut message = [0u8; 16];
    message[..8].copy_from_slice(&HANDSHAKE_MAGIC);
    message[8..].copy_from_slice(&id.to_le_bytes());
    message
}

#[cfg(target_os = "linux")]
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn a_server_that_answers_anything_but_a_handshake_is_refused_without_leaking_fds() {
    const TEST: &str = "a_server_that_answers_anything_but_a_handshake_is_refused_without_leaking_fds";
    // In a child process of its own: counting fds needs the other tests' fds to stay put.
    if support::role().is_none() {
        support::wait_for_success(support::spawn_child(TEST, "fake-servers", &[]), LIMIT);
        return;
    }
    // One real connection first, so that process-wide machinery (the peer-exit watcher) exists
    // before fds are counted.
    let path = socket_path();
    let listener = Listener::bind(&path, &SMALL).unwrap();
    let client = std::thread::spawn(move || Channel::connect(&path, LIMIT).unwrap());
    let served = listener.accept().unwrap();
    drop((client.join().unwrap(), served, listener));
    // The segment the fake servers send: a real channel, its side B free.
    let real = Channel::create_with(&SMALL).unwrap();
    let id = real.id();
    #[cfg(target_os = "linux")]
    let before = open_fds();
    let incompatible = |e: &OpenError| matches!(e, OpenError::Incompatible(_));

    let segment = real.share_fd().unwrap();
    let e = connect_to_fake(move |s| send(&s, b"SHMRSRV\x02\0\0\0\0\0\0\0\0", &[&segment]));
    assert!(incompatible(&e), "wrong magic: {e:?}");

    let e = connect_to_fake(move |s| send(&s, &handshake(id), &[]));
    assert!(incompatible(&e), "no fd: {e:?}");

    let three = [real.share_fd().unwrap(), real.share_fd().unwrap(), real.share_fd().unwrap()];
    let e = connect_to_fake(move |s| send(&s, &handshake(id), &three.iter().collect::<Vec<_>>()));
    assert!(incompatible(&e), "three fds: {e:?}");

    let segment = real.share_fd().unwrap();
    let e = connect_to_fake(move |s| send(&s, &handshake(id ^ 1), &[&segment]));
    assert!(incompatible(&e), "another channel's id: {e:?}");

    let (pipe, writer) = nix::unistd::pipe().unwrap();
    drop(writer);
    let e = connect_to_fake(move |s| send(&s, &handshake(id), &[&pipe]));
    assert!(matches!(e, OpenError::Segment(_)), "a pipe instead of a sealed segment: {e:?}");

    let e = connect_to_fake(|mut s| s.write_all(b"hello").unwrap());
    assert!(incompatible(&e), "a short plain message: {e:?}");

    let e = connect_to_fake(drop);
    assert!(incompatible(&e), "a hang-up: {e:?}");

    let e = connect_to_fake_within(Duration::from_millis(200), |s| {
        std::thread::sleep(Duration::from_millis(1500));
        drop(s);
    });
    assert!(matches!(&e, OpenError::Os(io) if io.kind() == std::io::ErrorKind::TimedOut), "silence: {e:?}");

    #[cfg(target_os = "linux")]
    assert_eq!(open_fds(), before, "every fd that came with a refused answer was closed");
    assert!(!real.is_peer_attached(), "no refused answer claimed the channel it carried");
}

#[test]
fn a_client_that_hangs_up_does_not_stop_the_listener() {
    let path = socket_path();
    let listener = Listener::bind(&path, &SMALL).unwrap();
    drop(UnixStream::connect(&path).unwrap());
    // The hung-up client may still get its channel sent (the kernel queues it) or fail: either
    // way the next client is served.
    match listener.accept() {
        Ok(_) | Err(AcceptError::Client(_)) => {}
        Err(e) => panic!("the listener broke: {e}"),
    }
    let client = std::thread::spawn({
        let path = path.clone();
        move || {
            let mut channel = Channel::connect(&path, LIMIT).unwrap();
            channel.send(b"hi", Some(LIMIT)).unwrap();
        }
    });
    let mut served = listener.accept().unwrap();
    assert_eq!(served.recv_timeout(LIMIT).unwrap(), b"hi");
    client.join().unwrap();
}

#[test]
fn a_client_that_gives_up_before_attaching_ends_its_server_channel() {
    let path = socket_path();
    let listener = Listener::bind(&path, &SMALL).unwrap();
    let connection = Connection::start(&path).unwrap();
    let mut channel = listener.accept().unwrap();
    drop(connection); // a timeout or an abort: the channel it was sent is never attached
    let started = Instant::now();
    let end = channel.recv_timeout(LIMIT);
    assert!(matches!(end, Err(ChannelError::PeerDead)), "after the client hung up: {end:?}");
    // Noticed at the next liveness check (the client is this process: every 50 ms).
    assert!(started.elapsed() < Duration::from_secs(8), "noticed after {:?}", started.elapsed());
}

/// Linux: the server's channel learns at once that a client process gave up before attaching,
/// though that process lives on (its connection's hang-up wakes the peer watcher's epoll).
/// Without that, the next liveness check would come only after the 5 s alarmed slice.
#[cfg(target_os = "linux")]
#[test]
fn a_client_process_that_gives_up_before_attaching_is_noticed_at_once_while_it_lives() {
    const TEST: &str = "a_client_process_that_gives_up_before_attaching_is_noticed_at_once_while_it_lives";
    if support::role().as_deref() == Some("quitter") {
        let connection = Connection::start(std::env::var(PATH_ENV).unwrap()).expect("connect");
        // Wait for the server's answer (so it has made the channel), then give up.
        let mut pfd = nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&connection), nix::poll::PollFlags::POLLIN);
        nix::poll::poll(std::slice::from_mut(&mut pfd), nix::poll::PollTimeout::from(10_000u16)).unwrap();
        drop(connection);
        std::thread::sleep(Duration::from_secs(30)); // alive, but gone from the channel
        return;
    }
    let path = socket_path();
    let listener = Listener::bind(&path, &SMALL).unwrap();
    let mut quitter = support::spawn_child(TEST, "quitter", &[(PATH_ENV, path.display().to_string())]);
    let mut channel = listener.accept().unwrap();
    let started = Instant::now();
    let end = channel.recv_timeout(LIMIT);
    let waited = started.elapsed();
    quitter.kill().unwrap();
    quitter.wait().unwrap();
    assert!(matches!(end, Err(ChannelError::PeerDead)), "after the client hung up: {end:?}");
    assert!(waited < Duration::from_secs(2), "noticed after {waited:?}");
}

#[test]
fn a_client_that_attaches_and_closes_its_connection_is_not_taken_for_dead() {
    let path = socket_path();
    let listener = Listener::bind(&path, &SMALL).unwrap();
    let client = std::thread::spawn({
        let path = path.clone();
        move || {
            // `connect` attaches, then closes the connection: the server's hang-up alarm fires.
            let mut channel = Channel::connect(&path, LIMIT).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            channel.send(b"still here", Some(LIMIT)).unwrap();
            channel
        }
    });
    let mut served = listener.accept().unwrap();
    assert_eq!(served.recv_timeout(LIMIT).unwrap(), b"still here");
    served.send(b"and you", Some(LIMIT)).unwrap();
    let mut channel = client.join().unwrap();
    assert_eq!(channel.recv_timeout(LIMIT).unwrap(), b"and you");
}

/// Linux only: macOS refuses a connection to a full queue (ECONNREFUSED) instead of answering
/// "would block".
#[cfg(target_os = "linux")]
#[test]
fn connecting_to_a_server_whose_queue_is_full_never_waits_past_its_deadline() {
    use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
    let path = socket_path();
    // A server that never accepts, with a queue of one.
    let server = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(server.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
    listen(&server, Backlog::new(1).unwrap()).unwrap();
    let mut queued = Vec::new();
    let full = loop {
        match Connection::start(&path) {
            Ok(connection) => queued.push(connection),
            Err(e) => break e,
        }
        assert!(queued.len() < 100, "the queue never filled");
    };
    assert!(matches!(&full, OpenError::Os(e) if e.kind() == std::io::ErrorKind::WouldBlock), "{full:?}");
    let started = Instant::now();
    let late = Channel::connect(&path, Duration::from_millis(200)).unwrap_err();
    assert!(matches!(&late, OpenError::Os(e) if e.kind() == std::io::ErrorKind::TimedOut), "{late:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
    // A live server with a full queue is still a live server: its socket is not replaced.
    assert_eq!(Listener::bind(&path, &SMALL).unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    drop(server);
    std::fs::remove_file(&path).unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn a_second_server_for_a_path_is_refused_even_when_the_socket_file_is_gone() {
    let path = socket_path();
    let first = Listener::bind(&path, &SMALL).unwrap();
    std::fs::remove_file(&path).unwrap(); // as a second server racing on a stale file would have
    let second = Listener::bind(&path, &SMALL).unwrap_err();
    assert_eq!(second.kind(), std::io::ErrorKind::AddrInUse, "{second}");
    drop(first);
    let third = Listener::bind(&path, &SMALL).expect("the path is free once the first server is gone");
    drop(third);
}
