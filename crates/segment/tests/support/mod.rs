//! Helpers shared by the specification files: hand-built headers and OS objects, a guard that
//! removes named objects even when a test fails, and re-running this test binary as a child.
#![allow(dead_code)] // each test file uses a different subset

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use shmring_segment::{SegmentName, HEADER_LEN, LAYOUT_VERSION, MAGIC};

/// Environment variable that tells a re-executed test binary to play the child's role.
pub const ROLE_ENV: &str = "SHMRING_SEGMENT_TEST_ROLE";

/// `Some(role)` when this process was started by [`run_child`].
pub fn child_role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// Runs `test_name` of this test binary in a child process with `role` and the extra `envs`,
/// waits for it (at most 10 s, then kills it), and asserts that exactly that test ran and passed.
pub fn run_child(test_name: &str, role: &str, envs: &[(&str, String)], configure: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(std::env::current_exe().expect("current_exe"));
    command
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    configure(&mut command);
    let mut child = command.spawn().expect("spawn the child test process");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child process for {test_name} hung for 10 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().expect("child output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child {test_name} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// A fresh random name for a test object (short enough for macOS).
pub fn test_name() -> SegmentName {
    SegmentName::random("sst-").expect("random name")
}

/// Removes a named object on drop (even when the test panics); errors are ignored because the
/// test may have removed it already.
pub struct UnlinkGuard(pub SegmentName);

impl Drop for UnlinkGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let _ = nix::sys::mman::shm_unlink(format!("/{}", self.0.as_str()).as_str());
        }
    }
}

/// A header with each field given explicitly (little-endian, as in the layout).
pub struct RawHeader {
    pub magic: u64,
    pub layout_version: u32,
    pub kind: u32,
    pub total_len: u64,
    pub header_len: u32,
    pub creator_pid: u32,
    pub created_unix_ms: u64,
}

impl RawHeader {
    /// A valid, published header for a segment of `kind` with `payload_len` bytes.
    pub fn valid(kind: u32, payload_len: u64) -> Self {
        Self {
            magic: MAGIC,
            layout_version: LAYOUT_VERSION,
            kind,
            total_len: HEADER_LEN as u64 + payload_len,
            header_len: HEADER_LEN as u32,
            creator_pid: 4242,
            created_unix_ms: 1_700_000_000_000,
        }
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&self.magic.to_le_bytes());
        b[8..12].copy_from_slice(&self.layout_version.to_le_bytes());
        b[12..16].copy_from_slice(&self.kind.to_le_bytes());
        b[16..24].copy_from_slice(&self.total_len.to_le_bytes());
        b[24..28].copy_from_slice(&self.header_len.to_le_bytes());
        b[28..32].copy_from_slice(&self.creator_pid.to_le_bytes());
        b[32..40].copy_from_slice(&self.created_unix_ms.to_le_bytes());
        b
    }
}

/// Copies the 128 header bytes of a live segment (the mapping starts `HEADER_LEN` before the
/// payload).
pub fn header_bytes(segment: &shmring_segment::Segment) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    // SAFETY: `payload()` is `HEADER_LEN` bytes past the mapping's base (documented), so the
    // range [payload - HEADER_LEN, payload) is the header, mapped while `segment` lives.
    unsafe {
        let base = segment.payload().as_ptr().sub(HEADER_LEN);
        std::ptr::copy_nonoverlapping(base, out.as_mut_ptr(), HEADER_LEN);
    }
    out
}

/// Writes `bytes` at `offset` of a segment's payload.
pub fn write_payload(segment: &shmring_segment::Segment, offset: usize, bytes: &[u8]) {
    assert!(offset + bytes.len() <= segment.payload_len());
    // SAFETY: the range is inside the payload (asserted above), which is mapped read-write
    // while `segment` lives.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), segment.payload().as_ptr().add(offset), bytes.len());
    }
}

/// Reads `len` bytes at `offset` of a segment's payload.
pub fn read_payload(segment: &shmring_segment::Segment, offset: usize, len: usize) -> Vec<u8> {
    assert!(offset + len <= segment.payload_len());
    let mut out = vec![0u8; len];
    // SAFETY: the range is inside the payload (asserted above), mapped while `segment` lives.
    unsafe {
        std::ptr::copy_nonoverlapping(segment.payload().as_ptr().add(offset), out.as_mut_ptr(), len);
    }
    out
}

#[cfg(unix)]
pub mod unix {
    //! Hand-built OS objects for the "refuses" specifications.

    use std::num::NonZeroUsize;
    use std::os::fd::{AsFd, OwnedFd};

    use nix::fcntl::OFlag;
    use nix::sys::mman::{self, MapFlags, ProtFlags};
    use nix::sys::stat::Mode;
    use nix::unistd::ftruncate;
    use shmring_segment::SegmentName;

    /// Writes `bytes` at offset 0 of `fd` through a temporary shared mapping of `size` bytes
    /// (macOS shm objects do not support `write(2)`).
    pub fn write_via_mmap(fd: &OwnedFd, size: usize, bytes: &[u8]) {
        assert!(bytes.len() <= size);
        let len = NonZeroUsize::new(size).expect("non-empty object");
        // SAFETY: a fresh shared mapping of an object of at least `size` bytes (the caller
        // sized it), unmapped below; no Rust reference points into it.
        unsafe {
            let base = mman::mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd.as_fd(),
                0,
            )
            .expect("mmap");
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.as_ptr().cast::<u8>(), bytes.len());
            mman::munmap(base, size).expect("munmap");
        }
    }

    /// Creates `/name` by hand: `shm_open(O_CREAT | O_EXCL | O_RDWR, mode)`, forced to `mode`
    /// with `fchmod` where the OS allows it, sized to `size` (0 = left unsized), starting with
    /// `bytes`.
    pub fn squat(name: &SegmentName, mode: u32, size: usize, bytes: &[u8]) -> OwnedFd {
        let mode = Mode::from_bits_truncate(mode as _);
        let fd = mman::shm_open(
            format!("/{}", name.as_str()).as_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
            mode,
        )
        .expect("shm_open by hand");
        let _ = nix::sys::stat::fchmod(&fd, mode); // beats the umask on Linux
        if size > 0 {
            ftruncate(&fd, size as _).expect("ftruncate");
            write_via_mmap(&fd, size, bytes);
        }
        fd
    }
}

#[cfg(target_os = "linux")]
pub mod linux {
    //! Hand-built memfds for the "refuses" specifications of `from_fd`.

    use std::os::fd::OwnedFd;

    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MFdFlags};
    use nix::unistd::ftruncate;

    pub const ALL_SEALS: SealFlag = SealFlag::F_SEAL_SHRINK.union(SealFlag::F_SEAL_GROW).union(SealFlag::F_SEAL_SEAL);

    /// A memfd of `size` bytes starting with (as much as fits of) `bytes`, then sealed with
    /// `seals`.
    pub fn memfd(size: u64, bytes: &[u8], seals: SealFlag) -> OwnedFd {
        let fd = memfd_create(c"spec", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING).expect("memfd_create");
        ftruncate(&fd, size as i64).expect("ftruncate");
        let n = bytes.len().min(usize::try_from(size).unwrap_or(usize::MAX));
        if n > 0 {
            super::unix::write_via_mmap(&fd, n, &bytes[..n]);
        }
        if !seals.is_empty() {
            fcntl(&fd, FcntlArg::F_ADD_SEALS(seals)).expect("F_ADD_SEALS");
        }
        fd
    }
}
