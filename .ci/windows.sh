#!/usr/bin/env bash
# The non-Linux targets, called by .ci/run (runs alone too: `bash .ci/windows.sh`).
#
# * Windows (x86_64-pc-windows-gnu): clippy -D warnings (netpoll-std's tokio feature too),
#   then the netpoll-std tests (tokio's hyper round trip too), the conformance suite
#   (netpoll-tests) and the bench binaries' command lines run under Wine 8.0 (Debian 12's
#   wine64), built with `--cfg wine` so that the few tests Wine cannot run are reported as
#   ignored, each with its reason (grep the sources for `cfg_attr(wine`); then netpoll-demo
#   in both modes.
# * FreeBSD, macOS x86-64 and arm64 (kqueue): clippy -D warnings over the whole workspace,
#   tests included (on macOS less netpoll-core's own tests, see below). No linker or OS for
#   them here, so they compile only.
#
# Installs what it needs (as root, on a fresh Debian 12): wine64, mingw-w64, rustup targets.
# Every Wine run is bounded by `timeout`. Prints the Wine pass/skip/fail counts at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

WIN=x86_64-pc-windows-gnu
KQUEUE=(x86_64-unknown-freebsd x86_64-apple-darwin aarch64-apple-darwin)
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver64
TARGET_DIR=target/cross
# Per test binary, and for the whole Wine test run.
WINE_BINARY_LIMIT=${WINE_BINARY_LIMIT:-900}
WINE_TOTAL_LIMIT=${WINE_TOTAL_LIMIT:-2400}

section() { printf '\n--- %s (%ss)\n' "$*" "$SECONDS"; }

section "install wine64, mingw-w64 and the rustup targets"
if ! [ -x "$WINE" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends wine64 gcc-mingw-w64-x86-64 >/dev/null
fi
rustup target add "$WIN" "${KQUEUE[@]}" >/dev/null
rustup component add clippy >/dev/null 2>&1 || true

for t in "${KQUEUE[@]}"; do
  section "clippy -D warnings, workspace with tests: $t (compiles only)"
  case "$t" in
    *-apple-*)
      # netpoll-core's tests and benches pull criterion -> alloca, whose build script compiles
      # C for the target: no macOS C toolchain or SDK here. The core is no_std and the same
      # on every OS; its tests run on Linux.
      cargo clippy -q --workspace --exclude netpoll-core --all-targets --target "$t" \
        --target-dir "$TARGET_DIR" -- -D warnings
      cargo clippy -q -p netpoll-core --lib --target "$t" --target-dir "$TARGET_DIR" -- -D warnings
      ;;
    *)
      cargo clippy -q --workspace --all-targets --target "$t" --target-dir "$TARGET_DIR" \
        -- -D warnings
      ;;
  esac
done

section "clippy -D warnings, workspace with tests: $WIN"
cargo clippy -q --workspace --all-targets --target "$WIN" --target-dir "$TARGET_DIR" -- -D warnings
cargo clippy -q -p netpoll-std --all-targets --features tokio --target "$WIN" \
  --target-dir "$TARGET_DIR" -- -D warnings

section "docs -D warnings: netpoll-std for $WIN"
RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps -p netpoll-std --target "$WIN" --target-dir "$TARGET_DIR"

section "Wine prefix, with a ProcessPrng for Rust's std"
export WINEPREFIX="$PWD/target/wine-prefix" WINEDEBUG=-all
# No Mono or Gecko installer prompts: nothing here needs .NET or HTML.
export WINEDLLOVERRIDES="mscoree,mshtml="
if ! [ -d "$WINEPREFIX/drive_c/windows/system32" ]; then
  timeout 300 "$WINE" wineboot --init >/dev/null 2>&1 || true
  timeout 120 "$WINESERVER" --wait || true
fi
test -d "$WINEPREFIX/drive_c/windows/system32" || { echo "wineboot made no prefix" >&2; exit 1; }
# Wine 8.0 has no bcryptprimitives.dll; Rust's std (1.78+) imports ProcessPrng from it, so
# without this every Rust .exe exits before main. See .ci/wine/bcryptprimitives.c.
x86_64-w64-mingw32-gcc -shared -O2 -Wall -Wextra -Werror \
  -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  .ci/wine/bcryptprimitives.c .ci/wine/bcryptprimitives.def -lbcrypt

section "netpoll-std and netpoll-tests under Wine"
# The short soak with 200 connections instead of 1,000: every socket call under Wine is a
# round trip to the single wineserver process, which also scans every pending AFD poll for
# each socket it re-polls (server/sock.c, sock_get_poll_events), so the cost of an event
# grows with the sockets open. With 1,000 connections (2,000 sockets) on this 2-core machine
# under load, 1,601 round trips went through in 20 s and a timeout came 3.9 s late (the
# bound is 2 s); with 200, 0.84 s. Everything else runs at its Linux size.
export NETPOLL_SOAK_CONNS=${NETPOLL_SOAK_CONNS:-200}
echo "soak under Wine: $NETPOLL_SOAK_CONNS connections (1,000 on Linux), see .ci/windows.sh"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="--cfg wine"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="timeout -k 10 $WINE_BINARY_LIMIT $WINE"
log="$TARGET_DIR/wine-tests.log"
set +e
timeout -k 30 "$WINE_TOTAL_LIMIT" cargo test -p netpoll-std -p netpoll-tests --target "$WIN" \
  --target-dir "$TARGET_DIR" --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The tokio feature's round trip (as on Linux), and the bench binaries' command lines (the
# rest of netpoll-bench measures servers through Linux's /proc: it builds here, above).
timeout -k 30 600 cargo test -p netpoll-std --features tokio --test tokio_hyper --target "$WIN" \
  --target-dir "$TARGET_DIR" 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
timeout -k 30 600 cargo test -p netpoll-bench --test cli --target "$WIN" \
  --target-dir "$TARGET_DIR" 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e

# The demo as a user runs it (server, load client, idle deadlines), in both modes: it must
# exit cleanly and report no client errors.
for mode in async blocking; do
  out=$(timeout -k 10 120 "$WINE" "$TARGET_DIR/$WIN/debug/netpoll-demo.exe" --mode "$mode" \
    --seconds 2 --conns 8 --idle-conns 4 2>&1 | tr '\r' '\n') || { echo "$out"; status=1; }
  printf '%s\n' "$out" | grep -E '^(report|  )' || true
  printf '%s\n' "$out" | grep -q 'load client errors  0;' || { echo "netpoll-demo --mode $mode failed" >&2; status=1; }
done
timeout 60 "$WINESERVER" --kill >/dev/null 2>&1 || true

# The counts, from the harness's own summary lines, and every skip with its reason (tests
# ignored on every OS, such as the long soak, are counted apart from the Wine skips).
wine_skips=$(grep -cE '^test .* \.\.\. ignored, Wine' "$log" || true)
awk -v w="$wine_skips" '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "\nwine: %d tests passed, %d failed, %d skipped because of Wine, %d ignored everywhere\n", p, f, w, i - w }' "$log"
grep -E '^test .* \.\.\. ignored' "$log" | sort || true
if [ "$status" -ne 0 ]; then
  echo "the Windows tests failed under Wine (exit $status)" >&2
  exit "$status"
fi
