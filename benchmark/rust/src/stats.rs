//! Statistics (nearest-rank percentiles, median with min–max across runs) and this process's
//! resource usage (`getrusage(RUSAGE_SELF)`).

/// Percentiles of one run's samples, in the samples' unit.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

/// Nearest-rank percentiles of `samples` (sorted in place).
pub fn percentiles(samples: &mut [u64]) -> Percentiles {
    samples.sort_unstable();
    let rank = |p: f64| {
        let i = (p * samples.len() as f64).ceil() as usize;
        samples[i.clamp(1, samples.len()) - 1] as f64
    };
    Percentiles { p50: rank(0.50), p99: rank(0.99), p999: rank(0.999) }
}

/// Median (the mean of the middle two for an even count), min and max of one figure's runs.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// Summarises `values` (at least one).
pub fn summarize(values: &[f64]) -> Summary {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    Summary { median, min: v[0], max: v[n - 1] }
}

/// CPU time and context switches of this process so far.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User + system CPU time, in nanoseconds.
    pub cpu_ns: u64,
    /// Voluntary context switches (the process blocked: futex sleep, blocking read).
    pub voluntary: u64,
    /// Involuntary context switches (the scheduler took the CPU away).
    pub involuntary: u64,
    /// Minor page faults (first touch of a mapped page).
    pub minor_faults: u64,
}

impl Usage {
    /// `getrusage(RUSAGE_SELF)` now.
    pub fn now() -> Usage {
        // SAFETY: `rusage` is plain data; all zeroes is a valid value for getrusage to overwrite.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
        let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        assert_eq!(r, 0, "getrusage(RUSAGE_SELF) cannot fail with valid arguments");
        let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
        Usage {
            cpu_ns: ns(ru.ru_utime) + ns(ru.ru_stime),
            voluntary: ru.ru_nvcsw as u64,
            involuntary: ru.ru_nivcsw as u64,
            minor_faults: ru.ru_minflt as u64,
        }
    }

    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: Usage) -> Usage {
        Usage {
            cpu_ns: self.cpu_ns.saturating_sub(earlier.cpu_ns),
            voluntary: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary: self.involuntary.saturating_sub(earlier.involuntary),
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<u64> = (1..=1000).rev().collect();
        let p = percentiles(&mut samples);
        assert_eq!((p.p50, p.p99, p.p999), (500.0, 990.0, 999.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let s = summarize(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
    }
}
