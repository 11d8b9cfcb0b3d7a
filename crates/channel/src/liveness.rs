//! Is the peer process still alive? Asked only on the slow path (a wait that timed out its
//! slice), never by `try_*` calls.
//!
//! One backend per OS (`liveness/*.rs`), each providing `Handle::open(pid) -> Handle` (called
//! once, when the pid becomes known) and `has_exited(pid, &Handle) -> bool` (cheap, never blocks):
//!
//! | target | file | how |
//! |---|---|---|
//! | Linux | `linux.rs` | `pidfd_open` + `poll`; else `kill(pid, 0)` + `/proc/<pid>/stat` zombie state |
//! | macOS | `macos.rs` | `kill(pid, 0)` + `proc_pidinfo` zombie state |
//! | Windows | `windows.rs` | `OpenProcess(SYNCHRONIZE)` once, then `WaitForSingleObject(h, 0)` |
//! | other Unix | `unix.rs` | `kill(pid, 0)` |
//! | anything else | `unsupported.rs` | never reports the peer dead |
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
    /// Where the OS can tell us of the exit (Linux pidfd), the registered alarm: then blocked
    /// calls need not poll.
    alarm: OnceLock<Option<Alarm>>,
}

impl PeerWatch {
    pub(crate) fn new() -> PeerWatch {
        PeerWatch { watched: OnceLock::new(), alarm: OnceLock::new() }
    }

    /// Watches `pid` from now on (a trusted pid); no effect if a process is already watched.
    /// `on_exit` runs (on another thread) when the watched process exits, where the OS can say.
    pub(crate) fn bind(&self, pid: u32, on_exit: impl FnOnce() -> Box<dyn Fn() + Send>) {
        if plausible(pid) {
            let _ = self.watched.set((pid, imp::Handle::open(pid)));
            self.arm(on_exit);
        }
    }

    /// Whether the watched process has exited; binds to `pid` (as read from the control
    /// block) if none is watched yet.
    pub(crate) fn is_dead(&self, pid: u32, on_exit: impl FnOnce() -> Box<dyn Fn() + Send>) -> bool {
        if let Some((watched_pid, handle)) = self.watched.get() {
            return imp::has_exited(*watched_pid, handle);
        }
        if !plausible(pid) {
            return false;
        }
        // A concurrent `bind` may win: then its process is the one watched.
        let (watched_pid, handle) = self.watched.get_or_init(|| (pid, imp::Handle::open(pid)));
        self.arm(on_exit);
        imp::has_exited(*watched_pid, handle)
    }

    /// Whether the exit of the watched process will run `on_exit` (so waiting needs no polling).
    pub(crate) fn is_alarmed(&self) -> bool {
        matches!(self.alarm.get(), Some(Some(alarm)) if alarm.is_live())
    }

    fn arm(&self, on_exit: impl FnOnce() -> Box<dyn Fn() + Send>) {
        if let Some((_, handle)) = self.watched.get() {
            self.alarm.get_or_init(|| set_alarm(handle, on_exit()));
        }
    }
}

/// A registered alarm (Linux): dropping it unregisters it.
#[cfg(target_os = "linux")]
pub(crate) use imp::Alarm;

/// Elsewhere no alarm exists: blocked calls poll every `LIVENESS_SLICE`.
#[cfg(not(target_os = "linux"))]
pub(crate) struct Alarm;

#[cfg(not(target_os = "linux"))]
impl Alarm {
    fn is_live(&self) -> bool {
        false
    }
}

fn set_alarm(handle: &imp::Handle, on_exit: Box<dyn Fn() + Send>) -> Option<Alarm> {
    #[cfg(target_os = "linux")]
    return handle.alarm(on_exit);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (handle, on_exit);
        None
    }
}

/// Runs `on_hang_up` once, on the watcher thread, when the other end of the stream socket `fd`
/// hangs up (closes, or its process dies). `None` where the OS cannot tell us (not Linux):
/// callers then look for the hang-up on their slow path.
#[cfg(unix)]
pub(crate) fn hang_up_alarm(fd: std::os::fd::BorrowedFd<'_>, on_hang_up: Box<dyn Fn() + Send>) -> Option<Alarm> {
    #[cfg(target_os = "linux")]
    return imp::watch(fd, (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32, on_hang_up);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (fd, on_hang_up);
        None
    }
}

fn plausible(pid: u32) -> bool {
    pid != 0 && pid != std::process::id() && pid <= i32::MAX as u32
}

#[cfg_attr(target_os = "linux", path = "liveness/linux.rs")]
#[cfg_attr(target_os = "macos", path = "liveness/macos.rs")]
#[cfg_attr(windows, path = "liveness/windows.rs")]
#[cfg_attr(all(unix, not(any(target_os = "linux", target_os = "macos"))), path = "liveness/unix.rs")]
#[cfg_attr(not(any(unix, windows)), path = "liveness/unsupported.rs")]
mod imp;

// Compile-time check that this target's backend has the agreed signatures.
const _: fn(u32) -> imp::Handle = imp::Handle::open;
const _: fn(u32, &imp::Handle) -> bool = imp::has_exited;

/// `kill(pid, 0)` fails with `ESRCH`: no such process (an unreaped zombie still exists).
#[cfg(unix)]
fn kill_says_gone(pid: u32) -> bool {
    // SAFETY: signal 0 performs only the existence and permission check.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}
