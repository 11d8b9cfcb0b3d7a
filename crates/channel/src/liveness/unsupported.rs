//! Peer watch where the OS offers none this crate knows: the peer is never reported dead
//! (blocked calls with a deadline still return; without one they wait for a close).

pub(super) struct Handle;

impl Handle {
    pub(super) fn open(_pid: u32) -> Handle {
        Handle
    }
}

pub(super) fn has_exited(_pid: u32, _: &Handle) -> bool {
    false
}
