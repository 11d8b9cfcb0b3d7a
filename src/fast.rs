//! The per-message and packed calls as raw Node-API callbacks: `channelTrySend`,
//! `channelTryRecv`, `channelRecvInto`, `channelTrySendPacked` and `channelRecvPacked`.
//!
//! A `#[napi]` function pays for napi-rs's argument machinery on every call (a borrow scope
//! with a mutex, a hash map and heap vectors: about 1 000 instructions, measured with
//! callgrind), which is most of a small message's cost. These run once per message (or per
//! spin-loop poll), so they are written against Node-API directly: read the arguments, check their types, call
//! the core, convert the result. They are installed on the module's exports by
//! [`install`] (a `#[napi(module_exports)]` hook), and typed in `src/fast.d.ts`, which
//! `napi build` puts at the top of the generated `index.d.ts` (`napi.dtsHeaderFile`).
//!
//! Every callback checks every argument (wrong types throw a `TypeError` with code
//! `ERR_SHMRING_INVALID_ARG`) and never panics across the FFI boundary (a panic becomes a
//! thrown error). Received data is written to JavaScript memory with raw-pointer copies only;
//! `channelTrySend` reads its argument through a `&[u8]`, which is sound as long as no other
//! thread writes the bytes during the call: every callback refuses views on a
//! `SharedArrayBuffer` (`Call::unshared`), the one way another thread could.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use napi::bindgen_prelude::{Env, JsValue, Object};
use napi::sys;
use napi::JsError;
use napi_derive::napi;
use shmring_channel::ChannelError;

use crate::channel::to_priority;
use crate::data::recv_buffers;
use crate::error::{error, from_channel, Code, Error};
use crate::table;

/// Installs the raw callbacks on the module's exports (after napi-rs registered its items).
#[napi(module_exports)]
pub fn install(exports: Object<'_>, env: Env) -> napi::Result<()> {
    let callbacks: [(&CStr, sys::napi_callback); 5] = [
        (c"channelTrySend", Some(try_send)),
        (c"channelTryRecv", Some(try_recv)),
        (c"channelRecvInto", Some(recv_into)),
        (c"channelTrySendPacked", Some(try_send_packed)),
        (c"channelRecvPacked", Some(recv_packed)),
    ];
    for (name, callback) in callbacks {
        let mut function = ptr::null_mut();
        // SAFETY: `env` is the live environment of module initialisation; `name` is valid for
        // the length passed; `callback` is an
        // `extern "C"` function with the Node-API callback signature.
        let status = unsafe {
            sys::napi_create_function(
                env.raw(),
                name.as_ptr(),
                name.to_bytes().len() as isize,
                callback,
                ptr::null_mut(),
                &mut function,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(format!("cannot create {name:?} (napi status {status})")));
        }
        // SAFETY: `exports` and `function` are values of this environment; `name` is
        // NUL-terminated.
        let status = unsafe { sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr(), function) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason(format!("cannot export {name:?} (napi status {status})")));
        }
    }
    Ok(())
}

/// `channelTrySend(handle, data, priority)`: copies `data` into the lane; `false` when full.
unsafe extern "C" fn try_send(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: Node-API calls this with the live `env` and `info` of one JavaScript call.
    unsafe {
        guarded(env, info, |call| {
            let [handle, data, priority] = call.args::<3>()?;
            let handle = call.u32(handle, "handle")?;
            let (data, len) = call.bytes(data, "data")?;
            let priority = to_priority(call.u32(priority, "priority")?).map_err(Thrown::from)?;
            // SAFETY: `bytes` returned the live backing store of a Uint8Array of this call, not
            // on a SharedArrayBuffer (so no other thread writes it); nothing else in Rust
            // references it, and no JavaScript runs before the copy ends.
            let data = if len == 0 { &[][..] } else { std::slice::from_raw_parts(data, len) };
            let sent = table::with(handle, |channel| channel.try_send_with(data, priority).map_err(from_channel))?;
            call.boolean(sent)
        })
    }
}

/// `channelTryRecv(handle, scratch?)`: the next message, or `null` when none is waiting.
///
/// Without `scratch`, a new Buffer. With `scratch`, a message that fits is copied into it and
/// its length returned (the caller copies it into a pooled `Buffer.allocUnsafe`, far cheaper
/// than a Node-API Buffer for small messages); a longer one comes back as a new Buffer.
unsafe extern "C" fn try_recv(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `try_send`.
    unsafe {
        guarded(env, info, |call| {
            let [handle, scratch] = call.args::<2>()?;
            let handle = call.u32(handle, "handle")?;
            let scratch = call.optional_bytes(scratch, "scratch")?;
            let copied = match scratch {
                Some((target, capacity)) => table::with(handle, |channel| {
                    match channel.try_recv_within(capacity, |record| {
                        copy_out(&record, target);
                        record.len()
                    }) {
                        Ok(None) => Ok(Some(None)),
                        Ok(Some(len)) => Ok(Some(Some(len))),
                        // Longer than the scratch: it stays queued; a Buffer of its own below.
                        Err(ChannelError::BufferTooSmall { .. }) => Ok(None),
                        Err(e) => Err(from_channel(e)),
                    }
                })?,
                None => None,
            };
            match copied {
                Some(None) => return call.null(),
                Some(Some(len)) => return call.number(len as u32),
                None => {}
            }
            match recv_buffers(&Env::from_raw(env), handle, 1)?.pop() {
                Some(buffer) => Ok(buffer),
                None => call.null(),
            }
        })
    }
}

/// `channelRecvInto(handle, target)`: copies the next message into `target` and returns its
/// length, or `null`; throws ERR_SHMRING_BUFFER_TOO_SMALL (the message stays queued).
unsafe extern "C" fn recv_into(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `try_send`.
    unsafe {
        guarded(env, info, |call| {
            let [handle, target] = call.args::<2>()?;
            let handle = call.u32(handle, "handle")?;
            let (target, capacity) = call.bytes(target, "target")?;
            let received = table::with(handle, |channel| {
                channel
                    .try_recv_within(capacity, |record| {
                        copy_out(&record, target);
                        record.len()
                    })
                    .map_err(from_channel)
            })?;
            match received {
                None => call.null(),
                Some(len) => call.number(len as u32),
            }
        })
    }
}

/// `channelTrySendPacked(handle, packed, lengths, priority)`: sends the messages packed back
/// to back in `packed` (`lengths[i]` bytes each), as many as fit; returns how many.
unsafe extern "C" fn try_send_packed(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `try_send`.
    unsafe {
        guarded(env, info, |call| {
            let [handle, packed, lengths, priority] = call.args::<4>()?;
            let handle = call.u32(handle, "handle")?;
            let (packed, packed_len) = call.bytes(packed, "packed")?;
            let (lengths, count) = call.u32s(lengths, "lengths")?;
            let priority = call.u32(priority, "priority")?;
            // SAFETY: `bytes`/`u32s` returned the live backing stores of typed arrays of this
            // call (a Uint32Array's is 4-aligned); they are only read, and no JavaScript runs
            // before the copies end. Sound as in `try_send` (no other thread writes them).
            let packed = if packed_len == 0 { &[][..] } else { std::slice::from_raw_parts(packed, packed_len) };
            // SAFETY: as above.
            let lengths = if count == 0 { &[][..] } else { std::slice::from_raw_parts(lengths, count) };
            call.number(crate::data::try_send_packed(handle, packed, lengths, priority)?)
        })
    }
}

/// `channelRecvPacked(handle, target, lengths)`: receives waiting messages back to back into
/// `target` and their lengths into `lengths`; returns how many.
unsafe extern "C" fn recv_packed(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `try_send`.
    unsafe {
        guarded(env, info, |call| {
            let [handle, target, lengths] = call.args::<3>()?;
            let handle = call.u32(handle, "handle")?;
            let (target, target_len) = call.bytes(target, "target")?;
            let (lengths, count) = call.u32s(lengths, "lengths")?;
            // Refused before any slice exists: two mutable slices must never overlap.
            if crate::data::ranges_overlap(target as usize, target_len, lengths as usize, count * 4) {
                return Err(error(Code::InvalidArg, "target and lengths must not share memory").into());
            }
            // SAFETY: live backing stores of typed arrays of this call (`bytes`/`u32s`; a
            // Uint32Array's is 4-aligned), not overlapping (checked just above), written only
            // here and by no other thread (`bytes`/`u32s` refused SharedArrayBuffer views).
            let target = if target_len == 0 { &mut [][..] } else { std::slice::from_raw_parts_mut(target, target_len) };
            // SAFETY: as above.
            let lengths = if count == 0 { &mut [][..] } else { std::slice::from_raw_parts_mut(lengths, count) };
            call.number(crate::data::recv_packed(handle, target, lengths)?)
        })
    }
}

/// Whether the typed array `value` is a view on a `SharedArrayBuffer` (or its buffer cannot be
/// examined, which is treated the same: refused). For `#[napi]` functions that receive typed
/// arrays through napi-rs (`channelTrySendBatch`); the raw callbacks use `Call::unshared`.
///
/// # Safety
/// `env` is the live environment of the current call and `value` a value of its scope.
pub(crate) unsafe fn views_shared_memory(env: sys::napi_env, value: sys::napi_value) -> bool {
    let mut buffer = ptr::null_mut();
    // SAFETY: the contract above; only the buffer is asked for (the other outputs may be null).
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            value,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            &mut buffer,
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        return true;
    }
    let mut is_array_buffer = false;
    // SAFETY: `buffer` was just returned for this call (status ok); the out-pointer is a valid local.
    let status = unsafe { sys::napi_is_arraybuffer(env, buffer, &mut is_array_buffer) };
    status != sys::Status::napi_ok || !is_array_buffer
}

/// Copies a record's payload to `target`, which `try_recv_within` checked has room for it
/// (`target` comes from `Call::bytes` and may be null only when its length is 0).
fn copy_out(record: &shmring_channel::Record<'_>, target: *mut u8) {
    if record.is_empty() {
        return;
    }
    // SAFETY: `target` is non-null and valid for at least `record.len()` bytes (the caller's
    // `try_recv_within(capacity, ..)` refused longer records; `Call::bytes` returned the live
    // backing store of a Uint8Array of this call); the record was validated to lie in the
    // mapping. A raw copy: no Rust reference to JavaScript memory is formed.
    unsafe { ptr::copy_nonoverlapping(record.as_ptr(), target, record.len()) }
}

/// What a byte argument must be, for error messages.
const UINT8_ARRAY: &str = "a Uint8Array or Buffer";

/// Why a callback returns early: an error to throw, or one already thrown.
///
/// The error is boxed: `Result<_, Thrown>` is returned by every argument helper on the fast
/// path, and a small error type keeps those results in registers.
enum Thrown {
    Error(Box<Error>),
    Pending,
}

impl From<Error> for Thrown {
    #[cold]
    fn from(e: Error) -> Thrown {
        Thrown::Error(Box::new(e))
    }
}

/// A typed-array argument as Node-API describes it.
struct TypedArrayView {
    kind: sys::napi_typedarray_type,
    data: *mut std::ffi::c_void,
    len: usize,
    /// On a `SharedArrayBuffer` (another thread may write it at any time).
    shared: bool,
}

/// One JavaScript call's environment and callback info.
struct Call {
    env: sys::napi_env,
    info: sys::napi_callback_info,
}

/// Runs `body`, turning an error into a thrown exception and a panic into a thrown error
/// (a panic must not unwind into Node).
///
/// # Safety
/// `env` and `info` are the live arguments of a Node-API callback.
unsafe fn guarded(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: impl FnOnce(&Call) -> Result<sys::napi_value, Thrown>,
) -> sys::napi_value {
    let call = Call { env, info };
    let error = match catch_unwind(AssertUnwindSafe(|| body(&call))) {
        Ok(Ok(value)) => return value,
        Ok(Err(Thrown::Pending)) => return ptr::null_mut(),
        Ok(Err(Thrown::Error(e))) => *e,
        Err(_) => error(Code::Os, "internal error in shmring (a bug: please report it with `npx shmring doctor`)"),
    };
    // SAFETY: `env` is live (this function's contract). If an exception is already pending
    // (a Node-API call inside `body` threw), napi-rs's `throw_into` leaves it in place.
    unsafe { JsError::from(error).throw_into(env) };
    ptr::null_mut()
}

impl Call {
    /// The first `N` arguments; missing ones are `undefined`.
    #[inline]
    fn args<const N: usize>(&self) -> Result<[sys::napi_value; N], Thrown> {
        let mut argv = [ptr::null_mut(); N];
        let mut argc = N;
        // SAFETY: `argv` has room for `argc` values; Node-API fills missing ones with `undefined`.
        let status = unsafe {
            sys::napi_get_cb_info(self.env, self.info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut())
        };
        self.check(status)?;
        Ok(argv)
    }

    #[inline]
    fn u32(&self, value: sys::napi_value, name: &str) -> Result<u32, Thrown> {
        let mut out = 0;
        // SAFETY: `value` belongs to this call; `out` is a valid local.
        match unsafe { sys::napi_get_value_uint32(self.env, value, &mut out) } {
            sys::Status::napi_ok => Ok(out),
            _ => Err(self.wrong_type(name, "a number")),
        }
    }

    /// The bytes of a `Uint8Array` (a Buffer is one): start pointer and length.
    #[inline]
    fn bytes(&self, value: sys::napi_value, name: &str) -> Result<(*mut u8, usize), Thrown> {
        match self.optional_bytes(value, name)? {
            Some(bytes) => Ok(bytes),
            None => Err(self.wrong_type(name, UINT8_ARRAY)),
        }
    }

    /// `bytes`, or `None` for `undefined`. The typed array is looked for first, so a present
    /// argument costs one Node-API call.
    #[inline]
    fn optional_bytes(&self, value: sys::napi_value, name: &str) -> Result<Option<(*mut u8, usize)>, Thrown> {
        match self.typed_array_info(value)? {
            Some(view)
                if matches!(view.kind, sys::TypedarrayType::uint8_array | sys::TypedarrayType::uint8_clamped_array) =>
            {
                let (data, len) = self.unshared(view, name)?;
                Ok(Some((data.cast::<u8>(), len)))
            }
            None if self.is_undefined(value)? => Ok(None),
            _ => Err(self.wrong_type(name, UINT8_ARRAY)),
        }
    }

    /// The elements of a `Uint32Array`: start pointer (4-aligned) and length in elements.
    #[inline]
    fn u32s(&self, value: sys::napi_value, name: &str) -> Result<(*mut u32, usize), Thrown> {
        match self.typed_array_info(value)? {
            Some(view) if view.kind == sys::TypedarrayType::uint32_array => {
                let (data, len) = self.unshared(view, name)?;
                Ok((data.cast::<u32>(), len))
            }
            _ => Err(self.wrong_type(name, "a Uint32Array")),
        }
    }

    /// A wrong argument type: the message is formatted only here (formatting it on every
    /// call cost a tenth of a poll).
    #[cold]
    fn wrong_type(&self, name: &str, expected: &str) -> Thrown {
        self.type_error(&format!("{name} must be {expected}"))
    }

    /// Start pointer and length of `view`, refused if it is on a `SharedArrayBuffer`: another
    /// thread could write it while we copy, and we hand these bytes to Rust as slices. Checked
    /// here rather than in the TypeScript layer, where reading `.buffer` costs a C++ call.
    fn unshared(&self, view: TypedArrayView, name: &str) -> Result<(*mut std::ffi::c_void, usize), Thrown> {
        if view.shared {
            return Err(self.type_error(&format!(
                "{name} must not be backed by a SharedArrayBuffer; copy it into a Buffer first"
            )));
        }
        Ok((view.data, view.len))
    }

    #[inline]
    /// What `value` is as a typed array, or `None` if it is not one. `napi_get_typedarray_info`
    /// answers `napi_invalid_arg` (throwing nothing) for any other value, so no
    /// `napi_is_typedarray` first.
    fn typed_array_info(&self, value: sys::napi_value) -> Result<Option<TypedArrayView>, Thrown> {
        let (mut kind, mut len, mut data, mut buffer) = (0, 0usize, ptr::null_mut(), ptr::null_mut());
        // SAFETY: `value` belongs to this call; the out-pointers are valid locals (Node-API
        // accepts null for the byte offset, which we do not need).
        let status = unsafe {
            sys::napi_get_typedarray_info(self.env, value, &mut kind, &mut len, &mut data, &mut buffer, ptr::null_mut())
        };
        if status == sys::Status::napi_invalid_arg {
            return Ok(None);
        }
        self.check(status)?;
        // V8's IsArrayBuffer (behind napi_is_arraybuffer) is false for a SharedArrayBuffer.
        let mut is_array_buffer = false;
        // SAFETY: `buffer` was just returned for this call; the out-pointer is a valid local.
        self.check(unsafe { sys::napi_is_arraybuffer(self.env, buffer, &mut is_array_buffer) })?;
        // A detached view reports no data and length 0: treat it as empty.
        let len = if data.is_null() { 0 } else { len };
        Ok(Some(TypedArrayView { kind, data, len, shared: !is_array_buffer }))
    }

    #[inline]
    fn is_undefined(&self, value: sys::napi_value) -> Result<bool, Thrown> {
        let mut kind = 0;
        // SAFETY: `value` belongs to this call; the out-pointer is a valid local.
        self.check(unsafe { sys::napi_typeof(self.env, value, &mut kind) })?;
        Ok(kind == sys::ValueType::napi_undefined)
    }

    #[inline]
    fn null(&self) -> Result<sys::napi_value, Thrown> {
        let mut out = ptr::null_mut();
        // SAFETY: the out-pointer is a valid local.
        self.check(unsafe { sys::napi_get_null(self.env, &mut out) })?;
        Ok(out)
    }

    #[inline]
    fn number(&self, value: u32) -> Result<sys::napi_value, Thrown> {
        let mut out = ptr::null_mut();
        // SAFETY: the out-pointer is a valid local.
        self.check(unsafe { sys::napi_create_uint32(self.env, value, &mut out) })?;
        Ok(out)
    }

    #[inline]
    fn boolean(&self, value: bool) -> Result<sys::napi_value, Thrown> {
        let mut out = ptr::null_mut();
        // SAFETY: the out-pointer is a valid local.
        self.check(unsafe { sys::napi_get_boolean(self.env, value, &mut out) })?;
        Ok(out)
    }

    #[inline]
    fn check(&self, status: sys::napi_status) -> Result<(), Thrown> {
        if status == sys::Status::napi_ok {
            return Ok(());
        }
        Err(self.failed(status))
    }

    /// Why a Node-API call did not return `napi_ok`.
    #[cold]
    fn failed(&self, status: sys::napi_status) -> Thrown {
        // A pending exception (e.g. a getter that threw) propagates as it is.
        let mut pending = false;
        // SAFETY: the out-pointer is a valid local.
        unsafe { sys::napi_is_exception_pending(self.env, &mut pending) };
        if pending {
            return Thrown::Pending;
        }
        error(Code::Os, format!("Node-API call failed (status {status})")).into()
    }

    fn type_error(&self, message: &str) -> Thrown {
        let message = std::ffi::CString::new(message).unwrap_or_default();
        let code: *const c_char = c"ERR_SHMRING_INVALID_ARG".as_ptr();
        // SAFETY: both strings are NUL-terminated and outlive the call.
        unsafe { sys::napi_throw_type_error(self.env, code, message.as_ptr()) };
        Thrown::Pending
    }
}
