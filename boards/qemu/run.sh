#!/usr/bin/env bash
# Build the four firmwares and run each under QEMU, bounded by `timeout`.
#
#   boards/qemu/run.sh                 # all four
#   boards/qemu/run.sh microbit        # one (lm3s6965evb, mps2-an386, microbit, riscv-virt)
#
# Needs the Rust targets (thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf
# riscv32imac-unknown-none-elf) and qemu-system-arm / qemu-system-riscv32; `.ci/firmware.sh`
# installs them. Each firmware prints its checks through semihosting and exits QEMU with its
# status. The UART is a pair of FIFOs: when the firmware announces itself there, this script
# sends `ping` and expects `pong` back, so the UART receive interrupt is fed from the host
# while the firmware's read is blocked.
#
# QEMU runs with `-icount shift=4,sleep=off`: 16 ns of virtual time per instruction, and idle
# time skipped. Runs are deterministic (the tick a deadline fires on does not depend on how
# busy the host is) and take about a second each. QEMU_TIMEOUT (default 120 s) bounds each run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target_dir="$root/target/qemu"
limit="${QEMU_TIMEOUT:-120}"

# binary  target  emulator  machine  extra QEMU arguments
boards=(
  "lm3s6965evb thumbv7m-none-eabi qemu-system-arm lm3s6965evb"
  "mps2-an386 thumbv7em-none-eabihf qemu-system-arm mps2-an386"
  "microbit thumbv6m-none-eabi qemu-system-arm microbit"
  "riscv-virt riscv32imac-unknown-none-elf qemu-system-riscv32 virt -bios none"
)

run_one() {
  local bin=$1 target=$2 qemu=$3 machine=$4
  shift 4
  local fw="$target_dir/$target/release/$bin"
  # `|| return`: errexit does not apply inside a function called from `run_one ... ||`.
  cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target "$target" \
    --target-dir "$target_dir" --bin "$bin" || return 1

  local dir
  dir=$(mktemp -d)
  mkfifo "$dir/uart.in" "$dir/uart.out"
  local t0
  t0=$(date +%s%N)
  timeout "$limit" "$qemu" -machine "$machine" -display none -monitor none \
    -icount shift=4,sleep=off \
    -semihosting-config enable=on,target=native \
    -chardev "pipe,id=uart,path=$dir/uart" -serial chardev:uart \
    "$@" -kernel "$fw" >"$dir/log" 2>&1 &
  local qpid=$!
  # Read-write opens of a FIFO never block, whether or not QEMU has opened its ends yet.
  local to from
  exec {to}<>"$dir/uart.in" {from}<>"$dir/uart.out"
  local line="" reply="" uart_ok=false
  if IFS= read -r -t "$limit" -u "$from" line && [[ $line == "netpoll-qemu: send a line" ]]; then
    printf 'ping\n' >&"$to"
    if IFS= read -r -t "$limit" -u "$from" reply && [[ $reply == pong ]]; then
      uart_ok=true
    fi
  fi
  local rc=0
  wait "$qpid" || rc=$?
  exec {to}>&- {from}>&-
  local ms=$((($(date +%s%N) - t0) / 1000000))
  sed 's/^/    /' "$dir/log"
  rm -rf "$dir"
  if [[ $rc -ne 0 ]]; then
    [[ $rc -eq 124 ]] && echo "$bin: TIMEOUT after ${limit}s" >&2
    echo "$bin: FAILED (exit status $rc)" >&2
    return 1
  fi
  if [[ $uart_ok != true ]]; then
    echo "$bin: FAILED (UART: announced '${line}', answered '${reply}')" >&2
    return 1
  fi
  printf '%s: passed in %d.%03d s under %s -machine %s\n' "$bin" $((ms / 1000)) $((ms % 1000)) "$qemu" "$machine"
}

failed=0
for b in "${boards[@]}"; do
  read -r -a f <<<"$b"
  if [[ $# -gt 0 && " $* " != *" ${f[0]} "* ]]; then
    continue
  fi
  run_one "${f[@]}" || failed=$((failed + 1))
done
if [[ $failed -ne 0 ]]; then
  echo "$failed firmware run(s) failed" >&2
  exit 1
fi
