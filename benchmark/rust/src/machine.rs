//! What the numbers were measured on: CPU model, cores, kernel, compiler, clock source and
//! the cost of one `Instant::now()`, the load average before and after, and the date.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Facts about the machine and the moment of the run.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub rustc: &'static str,
    pub clocksource: String,
    /// Cost of one `Instant::now()`, in nanoseconds (timed over a million calls).
    pub instant_ns: f64,
    pub load_before: String,
    pub load_after: String,
    /// Start of the run, UTC, `YYYY-MM-DD HH:MM`.
    pub date: String,
    /// CPUs this process may run on when it starts (before `--pin`), e.g. `0-1` or `0`.
    pub affinity: String,
}

impl Machine {
    /// Reads everything but the final load average.
    pub fn probe() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Machine {
            cpu,
            cores: online_cpus(),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            rustc: env!("BENCH_RUSTC_VERSION"),
            clocksource: read("/sys/devices/system/clocksource/clocksource0/current_clocksource").trim().to_owned(),
            instant_ns: instant_cost(),
            load_before: load_average(),
            load_after: String::new(),
            date: utc_now(),
            affinity: affinity(),
        }
    }

    /// Adds the load average at the end of the run.
    pub fn finish(mut self) -> Machine {
        self.load_after = load_average();
        self
    }
}

fn instant_cost() -> f64 {
    const CALLS: u32 = 1_000_000;
    let start = Instant::now();
    let mut last = start;
    for _ in 0..CALLS {
        last = std::hint::black_box(Instant::now());
    }
    (last - start).as_nanos() as f64 / f64::from(CALLS)
}

/// CPUs online in the machine (not just those this process may use).
fn online_cpus() -> usize {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(0)
}

fn affinity() -> String {
    // SAFETY: `cpu_set_t` is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; `set` is a writable cpu_set_t of the size passed.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return "unknown".to_owned();
    }
    let cpus: Vec<String> = (0..8 * std::mem::size_of::<libc::cpu_set_t>())
        // SAFETY: `cpu` is below CPU_SETSIZE; `set` was filled by the kernel above.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .map(|cpu| cpu.to_string())
        .collect();
    cpus.join(",")
}

fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3_600, rest % 3_600 / 60)
}
