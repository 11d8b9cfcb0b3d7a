//! The doorbell: one native thread per watched condition (data ready, room ready) that sleeps
//! in a `shmring_channel` watch and calls a JavaScript function through a threadsafe function
//! when the condition probably holds.
//!
//! * At most one call is queued: the thread rings only when *armed*, and ringing disarms it.
//!   The JavaScript side drains everything it can, then re-arms (`arm`). Node runs each queued
//!   call in its own callback scope, so one call per message would be slow; one call per
//!   drained burst is not.
//! * The threadsafe function starts unreferenced (weak): an idle watch does not keep the
//!   process alive; `set_ref(true)` makes it behave like a socket with a pending read.
//! * Teardown: `stop` (from `close`, drop, or the environment's cleanup hook on worker
//!   termination and process exit) cancels the wait, wakes and **joins** the thread, so no
//!   native thread touches the threadsafe function after the environment is gone. One cleanup
//!   hook per environment stops every doorbell still registered for it; stopped and dropped
//!   doorbells leave the registry, so a long-running process that opens and closes many
//!   channels does not accumulate hooks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;

use napi::bindgen_prelude::Function;
use napi::sys;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Env;
use shmring_channel::{Readiness, Spinner};

use crate::error::{error, Code, Result};

/// What the thread waits on once armed; the argument is the arm token (`RoomWatch` snapshot).
pub type WaitFn = Box<dyn FnMut([u64; 3]) -> Readiness + Send>;

type Bell = ThreadsafeFunction<(), (), (), napi::Status, false, true>;

struct State {
    /// `Some(token)` while armed.
    armed: Mutex<Option<[u64; 3]>>,
    wake: Condvar,
    stopping: AtomicBool,
    cancel: Box<dyn Fn() + Send + Sync>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A running doorbell thread. Dropping it stops and joins the thread.
pub struct Doorbell {
    state: Arc<State>,
    /// Raw handle for ref/unref on the JS thread; valid until the thread exits (it owns the
    /// threadsafe function), which happens only in `stop`.
    raw: sys::napi_threadsafe_function,
    env: sys::napi_env,
}

impl Doorbell {
    /// Starts a thread that runs `wait` whenever armed and calls `on_ready` when it returns
    /// anything but `Cancelled`. `cancel` must make a running `wait` return `Cancelled`.
    pub fn start(
        env: &Env,
        on_ready: Function<'_, (), ()>,
        mut wait: WaitFn,
        cancel: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Doorbell> {
        let bell: Bell = on_ready
            .build_threadsafe_function::<()>()
            .callee_handled::<false>()
            .weak::<true>()
            .build()
            .map_err(|e| error(Code::Os, format!("cannot create the doorbell: {e}")))?;
        let raw = bell.raw();
        let state = Arc::new(State {
            armed: Mutex::new(None),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            cancel,
            thread: Mutex::new(None),
        });
        // Registered before the thread starts, so a failure leaves nothing running.
        register(env, &state)?;
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("shmring-doorbell".into())
            .spawn(move || {
                // The thread owns the threadsafe function that `set_ref` uses through `raw`;
                // if anything here panicked, unwinding would release it under `set_ref`'s feet.
                // A panic is a bug, so fail loudly instead.
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    while let Some(token) = thread_state.next_arm() {
                        if wait(token) != Readiness::Cancelled {
                            bell.call((), ThreadsafeFunctionCallMode::NonBlocking);
                        }
                    }
                    drop(bell);
                }));
                if ran.is_err() {
                    std::process::abort();
                }
            })
            .map_err(|e| error(Code::Os, format!("cannot start the doorbell thread: {e}")))?;
        *state.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
        Ok(Doorbell { state, raw, env: env.raw() })
    }

    /// Lets the thread wait (again) with `token`; a ring follows when the condition holds.
    pub fn arm(&self, token: [u64; 3]) {
        *self.state.armed.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
        self.state.wake.notify_one();
    }

    /// Whether the doorbell keeps the event loop alive (like a socket with a pending read).
    pub fn set_ref(&self, keep_alive: bool) {
        if self.state.is_stopping() {
            return;
        }
        // SAFETY: `raw` is the live threadsafe function owned by our thread, which runs until
        // `stop` (checked above: not stopping); `env` is the environment that created it and
        // we are on its JS thread (napi methods run there).
        unsafe {
            if keep_alive {
                sys::napi_ref_threadsafe_function(self.env, self.raw);
            } else {
                sys::napi_unref_threadsafe_function(self.env, self.raw);
            }
        }
    }

    /// Stops and joins the thread. Idempotent.
    pub fn stop(&self) {
        self.state.stop();
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Live doorbells per environment (keyed by the `napi_env` address), for the one cleanup hook
/// each environment gets.
type Registry = HashMap<usize, Vec<Weak<State>>>;

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Adds `state` to its environment's list, installing the environment's cleanup hook the
/// first time; drops entries of doorbells that are gone.
fn register(env: &Env, state: &Arc<State>) -> Result<()> {
    let key = env.raw() as usize;
    let mut live = registry().lock().unwrap_or_else(|p| p.into_inner());
    let first = !live.contains_key(&key);
    if first {
        env.add_env_cleanup_hook(key, |key: usize| {
            let states = registry().lock().unwrap_or_else(|p| p.into_inner()).remove(&key).unwrap_or_default();
            for state in states.iter().filter_map(Weak::upgrade) {
                state.stop();
            }
        })
        .map_err(|e| error(Code::Os, format!("cannot register the doorbell cleanup hook: {e}")))?;
    }
    let list = live.entry(key).or_default();
    list.retain(|weak| weak.upgrade().is_some_and(|s| !s.is_stopping()));
    list.push(Arc::downgrade(state));
    Ok(())
}

impl State {
    fn is_stopping(&self) -> bool {
        // ORDERING: Relaxed; the flag is also read under the `armed` mutex by the thread.
        self.stopping.load(Ordering::Relaxed)
    }

    /// Blocks until armed (returns the token, disarming) or stopping (returns `None`).
    fn next_arm(&self) -> Option<[u64; 3]> {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.is_stopping() {
                return None;
            }
            if let Some(token) = armed.take() {
                return Some(token);
            }
            armed = self.wake.wait(armed).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn stop(&self) {
        {
            let _armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
            // ORDERING: Relaxed; published to the thread by the mutex and the condvar.
            self.stopping.store(true, Ordering::Relaxed);
        }
        self.wake.notify_all();
        (self.cancel)();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// A fresh spinner for a doorbell thread: adaptive, so a reply that comes within a few
/// microseconds skips the futex sleep and wake, and an idle channel quickly stops spinning.
pub fn doorbell_spinner() -> Spinner {
    Spinner::new()
}
