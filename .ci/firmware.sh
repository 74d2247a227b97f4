#!/usr/bin/env bash
# Microcontroller CI (called from .ci/run; runs alone too): cross targets and QEMU, the
# 32-bit atomics schemes on the host, netpoll-core and netpoll-boards built for every target
# with the feature sets a user would pick, the four firmwares run under QEMU, and sizes.
#
# Installs what it needs: the Rust targets and llvm-tools with rustup, QEMU with apt-get
# (root, as CI runs). Every QEMU run is bounded by `timeout` (boards/qemu/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

part() { printf '\n--- firmware: %s (%ss)\n' "$*" "$SECONDS"; }

targets=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf)

part "install Rust targets, llvm-tools and QEMU"
# Retried: another rustup running on the same toolchain makes an install fail half-way.
retry() { local i; for i in 1 2 3; do "$@" && return 0; sleep 10; done; "$@"; }
sysroot=$(rustc --print sysroot)
missing=()
for t in "${targets[@]}"; do
  [[ -d $sysroot/lib/rustlib/$t/lib ]] || missing+=("$t")
done
if [[ ${#missing[@]} -gt 0 ]]; then retry rustup target add "${missing[@]}"; fi
host=$(rustc -vV | sed -n 's/^host: //p')
llvm_bin="$sysroot/lib/rustlib/$host/bin"
if [[ ! -x $llvm_bin/llvm-size ]]; then retry rustup component add llvm-tools; fi
if ! command -v qemu-system-arm >/dev/null 2>&1 || ! command -v qemu-system-riscv32 >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends qemu-system-arm qemu-system-misc >/dev/null
fi
qemu-system-arm --version | head -1

part "host: the 32-bit wake-up promise and counters (NETPOLL_FORCE_NARROW=1)"
# The core's unit tests, and the loom models that race a deadline setter (9a-c) and a stats
# reader (10) against the loop, with the schemes every target without 64-bit atomics uses.
# Its own target directory: .ci/run's loom models may be running in target/loom meanwhile.
NETPOLL_FORCE_NARROW=1 cargo test -q -p netpoll-core --lib --target-dir target/narrow
NETPOLL_FORCE_NARROW=1 RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 \
  cargo test -q -p netpoll-core --release --target-dir target/loom-narrow --test loom -- bounds_or_wakes_it
NETPOLL_FORCE_NARROW=1 RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
  cargo test -q -p netpoll-core --release --target-dir target/loom-narrow --test loom -- stats_read

part "cross: netpoll-core and netpoll-boards for every target and feature set"
# netpoll-boards forwards defmt, log and critical-section to netpoll-core, so each line checks
# both crates with that set. The firmware step below compiles and links them for real.
cross() { # target features
  printf '  %-30s %s\n' "$1" "${2:-(no features)}"
  cargo check -q -p netpoll-boards --target "$1" --target-dir target/cross \
    --no-default-features ${2:+--features "$2"}
}
for t in "${targets[@]}"; do
  case $t in
    thumbv6m-*) base=critical-section idle=cortex-m ;; # no compare-and-swap: required
    thumb*) base="" idle=cortex-m ;;
    riscv*) base="" idle=riscv ;;
  esac
  with() { echo "$base${base:+${1:+,}}$1"; }
  for f in "" defmt log "$idle" "$idle,defmt" "$idle,log"; do
    cross "$t" "$(with "$f")"
  done
  if [[ -z $base ]]; then
    cross "$t" critical-section
    cross "$t" "critical-section,$idle"
  fi
  cargo check -q -p netpoll-core --target "$t" --target-dir target/cross \
    --no-default-features ${base:+--features "$base"}
  cargo clippy -q -p netpoll-boards --target "$t" --target-dir target/cross \
    --features "$(with "$idle")" -- -D warnings
done
# Without the feature, a target without compare-and-swap must fail to build, and say why.
if out=$(cargo check -q -p netpoll-core --target thumbv6m-none-eabi --target-dir target/cross 2>&1); then
  echo "netpoll-core built for thumbv6m without critical-section: expected a clear error" >&2
  exit 1
fi
grep -q "consider enabling one of the \`critical-section\` feature" <<<"$out"

part "firmware under QEMU (boards/qemu/run.sh)"
bash boards/qemu/run.sh
# No firmware links portable-atomic's spin-lock fallback: an interrupt must never wait on a
# lock that the code it interrupted holds.
nm="$llvm_bin/llvm-nm"
for f in thumbv7m-none-eabi/release/lm3s6965evb thumbv7em-none-eabihf/release/mps2-an386 \
  thumbv6m-none-eabi/release/microbit riscv32imac-unknown-none-elf/release/riscv-virt; do
  if "$nm" -C "target/qemu/$f" | grep -q 'portable_atomic::imp::fallback'; then
    echo "target/qemu/$f links portable-atomic's lock-based fallback" >&2
    exit 1
  fi
done

part "firmware: fmt and clippy"
cargo fmt --manifest-path boards/qemu/Cargo.toml -- --check
for b in "lm3s6965evb thumbv7m-none-eabi" "mps2-an386 thumbv7em-none-eabihf" \
  "microbit thumbv6m-none-eabi" "riscv-virt riscv32imac-unknown-none-elf"; do
  read -r bin t <<<"$b"
  cargo clippy -q --release --manifest-path boards/qemu/Cargo.toml --target "$t" \
    --target-dir target/qemu --lib --bin "$bin" -- -D warnings
  cargo clippy -q --release --manifest-path boards/qemu/Cargo.toml --target "$t" \
    --target-dir target/qemu --bin size-probe --features probe-boards -- -D warnings
done

part "sizes (boards/qemu/size.sh; fails if netpoll-core's code on thumbv7m exceeds 8 KiB)"
bash boards/qemu/size.sh

part "done"
