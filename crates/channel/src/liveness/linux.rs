//! Linux peer watch: a `pidfd` (`pidfd_open(2)`, 5.3+) opened the first time the peer's pid
//! is known, registered with the process-wide watcher thread below (its alarm marks the peer
//! dead the moment it exits) and polled for readability (readable = exited) on demand. Holding the pidfd makes pid reuse
//! harmless. Without pidfd support (old kernels, some sandboxes, valgrind): `kill(pid, 0)` and
//! `ESRCH`, or a zombie state in `/proc/<pid>/stat` (an exited child not yet reaped).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub(super) enum Handle {
    Pidfd(OwnedFd),
    Gone,
    Kill,
}

impl Handle {
    pub(super) fn open(pid: u32) -> Handle {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is
        // passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd >= 0 {
            // SAFETY: the kernel just returned this fd to us; nothing else owns it.
            return Handle::Pidfd(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ESRCH) => Handle::Gone,
            _ => Handle::Kill,
        }
    }
}

pub(super) fn has_exited(pid: u32, handle: &Handle) -> bool {
    match handle {
        Handle::Gone => true,
        Handle::Kill => super::kill_says_gone(pid) || is_zombie(pid),
        Handle::Pidfd(fd) => {
            let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: `pfd` is a valid pollfd for the duration of the call; timeout 0.
            let n = unsafe { libc::poll(&mut pfd, 1, 0) };
            n == 1 && pfd.revents & libc::POLLIN != 0
        }
    }
}

/// Without pidfd, `kill(pid, 0)` still succeeds for an exited child its parent has not
/// reaped yet; `/proc/<pid>/stat` says `Z` (zombie) or `X` (dead) for it.
fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The command name in parentheses may contain anything; the state follows the last ')'.
    stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
}

/// The process-wide watcher thread: sleeps in `epoll_wait` on the pidfds of every watched
/// peer (and the rendezvous connections of servers' unattached clients) and runs a channel's
/// alarm the moment its peer exits (or hangs up), so blocked calls need no periodic liveness
/// checks (an idle channel then wakes nobody). Started on first use; lives
/// as long as the process, blocked, costing nothing.
struct Watcher {
    /// The process that started the thread. A child made by `fork` (without `exec`) inherits
    /// this static but not the thread, and shares the epoll instance with its parent: there
    /// the watcher does not exist (`current`), and its channels poll instead.
    pid: u32,
    epoll: OwnedFd,
    /// Watched descriptors (our own duplicates) and their alarms, by epoll token.
    alarms: std::sync::Mutex<std::collections::HashMap<u64, Entry>>,
    next_token: std::sync::atomic::AtomicU64,
}

/// One watched descriptor (our duplicate of a pidfd or a socket), and what to run when it fires.
type Entry = (OwnedFd, Box<dyn Fn() + Send>);

/// A registered alarm; dropping it unregisters it (an alarm already taken out to run still
/// runs: alarms hold only weak references to what they wake).
pub(crate) struct Alarm {
    token: u64,
}

impl Alarm {
    /// Whether the watcher thread serves this process (false in a forked child).
    pub(super) fn is_live(&self) -> bool {
        Watcher::current().is_some()
    }
}

static WATCHER: std::sync::OnceLock<Option<Watcher>> = std::sync::OnceLock::new();

impl Handle {
    /// Runs `on_exit` once, on the watcher thread, when the watched process exits. `None`
    /// without a pidfd or when the watcher cannot start (then callers keep polling).
    pub(super) fn alarm(&self, on_exit: Box<dyn Fn() + Send>) -> Option<Alarm> {
        let Handle::Pidfd(pidfd) = self else { return None };
        // A pidfd is readable once its process has exited.
        watch(pidfd.as_fd(), libc::EPOLLIN as u32, on_exit)
    }
}

/// Runs `on_event` once, on the watcher thread, when `fd` reports one of the epoll `events`
/// (level-triggered: a condition that already holds fires at once). The watcher keeps its own
/// duplicate of `fd`. `None` when the watcher cannot start or take the descriptor.
pub(super) fn watch(fd: BorrowedFd<'_>, events: u32, on_event: Box<dyn Fn() + Send>) -> Option<Alarm> {
    WATCHER.get_or_init(Watcher::start);
    let watcher = Watcher::current()?;
    let fd = fd.try_clone_to_owned().ok()?;
    // ORDERING: Relaxed; only uniqueness matters.
    let token = watcher.next_token.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut alarms = watcher.alarms.lock().unwrap_or_else(|e| e.into_inner());
    let mut event = libc::epoll_event { events, u64: token };
    // SAFETY: both fds are open; `event` is a valid epoll_event for the call.
    if unsafe { libc::epoll_ctl(watcher.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut event) } != 0 {
        return None;
    }
    alarms.insert(token, (fd, on_event));
    Some(Alarm { token })
}

impl Watcher {
    fn start() -> Option<Watcher> {
        // SAFETY: plain system call with a flag; returns a new fd or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the kernel just returned this fd to us; nothing else owns it.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let watcher =
            Watcher { pid: std::process::id(), epoll, alarms: Default::default(), next_token: Default::default() };
        let epoll_fd = watcher.epoll.as_raw_fd();
        let spawned = std::thread::Builder::new().name("shmring-peer-watch".into()).spawn(move || loop {
            let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
            // SAFETY: `events` has room for 16 entries; the epoll fd lives in the static
            // watcher, which is never dropped.
            let n = unsafe { libc::epoll_wait(epoll_fd, events.as_mut_ptr(), 16, -1) };
            // Events come only for registered descriptors, which exist only once `WATCHER` is set;
            // an early return of the wait (EINTR) just waits again. The thread never exits.
            if let Some(watcher) = Watcher::current() {
                for event in events.iter().take(n.max(0) as usize) {
                    watcher.fire(event.u64);
                }
            }
        });
        spawned.ok().map(|_| watcher)
    }

    /// The watcher of this process, if its thread runs here (see `pid`).
    fn current() -> Option<&'static Watcher> {
        WATCHER.get()?.as_ref().filter(|watcher| watcher.pid == std::process::id())
    }

    /// Runs and forgets the alarm of `token` (an exited process stays readable, a hung-up
    /// socket stays hung up: level-triggered events would fire again).
    fn fire(&self, token: u64) {
        let taken = self.alarms.lock().unwrap_or_else(|e| e.into_inner()).remove(&token);
        if let Some((fd, on_exit)) = taken {
            self.forget(&fd);
            // Outside the lock: the alarm may drop the last reference to a channel, whose
            // `Alarm::drop` takes the lock. A panic must not end the thread (nothing would
            // fire again); the alarm's owner still has its backstop slice.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(on_exit));
        }
    }

    fn forget(&self, fd: &OwnedFd) {
        // SAFETY: both fds are open; DEL ignores the event argument.
        unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd(), std::ptr::null_mut()) };
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        let Some(watcher) = Watcher::current() else { return };
        let mut alarms = watcher.alarms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((fd, _)) = alarms.remove(&self.token) {
            watcher.forget(&fd);
        }
    }
}
