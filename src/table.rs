//! This thread's channels, by handle: the data-path functions (`data.rs`) find their channel
//! with an array index and a generation check instead of napi-rs's class unwrap, which costs
//! several hundred nanoseconds per call (a global borrow registry; see docs/DECISIONS.md).
//!
//! A handle is `generation << INDEX_BITS | index`. Any number from JavaScript is safe: an
//! unknown index, a stale generation or a closed channel is `ERR_SHMRING_CLOSED`. Each
//! JavaScript thread (main or worker) has its own table, and a channel is only used on the
//! thread that created it.

use std::cell::RefCell;
use std::rc::Rc;

use shmring_channel::{Channel, ChannelError};

use crate::error::{error, from_channel, Code, Result};

/// A shared, JS-thread-only reference to one channel.
pub type ChannelRef = Rc<RefCell<Channel>>;

const INDEX_BITS: u32 = 20;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;

struct Slot {
    generation: u32,
    channel: Option<ChannelRef>,
}

#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

/// Registers `channel`; returns its handle and the reference the class keeps.
pub fn insert(channel: Channel) -> Result<(u32, ChannelRef)> {
    let channel = Rc::new(RefCell::new(channel));
    TABLE.with_borrow_mut(|table| {
        let index = match table.free.pop() {
            Some(index) => index,
            None if table.slots.len() < INDEX_MASK as usize => {
                table.slots.push(Slot { generation: 0, channel: None });
                (table.slots.len() - 1) as u32
            }
            None => return Err(error(Code::Os, "too many open channels in this thread; close some")),
        };
        let slot = &mut table.slots[index as usize];
        slot.generation = (slot.generation + 1) & (u32::MAX >> INDEX_BITS);
        slot.channel = Some(Rc::clone(&channel));
        Ok((slot.generation << INDEX_BITS | index, channel))
    })
}

/// Forgets `handle` (the channel lives on while other references exist). A no-op while the
/// thread's table is being torn down (finalizers at thread exit).
pub fn remove(handle: u32) {
    let _ = TABLE.try_with(|table| {
        let Ok(mut table) = table.try_borrow_mut() else { return };
        let index = handle & INDEX_MASK;
        if let Some(slot) = table.slots.get_mut(index as usize) {
            if slot.generation == handle >> INDEX_BITS && slot.channel.take().is_some() {
                table.free.push(index);
            }
        }
    });
}

/// Runs `f` on the channel of `handle`.
pub fn with<R>(handle: u32, f: impl FnOnce(&mut Channel) -> Result<R>) -> Result<R> {
    let channel = TABLE.with_borrow(|table| {
        let slot = table.slots.get((handle & INDEX_MASK) as usize)?;
        (slot.generation == handle >> INDEX_BITS).then(|| slot.channel.clone()).flatten()
    });
    let channel = channel.ok_or_else(|| from_channel(ChannelError::Closed))?;
    let mut channel = channel
        .try_borrow_mut()
        .map_err(|_| error(Code::InvalidArg, "channel is busy: it was used from inside one of its own calls"))?;
    f(&mut channel)
}
