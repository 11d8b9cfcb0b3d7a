#!/usr/bin/env bash
# Runs the test binaries of shmring-ring, shmring-wait, shmring-segment and (whatever exists
# of) shmring-channel under valgrind memcheck: invalid reads/writes, uses of uninitialised
# memory, bad frees and leaks in our unsafe code (mappings, raw copies, fd handling) that
# the ordinary tests cannot see. Cross-process tests re-execute the test binary as a child,
# so --trace-children=yes checks the children too; every process writes its own log and
# any log with errors fails the job, even when a test captured the child's stderr.
#
# Usage: ci/valgrind.sh            (installs valgrind with apt-get when missing)
#
# Takes about 6 minutes on the 2-core VM. A few tests are skipped by name below (too slow
# under valgrind, or failing for a valgrind limitation rather than a memory error); each
# skip says why. ci/valgrind.supp holds suppressions, each justified in a comment.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
    echo "== installing valgrind"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq valgrind
fi
valgrind --version

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/valgrind"
# Debug build (debug assertions on, line numbers in the reports); valgrind needs no
# instrumentation. The "test" profile of every crate below.
packages=(shmring-ring shmring-wait shmring-segment)
optional_packages=(shmring-channel) # being written; its tests run when they build

# Tests skipped under valgrind (substring match, as `--skip`), with the reason:
skips=(
    # 200 000 records through a thread pair: 80 s under valgrind on the 2-core VM; the
    # hostile and model suites walk the same code paths with far fewer records.
    records_cross_threads_in_order_with_their_contents_across_many_wraps
    # Channel tests that SIGKILL a child and expect PeerDead. Valgrind 3.19 (Debian 12)
    # answers pidfd_open(2) with ENOSYS ("unhandled amd64-linux syscall: 434"), so liveness
    # falls back to kill(pid, 0), which sees the killed, not yet reaped child (a zombie) as
    # alive until the test reaps it after the assertion: a Timeout, not a memory error. The
    # killed child never reaches its leak check anyway.
    killed_child_is_dead
    killing_a_child_mid_send
    # Counts the wake-ups of an idle `recv_timeout`: without pidfd_open (above) liveness polls
    # in 50 ms slices, and valgrind's scheduler adds context switches of its own (213 in 1 s):
    # a count that says nothing under valgrind, not a memory error.
    a_receiver_idle_in_recv_with_a_live_peer_sleeps_until_its_deadline_without_waking
    # io_uring FUTEX_WAIT (crates/channel/tests/loop_sleep.rs): valgrind 3.19 does not model
    # io_uring, so the kernel's futex read of the watched word never matches and every wait
    # ends with -ECANCELED. The same park protocol runs under valgrind through the thread waits.
    kernel_sleep
)
# Re-executed children that end their process on purpose mid-test (`std::process::exit`,
# playing a peer that dies without closing) are not traced: memcheck would report libtest's
# own state, still held by the main thread at that exit, as "possibly lost". Their shmring
# code (attach, send) is what every other traced child runs too.
untraced_children=(
    a_child_that_exits_without_closing_is_reported_dead_while_it_is_not_yet_reaped
    the_server_learns_that_a_client_process_died
)
skip_args=()
for s in "${skips[@]}"; do skip_args+=(--skip "$s"); done

# Prints the test executables that `cargo test --no-run` builds for package $1.
test_binaries() {
    cargo test --locked --no-run --message-format=json -p "$1" 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("profile", {}).get("test") and msg.get("executable"):
        print(msg["executable"])
'
}

binaries=()
for package in "${packages[@]}" "${optional_packages[@]}"; do
    echo "== building tests of $package"
    if ! cargo test --locked --no-run -p "$package" --quiet; then
        if [[ " ${optional_packages[*]} " == *" $package "* ]]; then
            echo "warning: tests of $package do not build yet; skipped"
            continue
        fi
        exit 1
    fi
    mapfile -t found < <(test_binaries "$package")
    binaries+=("${found[@]}")
done

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
vg=(valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,possible
    --errors-for-leak-kinds=definite,possible --trace-children=yes --child-silent-after-fork=yes
    --fair-sched=yes
    --trace-children-skip-by-arg="$(IFS=,; echo "${untraced_children[*]}")"
    --suppressions=ci/valgrind.supp --num-callers=30)

# --fair-sched=yes: valgrind runs one thread at a time, and its default lock lets a thread that
# spins (the scribbler, a spinning receiver) take it again and again, starving the others for
# seconds; a non-blocking call in the hostile suite once took 7 s that way. A fair (ticket) lock
# hands it round.
failed=()
for binary in "${binaries[@]}"; do
    name="$(basename "$binary")"
    mkdir -p "$logs/$name"
    start=$SECONDS
    status=0
    # --test-threads=2: the machine has 2 cores, and valgrind runs one thread at a time anyway.
    "${vg[@]}" --log-file="$logs/$name/vg.%p.log" "$binary" --test-threads=2 "${skip_args[@]}" \
        >"$logs/$name/stdout" 2>&1 || status=$?
    # Any process (parent or re-executed child) whose log reports errors fails the binary. A
    # child killed on purpose (kill -9 tests) leaves a log without a summary: not an error.
    bad="$(grep -l -E 'ERROR SUMMARY: [1-9]' "$logs/$name"/vg.*.log || true)"
    result="$(grep -E '^test result:' "$logs/$name/stdout" | tail -n 1 || true)"
    processes="$(find "$logs/$name" -name 'vg.*.log' | wc -l)"
    echo "== $name: exit $status, $processes process(es), $((SECONDS - start)) s; ${result:-no test result}"
    if [ "$status" -ne 0 ] || [ -n "$bad" ]; then
        failed+=("$name")
        grep -E -A4 "panicked at|^---- " "$logs/$name/stdout" | head -n 60 || true
        tail -n 5 "$logs/$name/stdout"
        for log in $bad; do
            echo "---- $log"
            cat "$log"
        done
    fi
done

if ((${#failed[@]})); then
    echo "ci/valgrind.sh: FAILED: ${failed[*]}"
    exit 1
fi
echo "ci/valgrind.sh: ${#binaries[@]} test binaries clean under memcheck"
