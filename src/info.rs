//! `nativeInfo()`: what `npx shmring doctor` reports about this machine. Names the backends
//! this build of the addon uses and runs small live probes of the OS features they need
//! (a segment with its seals, a wait with a timeout, named segments, pidfds) plus the limits
//! that apply, so a user can report a problem precisely. Every probe cleans up after itself.
//!
//! Probes go through the public APIs of `shmring-segment` and `shmring-wait` where those
//! cover the feature (so they test what a channel really does) and through `libc` only for
//! facts those crates do not expose (seal bits, pidfd support, limits).

use std::time::Duration;

use napi_derive::napi;
use shmring_segment::{Segment, SegmentKind, SegmentName, HEADER_LEN};
use shmring_wait::{AtomicU32, Notifier, WaitResult, Word};

/// A segment kind no channel uses, so a probe segment can never be mistaken for a channel.
const PROBE_KIND: SegmentKind = SegmentKind(0x5d0c);

/// One live test of an OS feature.
#[napi(object)]
pub struct NativeProbe {
    /// Short stable name, e.g. `memfd_create`, `seals`, `futex`.
    pub name: String,
    /// Whether the feature works here.
    pub ok: bool,
    /// What was done and seen (or the OS error).
    pub detail: String,
}

/// One limit that applies to shmring on this machine.
#[napi(object)]
pub struct NativeLimit {
    /// Short stable name, e.g. `RLIMIT_NOFILE`, `/dev/shm free`.
    pub name: String,
    /// The value, when it is a number (bytes for sizes); absent when unlimited or unknown.
    pub value: Option<f64>,
    /// The value as a user reads it, with what it means for shmring.
    pub detail: String,
}

/// What `nativeInfo()` returns.
#[napi(object)]
pub struct NativeInfo {
    /// Target OS of this build (`linux`, `macos`, `windows`).
    pub os: String,
    /// Target architecture of this build (`x86_64`, `aarch64`).
    pub arch: String,
    /// The C library: `glibc <runtime version>`, `musl`, or absent where there is no choice.
    pub libc: Option<String>,
    /// Kernel release and version (`uname`), where there is one.
    pub kernel: Option<String>,
    /// How anonymous segments (spawn, fd passing) are made.
    pub segment_backend: String,
    /// How named segments (`createNamed`/`openNamed`) are made.
    pub named_segment_backend: String,
    /// How a process sleeps on a shared word and is woken.
    pub wait_backend: String,
    /// Live probes, in the order they ran.
    pub probes: Vec<NativeProbe>,
    /// Limits that apply.
    pub limits: Vec<NativeLimit>,
}

/// Describes this build and probes the OS features shmring relies on (takes a few ms).
#[napi]
pub fn native_info(env: napi::Env) -> NativeInfo {
    let mut probes = Vec::new();
    probe_segment_and_wait(&mut probes);
    probe_data_wake(&mut probes, &env);
    probe_named_segment(&mut probes);
    #[cfg(unix)]
    probe_server(&mut probes);
    os::probes(&mut probes);
    NativeInfo {
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        libc: os::libc_name(),
        kernel: os::kernel(),
        segment_backend: os::SEGMENT_BACKEND.to_owned(),
        named_segment_backend: os::NAMED_SEGMENT_BACKEND.to_owned(),
        wait_backend: os::wait_backend(),
        probes,
        limits: os::limits(),
    }
}

/// How a sleeping receiver's event loop is woken: never a failure (the doorbell thread works
/// everywhere), but the one-wake-up path is faster (docs/DECISIONS.md §25).
fn probe_data_wake(probes: &mut Vec<NativeProbe>, env: &napi::Env) {
    #[cfg(target_os = "linux")]
    let detail = match crate::loop_bell::describe(env) {
        Ok(how) => how.to_owned(),
        Err(why) => format!("a doorbell thread wakes the event loop (two wake-ups): {why}"),
    };
    #[cfg(not(target_os = "linux"))]
    let detail = {
        let _ = env;
        "a doorbell thread wakes the event loop".to_owned()
    };
    probe(probes, "data wake", Ok(detail));
}

fn probe(probes: &mut Vec<NativeProbe>, name: &str, result: Result<String, String>) {
    let (ok, detail) = match result {
        Ok(detail) => (true, detail),
        Err(detail) => (false, detail),
    };
    probes.push(NativeProbe { name: name.to_owned(), ok, detail });
}

/// An anonymous segment as `spawn` makes one, then a wait with a timeout on a word inside it
/// (a shared mapping, as a channel's waits are).
fn probe_segment_and_wait(probes: &mut Vec<NativeProbe>) {
    let segment = match Segment::create(PROBE_KIND, 4096) {
        Ok(segment) => segment,
        Err(e) => {
            probe(probes, "segment", Err(format!("creating a 4 KiB anonymous segment failed: {e}")));
            return;
        }
    };
    segment.publish();
    probe(probes, "segment", Ok(format!("created and mapped a {} byte anonymous segment", segment.len())));
    os::probe_received(probes, &segment);

    let notifier = match Notifier::new() {
        Ok(notifier) => notifier,
        Err(e) => {
            probe(probes, os::WAIT_PROBE, Err(format!("creating the wait object failed: {e}")));
            return;
        }
    };
    // SAFETY: the payload is 4096 bytes (created above) and starts HEADER_LEN (128) bytes into
    // a page-aligned mapping, so it is 4-byte aligned and holds an AtomicU32; the segment
    // outlives `word` (both locals of this function) and no other process has it.
    let value = unsafe { &*segment.payload().as_ptr().cast::<AtomicU32>() };
    let word = Word::new(value, &notifier);
    let result = shmring_wait::wait(&word, 0, Some(Duration::from_millis(1)))
        .and_then(|r| shmring_wait::wake_one(&word).map(|()| r));
    probe(
        probes,
        os::WAIT_PROBE,
        match result {
            Ok(WaitResult::TimedOut) => {
                Ok(format!("a 1 ms wait on a word in shared memory timed out as expected (word {HEADER_LEN} bytes into the segment), and a wake returned"))
            }
            Ok(other) => Err(format!("a 1 ms wait on an unchanged word returned {other:?} instead of TimedOut")),
            Err(e) => Err(format!("wait/wake failed: {e}")),
        },
    );
}

/// A named segment as `createNamed`/`openNamed` make one: create, open it again, remove it.
fn probe_named_segment(probes: &mut Vec<NativeProbe>) {
    let result = SegmentName::random("shmring-doctor-")
        .map_err(|e| format!("making a random name failed: {e}"))
        .and_then(|name| {
            let created =
                Segment::create_named(&name, PROBE_KIND, 4096).map_err(|e| format!("creating {name} failed: {e}"))?;
            created.publish();
            let opened =
                Segment::open_named(&name, PROBE_KIND).map_err(|e| format!("opening {name} again failed: {e}"));
            let unlinked = created.unlink().map_err(|e| format!("removing {name} failed: {e}"));
            opened?;
            unlinked?;
            Ok(format!("created, opened and removed {name}"))
        });
    probe(probes, "named segment", result);
}

/// The server rendezvous as `listen`/`connect` use it: a Unix socket in the temporary
/// directory, a channel passed over it (`SCM_RIGHTS`) and one message through that channel.
#[cfg(unix)]
fn probe_server(probes: &mut Vec<NativeProbe>) {
    use shmring_channel::{Channel, ChannelOptions, Listener};
    let result = SegmentName::random("shmring-doctor-")
        .map_err(|e| format!("making a random name failed: {e}"))
        .and_then(|name| {
            let path = std::env::temp_dir().join(format!("{name}.sock"));
            let small = ChannelOptions { capacity: 4096, high_capacity: 4096, critical_capacity: 4096 };
            let listener =
                Listener::bind(&path, &small).map_err(|e| format!("listening on {} failed: {e}", path.display()))?;
            let client_path = path.clone();
            let client = std::thread::spawn(move || -> Result<(), String> {
                let mut channel = Channel::connect(&client_path, Duration::from_secs(5))
                    .map_err(|e| format!("connecting to {} failed: {e}", client_path.display()))?;
                channel.send(b"probe", Some(Duration::from_secs(5))).map_err(|e| format!("sending failed: {e}"))
            });
            let mut served = listener.accept().map_err(|e| format!("accepting failed: {e}"))?;
            client.join().map_err(|_| "the client thread panicked".to_owned())??;
            match served.recv_timeout(Duration::from_secs(5)) {
                Ok(message) if message == b"probe" => {
                    Ok(format!("listened on {}, passed a channel over it and received through it", path.display()))
                }
                Ok(other) => Err(format!("received {} bytes instead of the probe message", other.len())),
                Err(e) => Err(format!("receiving through the passed channel failed: {e}")),
            }
        });
    probe(probes, "server", result);
}

#[cfg(target_os = "linux")]
mod os {
    use std::ffi::CStr;
    use std::fs;
    use std::os::fd::AsRawFd;

    use shmring_segment::Segment;

    use super::{probe, NativeLimit, NativeProbe, PROBE_KIND};

    pub(super) const SEGMENT_BACKEND: &str = "memfd+seals";
    pub(super) const NAMED_SEGMENT_BACKEND: &str = "shm_open (/dev/shm)";
    pub(super) const WAIT_PROBE: &str = "futex";

    pub(super) fn wait_backend() -> String {
        "futex".to_owned()
    }

    pub(super) fn libc_name() -> Option<String> {
        #[cfg(target_env = "gnu")]
        {
            // SAFETY: gnu_get_libc_version takes nothing and returns a pointer to a static,
            // NUL-terminated string owned by glibc.
            let version = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) };
            Some(format!("glibc {}", version.to_string_lossy()))
        }
        #[cfg(not(target_env = "gnu"))]
        {
            Some("musl".to_owned())
        }
    }

    pub(super) fn kernel() -> Option<String> {
        // SAFETY: utsname is plain C data (arrays of c_char); all zeroes is a valid value.
        let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: `uts` is a live, writable utsname; uname fills it and returns 0 or -1.
        if unsafe { libc::uname(&mut uts) } != 0 {
            return None;
        }
        // SAFETY: on success every utsname field holds a NUL-terminated string (uname(2)).
        let release = unsafe { CStr::from_ptr(uts.release.as_ptr()) };
        // SAFETY: as above.
        let version = unsafe { CStr::from_ptr(uts.version.as_ptr()) };
        Some(format!("{} {}", release.to_string_lossy(), version.to_string_lossy()))
    }

    pub(super) fn probes(probes: &mut Vec<NativeProbe>) {
        probe(probes, "memfd_create", probe_memfd());
        probe(probes, "pidfd_open", probe_pidfd());
    }

    /// The seals on our own segment, and whether the checks a receiver runs accept it.
    pub(super) fn probe_received(probes: &mut Vec<NativeProbe>, segment: &Segment) {
        let fd = std::os::fd::AsFd::as_fd(segment);
        // SAFETY: F_GET_SEALS reads a flag word of a valid open fd (borrowed from `segment`).
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        let wanted = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        let seal_result = if seals < 0 {
            Err(format!("F_GET_SEALS failed: {}", std::io::Error::last_os_error()))
        } else if seals & wanted != wanted {
            Err(format!("seals {seals:#x} lack SHRINK|GROW|SEAL ({wanted:#x})"))
        } else {
            Ok(format!("F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_SEAL are set (seals {seals:#x})"))
        };
        probe(probes, "seals", seal_result);
        let adopted = fd
            .try_clone_to_owned()
            .map_err(|e| format!("duplicating the fd failed: {e}"))
            .and_then(|owned| {
                Segment::from_fd(owned, PROBE_KIND).map_err(|e| format!("the receiver's checks refused it: {e}"))
            })
            .map(|_| "a duplicate fd passed the receiver's checks (seals, tmpfs, header)".to_owned());
        probe(probes, "fd passing", adopted);
    }

    fn probe_memfd() -> Result<String, String> {
        // SAFETY: memfd_create takes a NUL-terminated name and flags and returns a new fd or -1.
        let fd = unsafe { libc::memfd_create(c"shmring-doctor".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
        if fd < 0 {
            return Err(format!("memfd_create failed: {} (Linux 3.17+ is needed)", std::io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
        unsafe { libc::close(fd) };
        Ok("memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING) works".to_owned())
    }

    fn probe_pidfd() -> Result<String, String> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is
        // passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
        if fd < 0 {
            return Err(format!(
                "pidfd_open failed: {}; peer deaths are then noticed by polling kill(pid, 0), which is slower and open to pid reuse (Linux 5.3+ has pidfds)",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` was just returned by pidfd_open and is owned by nobody else.
        unsafe { libc::close(fd as libc::c_int) };
        Ok("pidfd_open works (peer deaths are noticed at once)".to_owned())
    }

    pub(super) fn limits() -> Vec<NativeLimit> {
        let mut limits = Vec::new();
        shm_space(&mut limits);
        nofile(&mut limits);
        sysctl(
            &mut limits,
            "vm.max_map_count",
            "/proc/sys/vm/max_map_count",
            "mappings per process; each open channel uses 1",
        );
        sysctl(
            &mut limits,
            "vm.overcommit_memory",
            "/proc/sys/vm/overcommit_memory",
            "segments are allocated in full when created, so 2 (strict) makes large channels fail early",
        );
        limits
    }

    /// Anonymous segments are tmpfs memory too, but named ones live in /dev/shm, whose size is
    /// often small in containers (Docker's default is 64 MiB; raise it with `--shm-size`).
    fn shm_space(limits: &mut Vec<NativeLimit>) {
        // SAFETY: statvfs is plain C data; all zeroes is a valid value.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: the path is NUL-terminated and `st` is a live, writable statvfs.
        if unsafe { libc::statvfs(c"/dev/shm".as_ptr(), &mut st) } != 0 {
            let e = std::io::Error::last_os_error();
            limits.push(NativeLimit {
                name: "/dev/shm size".to_owned(),
                value: None,
                detail: format!("statvfs(/dev/shm) failed: {e}; named channels need /dev/shm"),
            });
            return;
        }
        let unit = st.f_frsize as f64;
        let total = st.f_blocks as f64 * unit;
        let free = st.f_bavail as f64 * unit;
        limits.push(NativeLimit {
            name: "/dev/shm size".to_owned(),
            value: Some(total),
            detail: format!("{} (named channels live here)", mib(total)),
        });
        limits.push(NativeLimit { name: "/dev/shm free".to_owned(), value: Some(free), detail: mib(free) });
    }

    fn nofile(limits: &mut Vec<NativeLimit>) {
        // SAFETY: rlimit is plain C data; all zeroes is a valid value.
        let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: `rl` is a live, writable rlimit; getrlimit fills it and returns 0 or -1.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
            return;
        }
        let value = (rl.rlim_cur != libc::RLIM_INFINITY).then_some(rl.rlim_cur as f64);
        let show = |v: libc::rlim_t| if v == libc::RLIM_INFINITY { "unlimited".to_owned() } else { v.to_string() };
        limits.push(NativeLimit {
            name: "RLIMIT_NOFILE".to_owned(),
            value,
            detail: format!("soft {}, hard {} (each open channel holds 1-2 fds)", show(rl.rlim_cur), show(rl.rlim_max)),
        });
    }

    fn sysctl(limits: &mut Vec<NativeLimit>, name: &str, path: &str, meaning: &str) {
        let (value, detail) = match fs::read_to_string(path) {
            Ok(text) => {
                let text = text.trim().to_owned();
                (text.parse::<f64>().ok(), format!("{text} ({meaning})"))
            }
            Err(e) => (None, format!("unreadable: {e}")),
        };
        limits.push(NativeLimit { name: name.to_owned(), value, detail });
    }

    fn mib(bytes: f64) -> String {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    }
}

#[cfg(target_os = "macos")]
mod os {
    use std::ffi::CStr;

    use shmring_segment::Segment;

    use super::{NativeLimit, NativeProbe};

    pub(super) const SEGMENT_BACKEND: &str = "shm_open (unlinked at once)";
    pub(super) const NAMED_SEGMENT_BACKEND: &str = "shm_open";
    pub(super) const WAIT_PROBE: &str = "ulock wait";

    fn has_symbol(name: &CStr) -> bool {
        // SAFETY: dlsym with RTLD_DEFAULT only looks a NUL-terminated name up; the pointer it
        // returns is compared with null and never called here.
        !unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }.is_null()
    }

    /// The same choice `shmring-wait` makes (its macOS backend looks these up with dlsym).
    pub(super) fn wait_backend() -> String {
        if !cfg!(shmring_force_fallback) && has_symbol(c"os_sync_wait_on_address_with_timeout") {
            "os_sync_wait_on_address".to_owned()
        } else if has_symbol(c"__ulock_wait2") {
            "__ulock_wait2".to_owned()
        } else {
            "__ulock_wait".to_owned()
        }
    }

    pub(super) fn libc_name() -> Option<String> {
        None
    }

    pub(super) fn kernel() -> Option<String> {
        // SAFETY: utsname is plain C data (arrays of c_char); all zeroes is a valid value.
        let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: `uts` is a live, writable utsname; uname fills it and returns 0 or -1.
        if unsafe { libc::uname(&mut uts) } != 0 {
            return None;
        }
        // SAFETY: on success every utsname field holds a NUL-terminated string.
        let release = unsafe { CStr::from_ptr(uts.release.as_ptr()) };
        Some(format!("Darwin {}", release.to_string_lossy()))
    }

    pub(super) fn probes(probes: &mut Vec<NativeProbe>) {
        for name in [c"os_sync_wait_on_address_with_timeout", c"__ulock_wait2"] {
            let found = has_symbol(name);
            probes.push(NativeProbe {
                name: name.to_string_lossy().into_owned(),
                ok: found,
                detail: if found { "present".to_owned() } else { "absent (older macOS)".to_owned() },
            });
        }
    }

    #[allow(clippy::ptr_arg)] // the signature every `os` module shares; Linux's pushes
    pub(super) fn probe_received(_probes: &mut Vec<NativeProbe>, _segment: &Segment) {}

    pub(super) fn limits() -> Vec<NativeLimit> {
        // SAFETY: rlimit is plain C data; all zeroes is a valid value.
        let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: `rl` is a live, writable rlimit; getrlimit fills it and returns 0 or -1.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
            return Vec::new();
        }
        let value = (rl.rlim_cur != libc::RLIM_INFINITY).then_some(rl.rlim_cur as f64);
        vec![NativeLimit {
            name: "RLIMIT_NOFILE".to_owned(),
            value,
            detail: format!("soft {}, hard {} (each open channel holds 1-2 fds)", rl.rlim_cur, rl.rlim_max),
        }]
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod os {
    use shmring_segment::Segment;

    use super::{NativeLimit, NativeProbe};

    pub(super) const SEGMENT_BACKEND: &str =
        if cfg!(windows) { "CreateFileMappingW (unnamed section)" } else { "unsupported" };
    pub(super) const NAMED_SEGMENT_BACKEND: &str =
        if cfg!(windows) { "CreateFileMappingW (named section)" } else { "unsupported" };
    pub(super) const WAIT_PROBE: &str = "event wait";

    pub(super) fn wait_backend() -> String {
        if cfg!(windows) { "Event objects" } else { "unsupported" }.to_owned()
    }

    pub(super) fn libc_name() -> Option<String> {
        None
    }

    pub(super) fn kernel() -> Option<String> {
        None
    }

    #[allow(clippy::ptr_arg)] // the signature every `os` module shares; Linux's pushes
    pub(super) fn probes(_probes: &mut Vec<NativeProbe>) {}

    #[allow(clippy::ptr_arg)] // the signature every `os` module shares; Linux's pushes
    pub(super) fn probe_received(_probes: &mut Vec<NativeProbe>, _segment: &Segment) {}

    pub(super) fn limits() -> Vec<NativeLimit> {
        Vec::new()
    }
}
