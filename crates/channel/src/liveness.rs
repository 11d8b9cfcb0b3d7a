//! Is the peer process still alive? Asked only on the slow path (a wait that timed out its
//! slice), never by `try_*` calls.
//!
//! * Linux: a `pidfd` (`pidfd_open(2)`, 5.3+) opened the first time the peer's pid is known and
//!   polled for readability (readable = exited). Holding the pidfd makes pid reuse harmless.
//!   Without pidfd support (old kernels, some sandboxes, valgrind), `kill(pid, 0)` and `ESRCH`,
//!   or a zombie state in `/proc/<pid>/stat` (an exited child not yet reaped).
//! * Other Unix: `kill(pid, 0)` and `ESRCH` (a reused pid after death reads as alive: the
//!   handshake socket of the Node layer covers that case).
//! * Windows: `OpenProcess(SYNCHRONIZE)` once, then `WaitForSingleObject(h, 0)`.
//!
//! The pid should come from a trusted source: the parent's `spawn` result, or `getppid()` in a
//! child started with the channel (`PeerWatch::bind`). Otherwise the pid the peer writes into
//! the control block is used, which is untrusted (a lying peer can only make us watch the
//! wrong process) and 0 until the peer attaches — so without a bound pid, a peer that dies
//! before attaching is not noticed (callers with a deadline still return). Pid 0 and our own
//! pid are never reported dead.

use std::sync::OnceLock;

/// Watches one peer process; created empty, bound to the first plausible pid it is asked about.
pub(crate) struct PeerWatch {
    watched: OnceLock<(u32, imp::Handle)>,
}

impl PeerWatch {
    pub(crate) fn new() -> PeerWatch {
        PeerWatch { watched: OnceLock::new() }
    }

    /// Watches `pid` from now on (a trusted pid); no effect if a process is already watched.
    pub(crate) fn bind(&self, pid: u32) {
        if plausible(pid) {
            let _ = self.watched.set((pid, imp::Handle::open(pid)));
        }
    }

    /// Whether the watched process has exited; binds to `pid` (as read from the control
    /// block) if none is watched yet.
    pub(crate) fn is_dead(&self, pid: u32) -> bool {
        if let Some((watched_pid, handle)) = self.watched.get() {
            return imp::has_exited(*watched_pid, handle);
        }
        if !plausible(pid) {
            return false;
        }
        // A concurrent `bind` may win: then its process is the one watched.
        let (watched_pid, handle) = self.watched.get_or_init(|| (pid, imp::Handle::open(pid)));
        imp::has_exited(*watched_pid, handle)
    }
}

fn plausible(pid: u32) -> bool {
    pid != 0 && pid != std::process::id() && pid <= i32::MAX as u32
}

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::{FromRawFd, OwnedFd};

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
            Handle::Kill => super::kill_says_gone(pid) || super::is_zombie(pid),
            Handle::Pidfd(fd) => {
                use std::os::fd::AsRawFd;
                let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: `pfd` is a valid pollfd for the duration of the call; timeout 0.
                let n = unsafe { libc::poll(&mut pfd, 1, 0) };
                n == 1 && pfd.revents & libc::POLLIN != 0
            }
        }
    }
}

/// Without pidfd, `kill(pid, 0)` still succeeds for an exited child its parent has not
/// reaped yet; `/proc/<pid>/stat` says `Z` (zombie) or `X` (dead) for it.
#[cfg(target_os = "linux")]
fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The command name in parentheses may contain anything; the state follows the last ')'.
    stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
}

#[cfg(all(unix, not(target_os = "linux")))]
mod imp {
    pub(super) struct Handle;
    impl Handle {
        pub(super) fn open(_pid: u32) -> Handle {
            Handle
        }
    }
    pub(super) fn has_exited(pid: u32, _: &Handle) -> bool {
        super::kill_says_gone(pid)
    }
}

#[cfg(unix)]
fn kill_says_gone(pid: u32) -> bool {
    // SAFETY: signal 0 performs only the existence and permission check.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

#[cfg(windows)]
mod imp {
    //! Not compiled or tested on the development machine; proven only by the GitHub Actions matrix.
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
    use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
    use windows_sys::Win32::System::Threading::{OpenProcess, WaitForSingleObject, PROCESS_SYNCHRONIZE};

    pub(super) struct Handle(Option<OwnedHandle>);

    impl Handle {
        pub(super) fn open(pid: u32) -> Handle {
            // SAFETY: OpenProcess takes plain values and returns a handle or null.
            let h = unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, pid) };
            if h.is_null() {
                return Handle(None);
            }
            // SAFETY: a fresh handle we own.
            Handle(Some(unsafe { OwnedHandle::from_raw_handle(h) }))
        }
    }

    pub(super) fn has_exited(_pid: u32, handle: &Handle) -> bool {
        match &handle.0 {
            // Could not open it: it already exited (or is not ours to watch).
            None => true,
            // SAFETY: a valid process handle owned by `handle`; timeout 0 only polls.
            Some(h) => unsafe { WaitForSingleObject(h.as_raw_handle(), 0) == WAIT_OBJECT_0 },
        }
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    pub(super) struct Handle;
    impl Handle {
        pub(super) fn open(_pid: u32) -> Handle {
            Handle
        }
    }
    pub(super) fn has_exited(_pid: u32, _: &Handle) -> bool {
        false
    }
}
