#!/usr/bin/env bash
# Cross-target type check: `cargo check` (and `cargo clippy -D warnings`) of the whole
# workspace — libraries, tests, examples, benches, the napi addon — for every target we ship
# a prebuilt addon for, on a Linux x86_64 machine that has no std for those targets.
#
# What it proves: every target's code paths (the macOS, Windows, musl and arm64 backends
# included) parse, resolve, type-check and borrow-check, and pass clippy. What it does NOT
# prove: nothing is linked or run; linker errors, wrong syscall numbers or wrong behaviour
# show only on a real machine of that OS (the GitHub matrix runs ci/rust.sh on macOS and
# Windows).
#
# How: Debian bookworm packages Rust 1.85 (our MSRV) as `rustc-web`/`cargo-web`, and its
# standard library sources as `rust-web-src` (in `<sysroot>/lib/rustlib/src/rust/library`,
# where `-Zbuild-std` looks for them). `-Zbuild-std` compiles core/std for each target from
# those sources (std's own dependencies come from the crate registry), so no prebuilt std
# for the target is needed. RUSTC_BOOTSTRAP=1 unlocks `-Z` flags on that stable compiler.
# The Debian toolchain lives in /usr/bin; it is selected by absolute paths and a PATH set
# for this script only, so a rustup toolchain on the same machine is neither used nor touched.
#
# Usage: bash ci/cross-check.sh [target...]   (default: all targets below)
# Needs Debian 12 (bookworm), e.g. a debian:bookworm container on a GitHub ubuntu runner, and
# root (or passwordless sudo) the first time, to install the apt packages.
# CARGO_TARGET_DIR defaults to target/cross; std is built once per target and kept there
# (first run of all targets: ~25 min on 2 cores; later runs: a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(
  x86_64-unknown-linux-gnu
  aarch64-unknown-linux-gnu
  x86_64-unknown-linux-musl
  aarch64-unknown-linux-musl
  x86_64-apple-darwin
  aarch64-apple-darwin
  x86_64-pc-windows-msvc
)
if [ "$#" -gt 0 ]; then
  targets=("$@")
fi

echo "== Debian Rust 1.85 toolchain (rustc-web, cargo-web, rust-web-src, rust-web-clippy)"
# ca-certificates: cargo fetches std's dependencies over HTTPS (slim container images lack it).
packages=(rustc-web cargo-web rust-web-src rust-web-clippy ca-certificates)
missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  if ! { "${sudo[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"; }; then
    echo "cannot install ${missing[*]}: this script needs Debian 12 (bookworm) or a debian:bookworm container" >&2
    exit 1
  fi
fi

# Only the Debian toolchain from here on: absolute paths, and no rustup proxy in PATH (a rustup
# `cargo` would otherwise pick its own rustc). cargo-clippy is called by path because cargo
# looks for subcommands in $CARGO_HOME/bin first, where rustup keeps its proxies.
export PATH="/usr/bin:/bin"
export CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTFLAGS
export RUSTC_BOOTSTRAP=1
# musl targets link statically by default, which rules out a cdylib (the Node addon); napi
# builds them with a dynamic C runtime, and so does this check.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=-crt-static"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=-crt-static"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/cross"
sysroot="$("$RUSTC" --print sysroot)"
if [ ! -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ]; then
  echo "std sources not found under $sysroot/lib/rustlib/src/rust/library (package rust-web-src)" >&2
  exit 1
fi
"$RUSTC" --version
"$CARGO" --version

# `test` is needed by the test and bench harnesses; panic_abort by std's panic strategy choice.
# --ignore-rust-version: napi-rs 3 and proptest declare rust-version 1.88; this 1.85 compiler
# still type-checks them, which is all this script needs.
common=(--workspace --all-targets --locked --ignore-rust-version -Zbuild-std=std,panic_abort,test)
# Lints this clippy (1.85) reports that the current stable clippy no longer does (the host
# clippy of ci/rust.sh still checks the rest of these lints' cases): `precedence` covered
# `a << b | c` until bit operators moved to the allow-by-default `precedence_bits`;
# `needless_lifetimes` covered named impl-header lifetimes until those moved to the pedantic
# `elidable_lifetime_names`.
old_clippy_only=(-A clippy::precedence -A clippy::needless_lifetimes)
failed=()
for target in "${targets[@]}"; do
  echo "== cargo check --target $target"
  if ! "$CARGO" check "${common[@]}" --target "$target"; then
    failed+=("$target (check)")
    continue
  fi
  echo "== cargo clippy --target $target"
  if ! /usr/bin/cargo-clippy clippy "${common[@]}" --target "$target" -- -D warnings "${old_clippy_only[@]}"; then
    failed+=("$target (clippy)")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  printf 'cross-check failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "cross-check passed: ${targets[*]}"
