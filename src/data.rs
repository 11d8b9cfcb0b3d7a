//! The batch data path: free functions that take a channel handle (`NativeChannel.handle`)
//! instead of being methods, because napi-rs class methods cost several hundred nanoseconds
//! per call (see `table.rs`). They convert values and delegate. The per-message and packed
//! calls are raw Node-API callbacks in `fast.rs`, for the same reason one level further down;
//! the packed ones' cores (`try_send_packed`, `recv_packed`) live here.

use napi::bindgen_prelude::{BufferSlice, Env, FromNapiValue, JsValue, Uint8Array, Unknown};
use napi::sys;
use napi_derive::napi;
use shmring_channel::ChannelError;

use crate::channel::to_priority;
use crate::error::{error, from_channel, Code, Result};
use crate::table;

/// Sends as many of `messages` as fit now; returns how many.
#[napi(ts_args_type = "handle: number, messages: Array<Uint8Array>, priority: number")]
pub fn channel_try_send_batch(env: &Env, handle: u32, messages: Vec<Unknown<'_>>, priority: u32) -> Result<u32> {
    let priority = to_priority(priority)?;
    // Reading the array may run JavaScript (element getters), which could detach a view
    // converted earlier; so the elements are read first and turned into byte views only
    // afterwards, when no JavaScript can run until the copy is done.
    let messages = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            // SAFETY: each value belongs to this call's scope; the conversion checks its type.
            let view = unsafe { Uint8Array::from_napi_value(env.raw(), m.raw()) }
                .map_err(|e| error(Code::InvalidArg, format!("messages must be Uint8Arrays: {}", e.reason)))?;
            // Another thread could write a SharedArrayBuffer while we copy from it (as in fast.rs).
            // SAFETY: as above; `m` is a typed array (just converted).
            if unsafe { crate::fast::views_shared_memory(env.raw(), m.raw()) } {
                return Err(error(
                    Code::InvalidArg,
                    format!("messages[{i}] must not be backed by a SharedArrayBuffer; copy it into a Buffer first"),
                ));
            }
            Ok(view)
        })
        .collect::<Result<Vec<Uint8Array>>>()?;
    table::with(handle, |channel| Ok(channel.try_send_batch(&messages, priority).map_err(from_channel)? as u32))
}

/// `channelTrySendPacked` (a raw callback in `fast.rs`): sends messages packed back to back in
/// `packed`, message `i` being `lengths[i]` bytes long, as many as fit now, with one wake of
/// the peer. Returns how many were sent.
pub(crate) fn try_send_packed(handle: u32, packed: &[u8], lengths: &[u32], priority: u32) -> Result<u32> {
    let priority = to_priority(priority)?;
    if let [len] = *lengths {
        // One message (an echo from where it landed): no list of slices to build.
        let message = packed.get(..len as usize).ok_or_else(too_long)?;
        return table::with(handle, |channel| {
            Ok(channel.try_send_with(message, priority).map_err(from_channel)? as u32)
        });
    }
    let messages = split_packed(packed, lengths)?;
    table::with(handle, |channel| Ok(channel.try_send_batch(&messages, priority).map_err(from_channel)? as u32))
}

/// Up to `max` waiting messages, each in a new Buffer; an empty array when none is waiting.
#[napi]
pub fn channel_try_recv_batch<'env>(env: &'env Env, handle: u32, max: u32) -> Result<Vec<BufferSlice<'env>>> {
    recv_buffers(env, handle, max as usize)?
        .into_iter()
        // SAFETY: each value is a Buffer just created in this environment.
        .map(|raw| unsafe { BufferSlice::from_napi_value(env.raw(), raw) }.map_err(|e| error(Code::Os, e.to_string())))
        .collect()
}

/// Up to `max` waiting messages of channel `handle`, each copied into a new Buffer (raw
/// values, for `channel_try_recv_batch` and the raw callbacks in `fast.rs`). A message is
/// released only once its Buffer exists: if allocation fails, it stays queued, and the
/// error is returned only when nothing was received.
pub(crate) fn recv_buffers(env: &Env, handle: u32, max: usize) -> Result<Vec<sys::napi_value>> {
    let mut out = Vec::new();
    let mut failed = None;
    table::with(handle, |channel| {
        channel
            .recv_batch_while(max, |record| match js_buffer_raw(env, record) {
                Ok(buffer) => {
                    out.push(buffer);
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })
            .map_err(from_channel)
    })?;
    match failed {
        Some(e) if out.is_empty() => Err(e),
        _ => Ok(out),
    }
}

/// `channelRecvPacked` (a raw callback in `fast.rs`, which refuses overlapping arrays):
/// receives waiting messages into `target`, back to back, writing each length into `lengths`;
/// stops when the next message does not fit (it stays queued) or `lengths` is full. Returns
/// how many were received (0 when none is waiting); BufferTooSmall if not even the first fits.
pub(crate) fn recv_packed(handle: u32, target: &mut [u8], lengths: &mut [u32]) -> Result<u32> {
    let (mut offset, mut count, mut needed) = (0usize, 0usize, None);
    table::with(handle, |channel| {
        channel
            .recv_batch_while(lengths.len(), |record| {
                if record.len() > target.len() - offset {
                    if count == 0 {
                        needed = Some(record.len());
                    }
                    return false;
                }
                record.copy_to(&mut target[offset..]);
                lengths[count] = record.len() as u32;
                offset += record.len();
                count += 1;
                true
            })
            .map_err(from_channel)
    })?;
    match needed {
        Some(needed) => Err(from_channel(ChannelError::BufferTooSmall { needed })),
        None => Ok(count as u32),
    }
}

/// Splits `packed` into the messages `lengths` describe.
fn split_packed<'a>(packed: &'a [u8], lengths: &[u32]) -> Result<Vec<&'a [u8]>> {
    let mut messages = Vec::with_capacity(lengths.len());
    let mut rest = packed;
    for &len in lengths {
        let len = len as usize;
        if len > rest.len() {
            return Err(too_long());
        }
        let (message, tail) = rest.split_at(len);
        messages.push(message);
        rest = tail;
    }
    Ok(messages)
}

fn too_long() -> crate::error::Error {
    error(Code::InvalidArg, "lengths add up to more than the packed buffer holds")
}

pub(crate) fn ranges_overlap(a: usize, a_len: usize, b: usize, b_len: usize) -> bool {
    a_len > 0 && b_len > 0 && a < b + b_len && b < a + a_len
}

/// Allocates a Buffer owned by JavaScript (never an external buffer, which Electron refuses)
/// and copies the record into it.
fn js_buffer_raw(env: &Env, record: shmring_channel::Record<'_>) -> Result<sys::napi_value> {
    let len = record.len();
    let mut raw = std::ptr::null_mut();
    let mut data = std::ptr::null_mut();
    // SAFETY: `env` is the live environment of this call; the out-pointers are valid locals.
    let status = unsafe { sys::napi_create_buffer(env.raw(), len, &mut data, &mut raw) };
    if status != sys::Status::napi_ok {
        return Err(error(Code::Os, format!("cannot allocate a {len}-byte Buffer (napi status {status})")));
    }
    // Re-read the pointer from the Buffer itself (the creation out-pointer is not reliable on
    // every target, see napi-rs `buffer_data_ptr`), then copy the record into it.
    let mut info_len = 0usize;
    // SAFETY: `raw` is the Buffer just created in this scope.
    let status = unsafe { sys::napi_get_buffer_info(env.raw(), raw, &mut data, &mut info_len) };
    if status != sys::Status::napi_ok || info_len != len {
        return Err(error(Code::Os, "cannot read back a new Buffer"));
    }
    if len > 0 {
        // SAFETY: `data` points to `len` writable bytes owned by the new Buffer, which nothing
        // else references yet.
        let target = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
        record.copy_to(target);
    }
    Ok(raw)
}
