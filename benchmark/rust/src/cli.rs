//! Command-line options; `--quick` picks shorter settings for a run under a minute.

use std::path::PathBuf;
use std::time::Duration;

/// Printed for `--help` and after a bad option.
pub const USAGE: &str = "\
usage: shmring-bench [options]
  --runs N          runs per figure (default 5; 3 with --quick); medians with min-max are reported
  --quick           3 runs, 50k round-trip samples, 0.5 s streams, 1 s idle (under a minute)
  --samples N       timed round trips per run (default 200000)
  --warmup N        untimed round trips before them (default 64000: more than one lap of a
                    4 MiB lane, so the timed ones see no first-touch page faults)
  --duration SECS   how long each one-way stream is timed (default 2)
  --idle SECS       how long the idle receivers block (default 5)
  --only LIST       comma-separated groups: rt, oneway, big, idle (default all), sizes; or single
                    round-trip variants: rt.floor, rt.ring, rt.spin, rt.adaptive, rt.forced, rt.uds
  --sizes LIST      message sizes in bytes of the size sweep (group sizes: spinning round trips
                    and one-way streams per size; default 1,64,1024,4096,65536,1048576); giving
                    --sizes without --only runs only the sweep
  --lane BYTES      normal-lane capacity of the round-trip and 64 B stream channels
                    (default 4194304, the channel default; the 1 MiB stream always uses 4 MiB)
  --pin             pin the parent to CPU 0 and the child to CPU 1 (sched_setaffinity)
  --md FILE         also write the markdown report: replaces the part between the
                    <!-- bench:begin … --> and <!-- bench:end --> markers (bench-pinned:… with
                    --pin) if FILE has them, else appends them with the report
  --block NAME      name of the markdown block --md writes (default bench, bench-pinned with --pin)
  --json FILE       also write every run's numbers as JSON
usage: shmring-bench --path-cost [ROUNDS]
                    per-call CPU cost of the fast path in one process (no second core), for profiling
";

/// A group of figures, selectable with `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// 64 B round trips (spinning and sleeping receivers).
    RoundTrip,
    /// One-way 64 B messages/s.
    OneWay,
    /// One-way 1 MiB GB/s.
    Big,
    /// Idle receiver CPU.
    Idle,
    /// The size sweep (`sizes.rs`).
    Sizes,
}

/// What to measure and where to write it.
#[derive(Debug, Clone)]
pub struct Options {
    pub runs: usize,
    pub quick: bool,
    /// Timed round trips per run and variant.
    pub samples: usize,
    /// Untimed round trips before them.
    pub warmup: usize,
    /// Normal-lane capacity of the round-trip and 64 B stream channels.
    pub lane: usize,
    /// Timed part of each one-way stream.
    pub duration: Duration,
    /// Untimed start of each one-way stream (the consumer starts its clock after it).
    pub stream_warmup: Duration,
    /// How long the idle receivers block.
    pub idle: Duration,
    pub only: Option<Vec<Group>>,
    /// Message sizes of the size sweep (`None`: `sizes::DEFAULT_SIZES`).
    pub sizes: Option<Vec<usize>>,
    /// Round-trip variants named with `--only rt.<variant>` (`None`: all).
    pub rt_variants: Option<Vec<String>>,
    pub pin: bool,
    pub md: Option<PathBuf>,
    /// Name of the markdown block `--md` replaces (`None`: `bench`, or `bench-pinned`).
    pub block: Option<String>,
    pub json: Option<PathBuf>,
}

impl Options {
    /// Parses `args` (without the program name); `Ok(None)` for `--help`.
    pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = Options {
            runs: if quick { 3 } else { 5 },
            quick,
            samples: if quick { 50_000 } else { 200_000 },
            // One lap of a 4 MiB lane is 58 254 records of 72 B: warm up past it, so the timed
            // samples do not take the first-touch page faults of the lanes.
            warmup: if quick { 5_000 } else { 64_000 },
            lane: shmring_channel::ChannelOptions::default().capacity,
            duration: Duration::from_millis(if quick { 500 } else { 2_000 }),
            stream_warmup: Duration::from_millis(if quick { 100 } else { 200 }),
            idle: Duration::from_secs(if quick { 1 } else { 5 }),
            only: None,
            sizes: None,
            rt_variants: None,
            pin: false,
            md: None,
            block: None,
            json: None,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--help" | "-h" => return Ok(None),
                "--quick" => {}
                "--pin" => o.pin = true,
                "--runs" => o.runs = number(&value("--runs")?, "--runs")?,
                "--samples" => o.samples = number(&value("--samples")?, "--samples")?,
                "--warmup" => o.warmup = number(&value("--warmup")?, "--warmup")?,
                "--lane" => o.lane = number(&value("--lane")?, "--lane")?,
                "--duration" => o.duration = seconds(&value("--duration")?, "--duration")?,
                "--idle" => o.idle = seconds(&value("--idle")?, "--idle")?,
                "--md" => o.md = Some(PathBuf::from(value("--md")?)),
                "--json" => o.json = Some(PathBuf::from(value("--json")?)),
                "--block" => o.block = Some(value("--block")?),
                "--sizes" => {
                    let list = value("--sizes")?;
                    let sizes =
                        list.split(',').map(|s| number(s.trim(), "--sizes")).collect::<Result<Vec<usize>, String>>()?;
                    if let Some(bad) = sizes.iter().find(|&&s| s == 0 || s > crate::sizes::MAX_SIZE) {
                        return Err(format!("--sizes: {bad} is out of range (1 to {})", crate::sizes::MAX_SIZE));
                    }
                    o.sizes = Some(sizes);
                }
                "--only" => {
                    let list = value("--only")?;
                    let (variants, groups_list): (Vec<&str>, Vec<&str>) =
                        list.split(',').map(str::trim).partition(|g| g.starts_with("rt."));
                    let mut only = groups(&groups_list.join(","))?;
                    if !variants.is_empty() {
                        for v in &variants {
                            if !RT_VARIANTS.contains(&&v[3..]) {
                                return Err(format!("--only: unknown round-trip variant {v:?}"));
                            }
                        }
                        o.rt_variants = Some(variants.iter().map(|v| v[3..].to_owned()).collect());
                        only.push(Group::RoundTrip);
                    }
                    o.only = Some(only);
                }
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        if o.sizes.is_some() && o.only.is_none() {
            o.only = Some(vec![Group::Sizes]);
        }
        if o.runs == 0 || o.samples == 0 {
            return Err("--runs and --samples must be at least 1".to_owned());
        }
        Ok(Some(o))
    }

    /// Whether round-trip `variant` (`floor`, `spin`, …) is to be measured.
    pub fn wants_rt(&self, variant: &str) -> bool {
        self.rt_variants.as_ref().is_none_or(|v| v.iter().any(|x| x == variant))
    }

    /// Whether `group` is to be measured (the size sweep only when asked for).
    pub fn wants(&self, group: Group) -> bool {
        match &self.only {
            Some(only) => only.contains(&group),
            None => group != Group::Sizes,
        }
    }
}

fn number(text: &str, name: &str) -> Result<usize, String> {
    text.replace('_', "").parse().map_err(|_| format!("{name}: {text:?} is not a whole number"))
}

fn seconds(text: &str, name: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{name}: {text:?} is not a positive number of seconds"))
}

/// Round-trip variants selectable with `--only rt.<variant>`.
const RT_VARIANTS: [&str; 6] = ["floor", "ring", "spin", "adaptive", "forced", "uds"];

fn groups(text: &str) -> Result<Vec<Group>, String> {
    text.split(',')
        .filter(|g| !g.trim().is_empty())
        .map(|g| match g.trim() {
            "rt" => Ok(Group::RoundTrip),
            "oneway" => Ok(Group::OneWay),
            "big" => Ok(Group::Big),
            "idle" => Ok(Group::Idle),
            "sizes" => Ok(Group::Sizes),
            other => Err(format!("--only: unknown group {other:?} (rt, oneway, big, idle, sizes)")),
        })
        .collect()
}
