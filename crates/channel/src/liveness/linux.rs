//! Linux peer watch: a `pidfd` (`pidfd_open(2)`, 5.3+) opened the first time the peer's pid
//! is known and polled for readability (readable = exited). Holding the pidfd makes pid reuse
//! harmless. Without pidfd support (old kernels, some sandboxes, valgrind): `kill(pid, 0)` and
//! `ESRCH`, or a zombie state in `/proc/<pid>/stat` (an exited child not yet reaped).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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
