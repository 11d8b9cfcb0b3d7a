//! shmring-bench: shmring beside a Unix domain socket pair, between two real processes,
//! measured the same way in one run.
//!
//! The parent creates the link (a shmring channel, a socket pair, or a bare shared segment for
//! the hardware floor), re-executes itself as the child with the link's fd inherited, and
//! measures; the child echoes, drains or idles. Every figure is measured `--runs` times, each
//! run with fresh processes, and reported as the median with min–max.
//!
//! ```text
//! cargo run --release -p shmring-bench -- --runs 5 --md benchmark/RESULTS.md --json bench.json
//! cargo run --release -p shmring-bench -- --quick
//! ```
//!
//! * `cli.rs`       options
//! * `link.rs`      spawning the child and handing it its end (channel, socket, floor segment)
//! * `wire.rs`      message stamps: sequence number and a cheap checksum, verified on receipt
//! * `roundtrip.rs` 64 B round trips: spinning and sleeping receivers
//! * `oneway.rs`    one-way 64 B messages/s and 1 MiB GB/s
//! * `idle.rs`      CPU time of a receiver blocked with nothing to receive
//! * `sizes.rs`     size sweep, spinning round trips and streams (`npx shmring bench`'s ceiling)
//! * `stats.rs`     percentiles, medians, resource usage
//! * `report.rs`    markdown and JSON output, targets
//! * `machine.rs`   what the numbers were measured on
//! * `pathcost.rs`  `--path-cost`: per-call CPU cost in one process, for profiling

/// Marks every item inside as Linux-only (see `main` below for why).
macro_rules! linux_only {
    ($($item:item)*) => { $(#[cfg(target_os = "linux")] $item)* };
}

linux_only! {
    mod cli;
    mod idle;
    mod link;
    mod machine;
    mod oneway;
    mod pathcost;
    mod report;
    mod roundtrip;
    mod sizes;
    mod stats;
    mod wire;

    use std::process::ExitCode;

    /// Errors of the benchmark: any failure aborts the run.
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
}

// Linux only: it pins CPUs (`sched_setaffinity`), reads /proc and passes fds. Elsewhere the
// binary only says so, so that the workspace builds and tests on every OS.
#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("shmring-bench runs on Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(link::CHILD_ARG) {
        return match link::child_main(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shmring-bench child: {e}");
                ExitCode::from(2)
            }
        };
    }
    if args.first().map(String::as_str) == Some("--path-cost") {
        let rounds = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(20);
        return match pathcost::run(rounds) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shmring-bench --path-cost: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let options = match cli::Options::parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("shmring-bench: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(64);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmring-bench: {e} (run aborted)");
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_os = "linux")]
fn run(options: &cli::Options) -> Result<()> {
    if options.pin {
        link::pin_to_cpu(link::PARENT_CPU)?;
    }
    let before = machine::Machine::probe();
    let mut results = report::Results::default();
    let started = std::time::Instant::now();
    for run in 1..=options.runs {
        eprintln!("shmring-bench: run {run}/{} …", options.runs);
        if options.wants(cli::Group::RoundTrip) {
            roundtrip::run_all(options, &mut results)?;
        }
        if options.wants(cli::Group::OneWay) {
            oneway::run_small(options, &mut results)?;
        }
        if options.wants(cli::Group::Big) {
            oneway::run_big(options, &mut results)?;
        }
        if options.wants(cli::Group::Idle) {
            idle::run(options, &mut results)?;
        }
        if options.wants(cli::Group::Sizes) {
            sizes::run(options, &mut results)?;
        }
    }
    let machine = before.finish();
    let report = report::Report { options, machine: &machine, results: &results, elapsed: started.elapsed() };
    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(path) = &options.md {
        let block = options.block.as_deref().unwrap_or(if options.pin { "bench-pinned" } else { "bench" });
        report::write_markdown(path, block, &markdown)?;
        eprintln!("shmring-bench: wrote {}", path.display());
    }
    if let Some(path) = &options.json {
        std::fs::write(path, report.json())?;
        eprintln!("shmring-bench: wrote {}", path.display());
    }
    Ok(())
}
