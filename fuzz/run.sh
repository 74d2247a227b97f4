#!/usr/bin/env bash
# Build and run the libFuzzer target(s) of netpoll-core on the stable toolchain.
#
#   fuzz/run.sh replay            build, then run every committed corpus input once (CI)
#   fuzz/run.sh fuzz SECONDS      build, then fuzz for SECONDS (new inputs go to
#                                 fuzz/target/corpus/<target>, crashes to fuzz/artifacts/<target>)
#
# Environment: TARGET (default ops), JOBS (parallel fuzzing processes, default 1),
# FUZZ_SANITIZER=address for an AddressSanitizer build (see below).
#
# Why not `cargo fuzz run`: cargo-fuzz defaults to AddressSanitizer, which needs the unstable
# `-Zsanitizer` flag, and this project builds on stable only. The coverage instrumentation
# libFuzzer needs is all stable `-C` flags, so this script passes the same flags
# `cargo fuzz build --sanitizer none` passes (cargo-fuzz 0.13) and needs no cargo-fuzz
# install. With cargo-fuzz installed, `cargo fuzz run ops --sanitizer none` from the repository
# root is equivalent. FUZZ_SANITIZER=address adds `-Zsanitizer=address` and sets
# RUSTC_BOOTSTRAP=1 for this build only (stable rustc then accepts the unstable flag). It is
# opt-in: the target is safe Rust over the core, whose few unsafe blocks are fenced in one module.
set -euo pipefail
cd "$(dirname "$0")"

target=${TARGET:-ops}
mode=${1:-}

flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  -Cllvm-args=-sanitizer-coverage-stack-depth
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0
  -Cdebug-assertions
  -Coverflow-checks
  -Ccodegen-units=1
  --cfg fuzzing
)
target_dir=target/plain
if [ "${FUZZ_SANITIZER:-none}" = address ]; then
  flags+=(-Zsanitizer=address)
  export RUSTC_BOOTSTRAP=1 ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}
  target_dir=target/asan
fi

build() {
  # --target keeps the instrumentation flags off build scripts and proc macros.
  RUSTFLAGS="${flags[*]}" cargo build --locked --release \
    --target x86_64-unknown-linux-gnu --target-dir "$target_dir" --bin "$target"
}
bin="$target_dir/x86_64-unknown-linux-gnu/release/$target"

case "$mode" in
  replay)
    build
    inputs=(corpus/"$target"/*)
    # -runs=0 with a directory: execute each input once, nothing new is generated.
    "$bin" -runs=0 corpus/"$target"
    echo "replayed ${#inputs[@]} inputs of corpus/$target: no crash"
    ;;
  fuzz)
    seconds=${2:?usage: run.sh fuzz SECONDS}
    build
    work=target/corpus/"$target"
    mkdir -p "$work" artifacts/"$target"
    # New inputs are written to the first directory only: the committed corpus is read, never
    # changed. Minimise new finds into it by hand with -merge=1 if they are worth keeping.
    parallel=()
    if [ "${JOBS:-1}" -gt 1 ]; then parallel=(-jobs="$JOBS" -workers="$JOBS"); fi
    "$bin" -max_total_time="$seconds" "${parallel[@]}" \
      -artifact_prefix=artifacts/"$target"/ -print_final_stats=1 \
      "$work" corpus/"$target"
    ;;
  *)
    echo "usage: $0 replay | fuzz SECONDS" >&2
    exit 2
    ;;
esac
