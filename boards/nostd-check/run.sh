#!/usr/bin/env bash
# Prove that netpoll-core and netpoll-boards need no std, on this host:
#  1. `cargo tree`: no `std` feature is enabled for either crate (or anything they pull in)
#     on a normal build;
#  2. build the `#![no_std]`, `#![no_main]`, panic = abort binary in this directory (its own
#     workspace), which links only libc: a dependency that pulled std would clash with our
#     panic handler and fail the link;
#  3. check that no std symbol made it into the binary, and run it (exit 0 = all checks ok).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

for crate in netpoll-core netpoll-boards; do
  tree=$(cd "$root" && cargo tree -p "$crate" -e features,normal)
  if printf '%s\n' "$tree" | grep -E '"std"|feature "std"'; then
    echo "nostd-check: $crate enables a std feature on a normal build" >&2
    exit 1
  fi
done
echo "nostd-check: no std feature in the normal dependency trees of netpoll-core and netpoll-boards"

target="$root/target/nostd-check"
cargo build --release --manifest-path "$here/Cargo.toml" --target-dir "$target"
bin="$target/release/netpoll-nostd-check"
if command -v nm >/dev/null 2>&1; then
  if nm -C "$bin" | grep -E ' std::' | head -5 | grep -q .; then
    echo "nostd-check: std symbols found in the binary" >&2
    exit 1
  fi
fi
"$bin"
