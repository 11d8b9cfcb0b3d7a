//! Peer watch on other Unix systems: `kill(pid, 0)` and `ESRCH`. An exited child its parent
//! has not reaped yet, and a pid reused after the peer died, both read as alive.
//!
//! **Type-checked with `ci/cross-check.sh x86_64-unknown-freebsd` (not among its default
//! targets); no CI job runs it.**

pub(super) struct Handle;

impl Handle {
    pub(super) fn open(_pid: u32) -> Handle {
        Handle
    }
}

pub(super) fn has_exited(pid: u32, _: &Handle) -> bool {
    super::kill_says_gone(pid)
}
