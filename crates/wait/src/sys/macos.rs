//! macOS backend: the kernel's shared-address wait queues ("ulocks"), reached through
//! `os_sync_wait_on_address*` when the OS has them, else through `__ulock_*`.
//!
//! **Type-checked here with ci/cross-check.sh, run only in the GitHub workflow.** Written against XNU's `bsd/sys/ulock.h` + `bsd/kern/sys_ulock.c` and the
//! `os/os_sync_wait_on_address.h` constants as declared by the `libc` crate.
//!
//! * macOS 14.4+: `os_sync_wait_on_address_with_timeout(addr, expected, 4,
//!   OS_SYNC_WAIT_ON_ADDRESS_SHARED, OS_CLOCK_MACH_ABSOLUTE_TIME, timeout_ns)` (relative
//!   nanoseconds, must be non-zero), `os_sync_wait_on_address` for no limit, and
//!   `os_sync_wake_by_address_any/all(addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED)`. These are
//!   public API, but only since 14.4, so they are looked up with `dlsym` once (a direct
//!   reference would fail to load on older systems).
//! * Older systems, or `--cfg shmring_force_fallback`: `__ulock_wait2` (macOS 11+, timeout in
//!   ns, 0 = none) or `__ulock_wait` (10.12+, timeout in µs as `u32`, 0 = none) with
//!   `UL_COMPARE_AND_WAIT_SHARED`, and `__ulock_wake` with `ULF_WAKE_ALL` for `wake_all`.
//!   These are private but ABI-stable (libc++'s `atomic::wait` uses them); they are looked up
//!   with `dlsym` too, so a system without them gets `Unsupported` instead of a load failure.
//!
//! Why SHARED: the plain variants key waiters by (task, address) and never see another
//! process; the SHARED ones key by (VM object, offset), like a Linux shared futex.
//! Both families reach the same kernel ulock table; mixing them on one word across two
//! processes is expected to work but is not relied on (both sides run this same code).
//!
//! Results: `>= 0` → `Woken` (the kernel also returns success when the word already differs;
//! `wait()` in lib.rs checks the word first, so that case is rare and harmless), `ETIMEDOUT` →
//! `TimedOut`, `EINTR` → retry within the remaining time, `EFAULT` → `Woken` (XNU returns it
//! when the page is not resident; the caller re-reads the word, which faults it in). Wake:
//! `ENOENT` means nobody was waiting and is not an error.

use std::ffi::{c_int, c_void, CStr};
use std::io;
use std::mem;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{WaitResult, Word};

// <os/clock.h>, <os/os_sync_wait_on_address.h>
const OS_CLOCK_MACH_ABSOLUTE_TIME: u32 = 32;
const OS_SYNC_WAIT_ON_ADDRESS_SHARED: u32 = 1;
const OS_SYNC_WAKE_BY_ADDRESS_SHARED: u32 = 1;
// XNU bsd/sys/ulock.h
const UL_COMPARE_AND_WAIT_SHARED: u32 = 3;
const ULF_WAKE_ALL: u32 = 0x0000_0100;

type OsSyncWait = unsafe extern "C" fn(*mut c_void, u64, usize, u32) -> c_int;
type OsSyncWaitTimeout = unsafe extern "C" fn(*mut c_void, u64, usize, u32, u32, u64) -> c_int;
type OsSyncWake = unsafe extern "C" fn(*mut c_void, usize, u32) -> c_int;
type UlockWait2 = unsafe extern "C" fn(u32, *mut c_void, u64, u64, u64) -> c_int;
type UlockWait = unsafe extern "C" fn(u32, *mut c_void, u64, u32) -> c_int;
type UlockWake = unsafe extern "C" fn(u32, *mut c_void, u64) -> c_int;

enum Api {
    OsSync { wait: OsSyncWait, wait_timeout: OsSyncWaitTimeout, wake_any: OsSyncWake, wake_all: OsSyncWake },
    Ulock { wait2: Option<UlockWait2>, wait: UlockWait, wake: UlockWake },
}

/// Nothing: the kernel finds the waiters through the shared VM object.
#[derive(Debug)]
pub(crate) struct Notifier;

impl Notifier {
    pub(crate) fn new() -> io::Result<Notifier> {
        api().map(|_| Notifier)
    }

    pub(crate) fn create_named(_name: &str) -> io::Result<Notifier> {
        Notifier::new()
    }

    pub(crate) fn open_named(_name: &str) -> io::Result<Notifier> {
        Notifier::new()
    }
}

/// `dlsym(RTLD_DEFAULT, name)` as a function pointer of type `$ty`, or `None`.
macro_rules! lookup {
    ($name:literal as $ty:ty) => {{
        let name: &CStr = $name;
        // SAFETY: `name` is a NUL-terminated C string; RTLD_DEFAULT searches the loaded images.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
        if p.is_null() {
            None
        } else {
            // SAFETY: `p` is the address of the exported function `name`, whose C signature
            // (XNU ulock.h / os_sync_wait_on_address.h) is exactly `$ty`.
            Some(unsafe { mem::transmute::<*mut c_void, $ty>(p) })
        }
    }};
}

fn api() -> io::Result<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(|| {
        let os_sync = if cfg!(shmring_force_fallback) {
            None
        } else {
            Some((
                lookup!(c"os_sync_wait_on_address" as OsSyncWait),
                lookup!(c"os_sync_wait_on_address_with_timeout" as OsSyncWaitTimeout),
                lookup!(c"os_sync_wake_by_address_any" as OsSyncWake),
                lookup!(c"os_sync_wake_by_address_all" as OsSyncWake),
            ))
        };
        if let Some((Some(wait), Some(wait_timeout), Some(wake_any), Some(wake_all))) = os_sync {
            return Some(Api::OsSync { wait, wait_timeout, wake_any, wake_all });
        }
        Some(Api::Ulock {
            wait2: lookup!(c"__ulock_wait2" as UlockWait2),
            wait: lookup!(c"__ulock_wait" as UlockWait)?,
            wake: lookup!(c"__ulock_wake" as UlockWake)?,
        })
    })
    .as_ref()
    .ok_or_else(|| {
        io::Error::new(io::ErrorKind::Unsupported, "neither os_sync_wait_on_address nor __ulock_wait is available")
    })
}

pub(crate) fn wait(word: &Word<'_>, expected: u32, timeout: Option<Duration>) -> io::Result<WaitResult> {
    let api = api()?;
    let addr = word.value().as_ptr().cast::<c_void>();
    let value = u64::from(expected);
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        // Remaining time in ns, at least 1 (0 would mean "no limit" or EINVAL below).
        let remaining_ns = match deadline {
            None => None,
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX).max(1)),
                _ => return Ok(WaitResult::TimedOut),
            },
        };
        let flags = OS_SYNC_WAIT_ON_ADDRESS_SHARED;
        let op = UL_COMPARE_AND_WAIT_SHARED;
        // SAFETY (all four calls): `addr` comes from a live, 4-byte aligned `&AtomicU32`
        // borrowed by `word` for this call; size 4 and the SHARED flag/opcode match it; the
        // function was resolved by `api()` with this exact C signature. The kernel only
        // reads the word.
        let r = match (api, remaining_ns) {
            // SAFETY: see above.
            (Api::OsSync { wait, .. }, None) => unsafe { wait(addr, value, 4, flags) },
            (Api::OsSync { wait_timeout, .. }, Some(ns)) => {
                let clock = OS_CLOCK_MACH_ABSOLUTE_TIME;
                // SAFETY: see above; `ns` is non-zero as the function requires.
                unsafe { wait_timeout(addr, value, 4, flags, clock, ns) }
            }
            (Api::Ulock { wait2: Some(wait2), .. }, ns) => {
                // SAFETY: see above; timeout 0 means "no limit", `ns` is never 0 otherwise.
                unsafe { wait2(op, addr, value, ns.unwrap_or(0), 0) }
            }
            (Api::Ulock { wait, .. }, ns) => {
                // µs, rounded up, capped at u32::MAX (~71 min; the caller loops).
                let us = ns.map_or(0, |ns| u32::try_from(ns.div_ceil(1000)).unwrap_or(u32::MAX));
                // SAFETY: see above; timeout 0 means "no limit", `us` is never 0 otherwise.
                unsafe { wait(op, addr, value, us) }
            }
        };
        if r >= 0 {
            return Ok(WaitResult::Woken);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ETIMEDOUT) => return Ok(WaitResult::TimedOut),
            Some(libc::EFAULT) => return Ok(WaitResult::Woken),
            _ => return Err(err),
        }
    }
}

pub(crate) fn wake_one(word: &Word<'_>) -> io::Result<()> {
    wake(word, false)
}

pub(crate) fn wake_all(word: &Word<'_>) -> io::Result<()> {
    wake(word, true)
}

fn wake(word: &Word<'_>, all: bool) -> io::Result<()> {
    let api = api()?;
    let addr = word.value().as_ptr().cast::<c_void>();
    // SAFETY (all three calls): as in `wait`, `addr` is a live aligned 4-byte word and the
    // functions have these signatures; waking only uses the address as a key.
    let r = match api {
        // SAFETY: see above.
        Api::OsSync { wake_all, .. } if all => unsafe { wake_all(addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED) },
        // SAFETY: see above.
        Api::OsSync { wake_any, .. } => unsafe { wake_any(addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED) },
        Api::Ulock { wake, .. } => {
            let flags = if all { ULF_WAKE_ALL } else { 0 };
            // SAFETY: see above; wake_value is unused without ULF_WAKE_THREAD.
            unsafe { wake(UL_COMPARE_AND_WAIT_SHARED | flags, addr, 0) }
        }
    };
    if r >= 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOENT) => Ok(()), // nobody was waiting
        _ => Err(err),
    }
}
