//! Linux: the doorbells without a thread. The JavaScript thread's event loop sleeps on a
//! channel's futex word itself: an io_uring `FUTEX_WAIT` (Linux 6.7+) whose ring descriptor
//! libuv polls with the loop's other descriptors (a `uv_poll_t`). The peer's `FUTEX_WAKE` then
//! wakes the event loop directly — one wake-up of a sleeping CPU instead of two (the doorbell
//! thread's, then the loop's; docs/DECISIONS.md §25 has the measurements). Used for both
//! doorbells of a channel: data ready (`recv()`, `'message'`) and room ready (`send()`).
//!
//! * One ring per JavaScript thread (main or worker), shared by the thread's channels, made
//!   on the first watch and closed by the environment's async cleanup hook (`uv_close` needs
//!   the loop to run once more, which a plain cleanup hook does not allow). It belongs to the
//!   Node environment that made it: another environment on the same thread (an embedder's,
//!   Electron subframes) uses doorbell threads.
//! * The protocol is the one of `shmring_wait::park`, split in two: the watch's `begin_sleep`
//!   announces PARKED and re-checks; the kernel's futex compare and sleep is step w4; the
//!   completion runs `end_sleep`. Each wait is linked to a timeout of the watch's slice, after
//!   which the peer's liveness is checked, as a sleeping thread would.
//! * Ringing calls JavaScript straight from the poll callback (`napi_make_callback`, like a
//!   socket's `'data'`); a ring due while JavaScript is on the stack (inside `arm`) goes through
//!   a threadsafe function instead, so it runs on a later turn, never re-entrantly.
//! * Where anything is missing — no io_uring (old kernel, `io_uring_disabled`, a seccomp
//!   filter), no `FUTEX_WAIT` opcode, libuv symbols not found — or `SHMRING_WAKE=thread` is set,
//!   [`LoopBell::start`] returns `None` and the caller uses a doorbell thread (`doorbell.rs`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr};
use std::rc::Rc;
use std::sync::Arc;

use io_uring::{opcode, types, IoUring};
use napi::bindgen_prelude::{Function, JsValue};
use napi::sys;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Env;
use shmring_channel::{DataWatch, Readiness, RoomWatch};

type Bell = ThreadsafeFunction<(), (), (), napi::Status, false, true>;

/// Submission queue size (the completion queue is twice as large); more channels than this
/// may sleep at once: completions beyond the queue wait in the kernel (see `reap`).
const RING_ENTRIES: u32 = 256;
/// `user_data` bit of a wait's linked timeout (the wait itself carries the bell id alone).
const TIMEOUT_TAG: u64 = 1 << 63;
/// `user_data` bit of a cancellation of a bell's wait (its completion is ignored).
const CANCEL_TAG: u64 = 1 << 62;
/// futex2 flags: a 32-bit word, shared between processes (not `FUTEX2_PRIVATE`).
const FUTEX2_SIZE_U32: u32 = 0x02;
/// After this many failed waits in a row a bell stops using futex waits and polls by timer.
const FAILURES_BEFORE_POLLING: u32 = 8;
/// The poll interval of a bell whose futex waits keep failing (never seen; a safety net).
const FALLBACK_POLL: std::time::Duration = std::time::Duration::from_millis(10);
/// A polling bell tries a futex wait again after this many timer rounds (about a second).
const POLLS_BEFORE_RETRY: u32 = 100;
/// Tries of one `io_uring_enter` that the kernel refused for a passing reason.
const SUBMIT_TRIES: u32 = 3;

/// What a loop bell waits for: data in a channel's inbound lanes, or room in its outbound
/// lanes (released since the arm token, a `RoomWatch::snapshot`).
pub enum Watched {
    Data(Arc<DataWatch>),
    Room(Arc<RoomWatch>),
}

impl Watched {
    fn begin_sleep(&self, token: [u64; 3]) -> Option<Readiness> {
        match self {
            Watched::Data(watch) => watch.begin_sleep(),
            Watched::Room(watch) => watch.begin_sleep(token),
        }
    }

    fn end_sleep(&self, token: [u64; 3], slice_over: bool) -> Option<Readiness> {
        match self {
            Watched::Data(watch) => watch.end_sleep(slice_over),
            Watched::Room(watch) => watch.end_sleep(token, slice_over),
        }
    }

    fn futex_word(&self) -> &shmring_wait::AtomicU32 {
        match self {
            Watched::Data(watch) => watch.futex_word(),
            Watched::Room(watch) => watch.futex_word(),
        }
    }

    fn sleep_slice(&self) -> std::time::Duration {
        match self {
            Watched::Data(watch) => watch.sleep_slice(),
            Watched::Room(watch) => watch.sleep_slice(),
        }
    }

    fn cancel(&self) {
        match self {
            Watched::Data(watch) => watch.cancel(),
            Watched::Room(watch) => watch.cancel(),
        }
    }
}

/// One doorbell (data or room) of one channel, run by this thread's event loop.
pub struct LoopBell {
    bell: Rc<BellState>,
    ring: Rc<LoopRing>,
}

struct BellState {
    id: u64,
    watch: Watched,
    /// The arm token (room: the released counters when the send found the lane full).
    token: Cell<[u64; 3]>,
    on_ready: RefCell<Option<Bell>>,
    /// The same JavaScript function, called directly from the loop (`call_directly`); null
    /// once stopped.
    callback: Cell<sys::napi_ref>,
    /// The async context the function is called in: the one `start` was called in, as a
    /// socket's callbacks run in its creator's (async_hooks, AsyncLocalStorage). Null if it
    /// could not be made (then no resource), and once stopped.
    async_context: Cell<sys::napi_async_context>,
    /// JavaScript asked to be called once more (`arm`), and has not been yet.
    armed: Cell<bool>,
    /// A futex wait (or fallback timer) of this bell is in the kernel.
    sleeping: Cell<bool>,
    keep_alive: Cell<bool>,
    stopped: Cell<bool>,
    /// Failed waits in a row (see `FAILURES_BEFORE_POLLING`).
    failures: Cell<u32>,
    /// Timer rounds since this bell last tried a futex wait (see `POLLS_BEFORE_RETRY`).
    polls: Cell<u32>,
}

/// The ring of one JavaScript thread and the libuv handle that polls it.
struct LoopRing {
    /// Declared first, so dropped first: the kernel reads `timespecs` while it takes entries.
    ring: RefCell<IoUring>,
    /// Entries were queued that the kernel has not taken yet (a refused `io_uring_enter`).
    unsubmitted: Cell<bool>,
    /// The durations timeouts point at, one box per distinct duration, never freed before
    /// the ring: an entry may reach the kernel after its bell has stopped.
    timespecs: RefCell<Vec<(std::time::Duration, Box<types::Timespec>)>>,
    /// `uv_poll_t`, allocated with `uv_handle_size`; freed by `on_closed`. Null once closed.
    poll: Cell<*mut c_void>,
    uv: &'static Uv,
    bells: RefCell<HashMap<u64, Rc<BellState>>>,
    next_id: Cell<u64>,
    /// Bells that keep the loop alive; the poll handle is referenced while this is not 0.
    refs: Cell<usize>,
    env: sys::napi_env,
    cleanup: Cell<sys::napi_async_cleanup_hook_handle>,
    /// No JavaScript is on the stack: the poll callback runs and has not called out yet.
    js_idle: Cell<bool>,
}

/// This thread's ring and the environment it belongs to, or why that environment has none.
type RingSlot = Option<(sys::napi_env, Result<Rc<LoopRing>, &'static str>)>;

thread_local! {
    /// `None` until first needed. Stays `Err` for an environment being (or that was) torn
    /// down, so that nothing makes a new ring for it.
    static RING: RefCell<RingSlot> = const { RefCell::new(None) };
}

impl LoopBell {
    /// Starts watching: after each `arm`, `on_ready` is called once when data is probably
    /// waiting or the channel ended. `None` where the event loop cannot wait on futexes (see
    /// the module doc): use the doorbell thread.
    pub fn start(env: &Env, on_ready: Function<'_, (), ()>, watch: Watched) -> Option<LoopBell> {
        let ring = this_thread_ring(env).ok()?;
        let function = on_ready.raw();
        let on_ready: Bell =
            on_ready.build_threadsafe_function::<()>().callee_handled::<false>().weak::<true>().build().ok()?;
        let mut callback = std::ptr::null_mut();
        // SAFETY: `env` and `function` belong to the current JavaScript call; the reference is
        // deleted in `LoopRing::stop`, on this thread.
        if unsafe { sys::napi_create_reference(env.raw(), function, 1, &mut callback) } != sys::Status::napi_ok {
            return None;
        }
        let async_context = async_context(env, &watch);
        let id = ring.next_id.get();
        ring.next_id.set(id + 1);
        let bell = Rc::new(BellState {
            id,
            watch,
            token: Cell::new([0; 3]),
            on_ready: RefCell::new(Some(on_ready)),
            callback: Cell::new(callback),
            async_context: Cell::new(async_context),
            armed: Cell::new(false),
            sleeping: Cell::new(false),
            keep_alive: Cell::new(false),
            stopped: Cell::new(false),
            failures: Cell::new(0),
            polls: Cell::new(0),
        });
        ring.bells.borrow_mut().insert(id, Rc::clone(&bell));
        Some(LoopBell { bell, ring })
    }

    /// Lets the bell ring once more, with `token` (see [`Watched`]); it rings when the
    /// condition holds (perhaps at once, on a later turn of the loop).
    pub fn arm(&self, token: [u64; 3]) {
        let bell = &self.bell;
        if bell.stopped.get() {
            return;
        }
        bell.token.set(token);
        if bell.armed.replace(true) || bell.sleeping.get() {
            // A wait the kernel refused to take earlier may pass now; while it does not, the
            // bell rings on every turn of the loop (JavaScript looks and re-arms) rather than
            // sleep on a wait that is not in the kernel.
            self.ring.flush_unsubmitted();
            if bell.sleeping.get() && self.ring.unsubmitted.get() {
                bell.failures.set(bell.failures.get() + 1);
                self.ring.ring(bell, Readiness::Ready);
            }
            return;
        }
        self.ring.sleep_or_ring(bell);
    }

    /// Whether the bell keeps the event loop alive (like a socket with a pending read).
    pub fn set_ref(&self, keep_alive: bool) {
        let bell = &self.bell;
        if bell.stopped.get() || bell.keep_alive.replace(keep_alive) == keep_alive {
            return;
        }
        if let Some(on_ready) = &*bell.on_ready.borrow() {
            // SAFETY: `on_ready` is alive (held here); this is its environment's JS thread
            // (bells are made and used only there).
            unsafe {
                if keep_alive {
                    sys::napi_ref_threadsafe_function(self.ring.env, on_ready.raw());
                } else {
                    sys::napi_unref_threadsafe_function(self.ring.env, on_ready.raw());
                }
            }
        }
        let refs = self.ring.refs.get();
        self.ring.set_refs(if keep_alive { refs + 1 } else { refs.saturating_sub(1) });
    }

    /// Stops the bell: no more rings. A wait still in the kernel is woken and its completion
    /// ignored. Idempotent.
    pub fn stop(&self) {
        self.ring.stop(&self.bell);
    }
}

impl Drop for LoopBell {
    fn drop(&mut self) {
        self.stop();
    }
}

impl LoopRing {
    /// Announces this side parked and submits the futex wait, or rings at once if no sleep
    /// is needed.
    fn sleep_or_ring(&self, bell: &BellState) {
        if bell.failures.get() >= FAILURES_BEFORE_POLLING {
            let polls = bell.polls.get() + 1;
            if polls < POLLS_BEFORE_RETRY {
                bell.polls.set(polls);
                return self.submit_timer(bell);
            }
            // Once in a while a futex wait again: one that works ends the polling, one that
            // fails comes back here.
            bell.polls.set(0);
            bell.failures.set(FAILURES_BEFORE_POLLING - 1);
        }
        match bell.watch.begin_sleep(bell.token.get()) {
            Some(readiness) => self.ring(bell, readiness),
            None => self.submit_wait(bell),
        }
    }

    fn submit_wait(&self, bell: &BellState) {
        let slice = self.timespec(bell.watch.sleep_slice());
        let word = bell.watch.futex_word().as_ptr().cast_const();
        let wait = opcode::FutexWait::new(word, u64::from(shmring_wait::PARKED), u64::from(u32::MAX), FUTEX2_SIZE_U32)
            .build()
            .flags(io_uring::squeue::Flags::IO_LINK)
            .user_data(bell.id);
        let timeout = opcode::LinkTimeout::new(slice).build().user_data(bell.id | TIMEOUT_TAG);
        self.push(bell, &[wait, timeout]);
    }

    /// The safety net of a bell whose waits keep failing: look again after a short sleep.
    fn submit_timer(&self, bell: &BellState) {
        let timer = opcode::Timeout::new(self.timespec(FALLBACK_POLL)).build().user_data(bell.id);
        self.push(bell, &[timer]);
    }

    /// A timespec of `duration` that lives as long as the ring (see `timespecs`).
    fn timespec(&self, duration: std::time::Duration) -> *const types::Timespec {
        let mut timespecs = self.timespecs.borrow_mut();
        if let Some((_, timespec)) = timespecs.iter().find(|(d, _)| *d == duration) {
            return &**timespec;
        }
        let timespec = Box::new(types::Timespec::from(duration));
        let pointer: *const types::Timespec = &*timespec;
        timespecs.push((duration, timespec));
        pointer
    }

    fn push(&self, bell: &BellState, entries: &[io_uring::squeue::Entry]) {
        let mut ring = self.ring.borrow_mut();
        // SAFETY: what the entries point at outlives the kernel's use of it. The timespecs are
        // this ring's (`timespec`), freed only after the io_uring is closed (field order), and
        // the kernel copies them when it takes the entry. The futex word's address is only
        // looked at by the kernel: if the channel's mapping is gone by the time the entry is
        // taken, the wait completes with an error (EFAULT) for a bell that no longer exists.
        let mut pushed = unsafe { ring.submission().push_multiple(entries) }.is_ok();
        if !pushed && submit_queued(&mut ring) {
            // SAFETY: as above.
            pushed = unsafe { ring.submission().push_multiple(entries) }.is_ok();
        }
        if !pushed {
            // A submission queue full of entries the kernel refuses (never seen).
            drop(ring);
            bell.failures.set(bell.failures.get() + 1);
            return self.ring(bell, Readiness::Ready);
        }
        // Queued: from here the wait is this bell's, whenever the kernel takes it.
        bell.sleeping.set(true);
        let submitted = submit_queued(&mut ring);
        drop(ring);
        self.unsubmitted.set(!submitted);
        if !submitted {
            // The entries wait in the queue for the next `io_uring_enter` that passes (any
            // push, a completion, a re-arm: `flush_unsubmitted`). Meanwhile JavaScript looks.
            bell.failures.set(bell.failures.get() + 1);
            self.ring(bell, Readiness::Ready);
        }
    }

    /// Cancels the wait of bell `id` (if still in the kernel, it completes with ECANCELED).
    fn cancel_wait(&self, id: u64) {
        let mut ring = self.ring.borrow_mut();
        let cancel = opcode::AsyncCancel::new(id).build().user_data(id | CANCEL_TAG);
        // SAFETY: the entry points at no memory.
        if unsafe { ring.submission().push(&cancel) }.is_ok() {
            self.unsubmitted.set(!submit_queued(&mut ring));
        }
    }

    /// Hands the kernel the entries an earlier refused `io_uring_enter` left queued.
    fn flush_unsubmitted(&self) {
        if self.unsubmitted.get() {
            let submitted = submit_queued(&mut self.ring.borrow_mut());
            self.unsubmitted.set(!submitted);
        }
    }

    /// Calls JavaScript if it asked to be called: at once from the poll callback, else (from
    /// `arm`, with JavaScript on the stack) on a later turn through the threadsafe function.
    fn ring(&self, bell: &BellState, readiness: Readiness) {
        if readiness == Readiness::Cancelled || !bell.armed.replace(false) {
            return;
        }
        if self.js_idle.get() && self.call_directly(bell) {
            return;
        }
        if let Some(on_ready) = &*bell.on_ready.borrow() {
            on_ready.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// Calls the bell's function from the poll callback, as Node calls a socket's `'data'`
    /// listener: in a handle scope and the bell's async context (`napi_make_callback` runs
    /// the microtasks and `process.nextTick` queue after it). A throw becomes an uncaught
    /// exception, as from any event-loop callback. `false` if the call could not be attempted
    /// (then the caller rings through the threadsafe function instead).
    fn call_directly(&self, bell: &BellState) -> bool {
        let callback = bell.callback.get();
        if callback.is_null() {
            return false;
        }
        let env = self.env;
        let mut called = false;
        self.js_idle.set(false);
        // SAFETY: we are on the JS thread of `env`, in a libuv callback with no JavaScript on
        // the stack (`js_idle`), and the environment is alive (its cleanup hook stops every
        // bell, nulling `callback`, before it goes). `callback` and the bell's async context
        // were made in this environment; every napi_value lives in the handle scope opened here.
        unsafe {
            let mut scope = std::ptr::null_mut();
            if sys::napi_open_handle_scope(env, &mut scope) == sys::Status::napi_ok {
                let (mut function, mut receiver, mut result) =
                    (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
                if sys::napi_get_reference_value(env, callback, &mut function) == sys::Status::napi_ok
                    && !function.is_null()
                    && sys::napi_get_global(env, &mut receiver) == sys::Status::napi_ok
                {
                    // From here the function may have run, whatever the status says.
                    called = true;
                    sys::napi_make_callback(
                        env,
                        bell.async_context.get(),
                        receiver,
                        function,
                        0,
                        std::ptr::null(),
                        &mut result,
                    );
                    let mut pending = false;
                    sys::napi_is_exception_pending(env, &mut pending);
                    if pending {
                        let mut error = std::ptr::null_mut();
                        if sys::napi_get_and_clear_last_exception(env, &mut error) == sys::Status::napi_ok {
                            sys::napi_fatal_exception(env, error);
                        }
                    }
                }
                sys::napi_close_handle_scope(env, scope);
            }
        }
        self.js_idle.set(true);
        called
    }

    /// Completions: wake the bells whose waits ended (from the poll callback).
    fn reap(&self) {
        self.js_idle.set(true);
        self.reap_completions();
        self.js_idle.set(false);
    }

    fn reap_completions(&self) {
        let done: Vec<(u64, i32)> = {
            let mut ring = self.ring.borrow_mut();
            let mut done: Vec<_> = ring.completion().map(|cqe| (cqe.user_data(), cqe.result())).collect();
            // Completions that did not fit wait in the kernel until an `io_uring_enter` moves
            // them (the descriptor stays readable meanwhile: without this the loop would spin).
            while ring.submission().cq_overflow() && ring.submit().is_ok() {
                let more = done.len();
                done.extend(ring.completion().map(|cqe| (cqe.user_data(), cqe.result())));
                if done.len() == more {
                    break;
                }
            }
            done
        };
        // Room in the completion queue now: a submit refused for want of it may pass.
        self.flush_unsubmitted();
        for (user_data, result) in done {
            if user_data & CANCEL_TAG != 0 {
                continue;
            }
            if user_data & TIMEOUT_TAG != 0 {
                // The linked timeout's own completion: its wait reports the outcome. EINVAL:
                // it reached the kernel without its wait (a partial submit), so that wait has
                // no slice: cancel it, and it comes back as a slice that ran out.
                if result == -libc::EINVAL {
                    self.cancel_wait(user_data & !TIMEOUT_TAG);
                }
                continue;
            }
            let Some(bell) = self.bells.borrow().get(&user_data).cloned() else { continue };
            bell.sleeping.set(false);
            if bell.stopped.get() {
                continue;
            }
            // 0: woken; EAGAIN: the word was no longer PARKED; ECANCELED: the slice ran out
            // (the linked timeout cancelled the wait); ETIME: the fallback timer.
            let slice_over = match -result {
                0 | libc::EAGAIN | libc::EINTR => false,
                libc::ECANCELED | libc::ETIME => true,
                _ => {
                    bell.failures.set(bell.failures.get() + 1);
                    true
                }
            };
            if result == 0 || -result == libc::EAGAIN {
                bell.failures.set(0);
                bell.polls.set(0);
            }
            match bell.watch.end_sleep(bell.token.get(), slice_over) {
                Some(readiness) => self.ring(&bell, readiness),
                None if bell.armed.get() => self.sleep_or_ring(&bell),
                None => {}
            }
        }
    }

    fn stop(&self, bell: &BellState) {
        if bell.stopped.replace(true) {
            return;
        }
        if bell.keep_alive.replace(false) {
            self.set_refs(self.refs.get().saturating_sub(1));
        }
        self.bells.borrow_mut().remove(&bell.id);
        if bell.sleeping.get() {
            // Wakes our own wait (its completion is then ignored).
            bell.watch.cancel();
        }
        bell.on_ready.borrow_mut().take();
        let callback = bell.callback.replace(std::ptr::null_mut());
        if !callback.is_null() {
            // SAFETY: made by `napi_create_reference` in this environment, deleted only here
            // (the swap above makes this run once); we are on its JS thread, and the
            // environment is alive (cleanup hooks and finalizers run before it goes).
            unsafe { sys::napi_delete_reference(self.env, callback) };
        }
        let async_context = bell.async_context.replace(std::ptr::null_mut());
        if !async_context.is_null() {
            // SAFETY: made by `napi_async_init` in this environment, destroyed only here (the
            // swap above); same thread and lifetime argument as the reference above.
            unsafe { sys::napi_async_destroy(self.env, async_context) };
        }
    }

    fn set_refs(&self, refs: usize) {
        let was = self.refs.replace(refs);
        let poll = self.poll.get();
        if poll.is_null() {
            return; // closed: the environment is going away
        }
        // SAFETY: a non-null `poll` is an initialised, open handle of this thread's loop
        // (`on_env_cleanup` nulls it when it closes the handle).
        unsafe {
            if was == 0 && refs > 0 {
                (self.uv.uv_ref)(poll);
            } else if was > 0 && refs == 0 {
                (self.uv.uv_unref)(poll);
            }
        }
    }
}

/// A new async context for a bell's calls, in the current one (null if it cannot be made:
/// `napi_make_callback` accepts that, and async_hooks then see no resource).
fn async_context(env: &Env, watch: &Watched) -> sys::napi_async_context {
    let resource = match watch {
        Watched::Data(_) => c"shmring:data",
        Watched::Room(_) => c"shmring:room",
    };
    let (mut name, mut context) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: `env` is live and we are inside a JavaScript call (a handle scope is open); the
    // out-pointers are locals. The context is destroyed by `LoopRing::stop`.
    unsafe {
        if sys::napi_create_string_utf8(env.raw(), resource.as_ptr(), resource.to_bytes().len() as isize, &mut name)
            != sys::Status::napi_ok
            || sys::napi_async_init(env.raw(), std::ptr::null_mut(), name, &mut context) != sys::Status::napi_ok
        {
            return std::ptr::null_mut();
        }
    }
    context
}

/// Submits every queued entry; `false` if some stay queued (the kernel refused, perhaps for
/// want of memory or completion-queue room). Passing refusals are tried again at once.
fn submit_queued(ring: &mut IoUring) -> bool {
    for _ in 0..SUBMIT_TRIES {
        match ring.submit() {
            // A partial take (the kernel stops at an entry it cannot take now): the rest again.
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {}
            Err(_) => break,
        }
        if ring.submission().is_empty() {
            return true;
        }
    }
    ring.submission().is_empty()
}

/// How this thread's event loop learns of data: `Ok(how)` with the io_uring wait, `Err(why
/// not)` where the doorbell thread is used (for `npx shmring doctor`).
pub fn describe(env: &Env) -> Result<&'static str, &'static str> {
    this_thread_ring(env).map(|_| "the event loop sleeps on the futex (io_uring FUTEX_WAIT polled by libuv)")
}

/// This thread's ring, made on first use, or why it cannot exist here.
fn this_thread_ring(env: &Env) -> Result<Rc<LoopRing>, &'static str> {
    RING.with_borrow_mut(|slot| match slot {
        Some((owner, ring)) if *owner == env.raw() => ring.clone(),
        Some((_, Ok(_))) => Err("another Node.js environment on this thread has the event-loop wait"),
        // Nothing yet, or a torn-down environment's leftover: this one may have its own.
        // `open_ring` calls no JavaScript (the bells make their async contexts), so nothing
        // re-enters the slot while it is borrowed here.
        _ => {
            let opened = open_ring(env);
            *slot = Some((env.raw(), opened.clone()));
            opened
        }
    })
}

fn open_ring(env: &Env) -> Result<Rc<LoopRing>, &'static str> {
    if std::env::var_os("SHMRING_WAKE").is_some_and(|v| v == "thread") {
        return Err("SHMRING_WAKE=thread is set");
    }
    let uv = uv().ok_or("the libuv functions were not found in this process")?;
    let ring = IoUring::new(RING_ENTRIES)
        .map_err(|_| "io_uring is unavailable (old kernel, io_uring_disabled or a seccomp filter)")?;
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe).map_err(|_| "io_uring cannot list its operations (kernel too old)")?;
    if ![opcode::FutexWait::CODE, opcode::LinkTimeout::CODE, opcode::Timeout::CODE]
        .iter()
        .all(|&op| probe.is_supported(op))
    {
        return Err("io_uring has no FUTEX_WAIT (needs Linux 6.7)");
    }
    let no_loop = "the event loop's libuv handle could not be set up";
    let mut uv_loop = std::ptr::null_mut();
    // SAFETY: `env` is the live environment of this JS thread; the out-pointer is a local.
    if unsafe { sys::napi_get_uv_event_loop(env.raw(), &mut uv_loop) } != sys::Status::napi_ok || uv_loop.is_null() {
        return Err(no_loop);
    }
    let layout = poll_layout().ok_or(no_loop)?;
    // SAFETY: `poll_layout` refused sizes smaller than a pointer, so the size is not zero.
    let poll = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<c_void>();
    if poll.is_null() {
        return Err(no_loop);
    }
    use std::os::fd::AsRawFd;
    // SAFETY: `uv_loop` is this thread's loop; `poll` is zeroed memory of the handle's size,
    // owned by libuv from here until `on_closed`.
    if unsafe { (uv.uv_poll_init)(uv_loop.cast(), poll, ring.as_raw_fd()) } != 0 {
        // SAFETY: `poll` came from `alloc_zeroed(layout)` and libuv did not take it.
        unsafe { std::alloc::dealloc(poll.cast(), layout) };
        return Err(no_loop);
    }
    let shared = Rc::new(LoopRing {
        ring: RefCell::new(ring),
        unsubmitted: Cell::new(false),
        timespecs: RefCell::new(Vec::new()),
        poll: Cell::new(poll),
        uv,
        bells: RefCell::new(HashMap::new()),
        next_id: Cell::new(1),
        refs: Cell::new(0),
        env: env.raw(),
        cleanup: Cell::new(std::ptr::null_mut()),
        js_idle: Cell::new(false),
    });
    let mut cleanup = std::ptr::null_mut();
    // SAFETY: `env` is live; the hook's argument is the environment, whose ring it finds in
    // `RING` (on this thread, where Node runs environment cleanup); never dereferenced.
    if unsafe { sys::napi_add_async_cleanup_hook(env.raw(), Some(on_env_cleanup), env.raw().cast(), &mut cleanup) }
        != sys::Status::napi_ok
    {
        close_unstarted(uv, poll);
        return Err(no_loop);
    }
    shared.cleanup.set(cleanup);
    // SAFETY: `poll` is initialised; `data` is the first field of every libuv handle (public
    // API); it points at the ring, which `RING` keeps alive until `on_env_cleanup` hands an
    // owned pointer to `on_closed`. The handle starts unreferenced: an idle channel does not
    // keep the process alive.
    let started = unsafe {
        *poll.cast::<*const LoopRing>() = Rc::as_ptr(&shared);
        (uv.uv_unref)(poll);
        (uv.uv_poll_start)(poll, UV_READABLE, on_readable)
    };
    if started != 0 {
        // SAFETY: the hook was added above and has not run (we are not in cleanup).
        unsafe { sys::napi_remove_async_cleanup_hook(cleanup) };
        close_unstarted(uv, poll);
        return Err(no_loop);
    }
    Ok(shared)
}

/// Closes a handle that `open_ring` initialised but gave up on (its `data` is set to null,
/// so `on_closed` frees only the handle).
fn close_unstarted(uv: &Uv, poll: *mut c_void) {
    // SAFETY: `poll` is an initialised, open handle of this thread's loop; nothing else
    // refers to it.
    unsafe {
        *poll.cast::<*const LoopRing>() = std::ptr::null();
        (uv.uv_close)(poll, on_closed);
    }
}

/// libuv: the ring has completions.
extern "C" fn on_readable(handle: *mut c_void, _status: c_int, _events: c_int) {
    // SAFETY: `data` was set to the ring in `open_ring`, which `RING` keeps alive until
    // `on_env_cleanup` replaces it with an owned pointer and closes the handle (no callback
    // runs after `uv_close`); `on_closed` releases it.
    let ring = unsafe { &**handle.cast::<*const LoopRing>() };
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ring.reap()));
    if ran.is_err() {
        // A panic here is a bug; unwinding into libuv would be undefined behaviour.
        std::process::abort();
    }
}

/// Node-API: the environment is going away (worker termination, process exit). Stops every
/// bell and closes the handle; the hook is removed once libuv has closed it.
unsafe extern "C" fn on_env_cleanup(handle: sys::napi_async_cleanup_hook_handle, env: *mut c_void) {
    // An error stays behind: no new ring for this environment while (or after) it is torn down.
    let taken = RING.with_borrow_mut(|slot| {
        let (_, ring) = slot.as_mut().filter(|(owner, _)| owner.cast::<c_void>() == env)?;
        std::mem::replace(ring, Err("the environment is being torn down")).ok()
    });
    let Some(ring) = taken else {
        // Not ours to close (never expected: the hook is added only with a ring in `RING`);
        // Node waits for the removal of an async hook, so remove it now.
        // SAFETY: `handle` is this hook's own handle, passed by Node-API for its removal.
        unsafe { sys::napi_remove_async_cleanup_hook(handle) };
        return;
    };
    let bells: Vec<_> = ring.bells.borrow().values().cloned().collect();
    for bell in bells {
        ring.stop(&bell);
    }
    ring.cleanup.set(handle);
    let (poll, uv) = (ring.poll.replace(std::ptr::null_mut()), ring.uv);
    // SAFETY: the pointer in `data` is replaced by an owned one, released in `on_closed`,
    // so the ring (and its io_uring descriptor) lives until libuv has let go of the handle.
    unsafe {
        *poll.cast::<*const LoopRing>() = Rc::into_raw(ring);
        (uv.uv_close)(poll, on_closed);
    }
}

/// libuv: the handle is closed; frees it, the ring, and removes the cleanup hook.
extern "C" fn on_closed(handle: *mut c_void) {
    // SAFETY: `data` holds null (a failed `open_ring`, see `close_unstarted`) or a pointer from
    // `Rc::into_raw` (`on_env_cleanup`); the handle memory came from `alloc_zeroed` with the
    // layout rebuilt below, and libuv no longer uses it.
    unsafe {
        let data = *handle.cast::<*const LoopRing>();
        let layout = poll_layout();
        if !data.is_null() {
            let ring = Rc::from_raw(data);
            let hook = ring.cleanup.get();
            if !hook.is_null() {
                sys::napi_remove_async_cleanup_hook(hook);
            }
            drop(ring);
        }
        if let Some(layout) = layout {
            std::alloc::dealloc(handle.cast(), layout);
        }
    }
}

/// How `uv_poll_t` memory is allocated (size from libuv itself); `None` if libuv is missing
/// or reports a size too small to hold the `data` pointer.
fn poll_layout() -> Option<std::alloc::Layout> {
    // SAFETY: `uv_handle_size` only reads its argument.
    let size = unsafe { (uv()?.uv_handle_size)(UV_POLL) };
    (size >= std::mem::size_of::<*const c_void>()).then(|| std::alloc::Layout::from_size_align(size, 16).ok()).flatten()
}

/// libuv's `UV_POLL` handle type and `UV_READABLE` event (stable since libuv 1.0).
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;

type HandleSizeFn = unsafe extern "C" fn(c_int) -> usize;
type PollInitFn = unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int;
type PollCallback = extern "C" fn(*mut c_void, c_int, c_int);
type PollStartFn = unsafe extern "C" fn(*mut c_void, c_int, PollCallback) -> c_int;
type CloseFn = unsafe extern "C" fn(*mut c_void, extern "C" fn(*mut c_void));
type HandleFn = unsafe extern "C" fn(*mut c_void);

/// The libuv functions we use, looked up in the running process (Node and Electron export
/// them); `None` if any is missing.
struct Uv {
    uv_handle_size: HandleSizeFn,
    uv_poll_init: PollInitFn,
    uv_poll_start: PollStartFn,
    uv_close: CloseFn,
    uv_ref: HandleFn,
    uv_unref: HandleFn,
}

fn uv() -> Option<&'static Uv> {
    static UV: std::sync::OnceLock<Option<Uv>> = std::sync::OnceLock::new();
    UV.get_or_init(|| {
        // SAFETY: each symbol is looked up by its exact libuv name and transmuted to that
        // function's C signature (libuv 1.x, uv.h; handles are passed as untyped pointers).
        unsafe {
            Some(Uv {
                uv_handle_size: std::mem::transmute::<*mut c_void, HandleSizeFn>(symbol(c"uv_handle_size")?),
                uv_poll_init: std::mem::transmute::<*mut c_void, PollInitFn>(symbol(c"uv_poll_init")?),
                uv_poll_start: std::mem::transmute::<*mut c_void, PollStartFn>(symbol(c"uv_poll_start")?),
                uv_close: std::mem::transmute::<*mut c_void, CloseFn>(symbol(c"uv_close")?),
                uv_ref: std::mem::transmute::<*mut c_void, HandleFn>(symbol(c"uv_ref")?),
                uv_unref: std::mem::transmute::<*mut c_void, HandleFn>(symbol(c"uv_unref")?),
            })
        }
    })
    .as_ref()
}

fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: `name` is NUL-terminated; RTLD_DEFAULT searches the process's global symbols.
    let address = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!address.is_null()).then_some(address)
}
