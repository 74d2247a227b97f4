#!/usr/bin/env bash
# netpoll's own flash and RAM on each target, and the four firmwares' totals.
#
#   boards/qemu/size.sh            # table on stdout; exit 1 if netpoll-core's code on thumbv7m
#                                  # exceeds CORE_TEXT_LIMIT (default 8192 bytes)
#
# netpoll's share is a difference: the `size-probe` binary is built three ways per target
# (baseline: runtime, time driver, semihosting exit, and the compiler builtins any firmware
# links, memory copies and 64-bit division; `probe-core`: plus netpoll-core over a
# do-nothing poller, every public operation called; `probe-boards`: plus netpoll-boards as a
# board uses it) and the baseline's sections are subtracted. "netpoll-core code" is the
# .text difference less the compiler builtins the baseline did not already link (other
# memcpy/memset variants, shown apart as "+ builtins"); flash and RAM count everything.
# The probe is built with the `size` profile (release at opt-level "z": LTO, one codegen unit,
# panic = abort with a handler that formats nothing); the firmware table shows the four test
# firmwares as they run, with the release profile (opt-level "s").
#
# flash = .vector_table/.init/.trap + .text + .rodata + .data (its initial values);
# RAM = .data + .bss (+ .uninit); stacks and heaps are not counted.
# Needs the `llvm-tools` rustup component (for llvm-size).
set -euo pipefail
shopt -s inherit_errexit # a failed build inside $(build_probe ...) stops the script
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target_dir="$root/target/qemu-size"
limit="${CORE_TEXT_LIMIT:-8192}"
host=$(rustc -vV | sed -n 's/^host: //p')
size_tool="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-size"
nm_tool="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-nm"
if [[ ! -x $size_tool ]]; then
  echo "size.sh: llvm-size not found; run: rustup component add llvm-tools" >&2
  exit 1
fi

targets=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf)
firmwares=(
  "microbit thumbv6m-none-eabi"
  "lm3s6965evb thumbv7m-none-eabi"
  "mps2-an386 thumbv7em-none-eabihf"
  "riscv-virt riscv32imac-unknown-none-elf"
)

# Print "text rodata flash ram builtins" for an ELF file; builtins: the bytes of compiler
# builtins (memcpy and friends, 64-bit division) in it.
measure() {
  local builtins
  builtins=$("$nm_tool" -S --radix=d "$1" |
    awk '$3 ~ /^[tT]$/ && $4 ~ /^(__aeabi_|__udiv|__umod|__div|__mod|__mul|__ashl|__lshr|mem(cpy|set|move|cmp)$|_ZN17compiler_builtins)/ { s += $2 } END { print s + 0 }')
  "$size_tool" -A "$1" | awk '
    $1 ~ /^\.(vector_table|init|trap)$/ { flash += $2 }
    $1 == ".text"   { text += $2; flash += $2 }
    $1 == ".rodata" { ro += $2; flash += $2 }
    $1 == ".data"   { flash += $2; ram += $2 }
    $1 == ".bss" || $1 == ".uninit" { ram += $2 }
    END { printf "%d %d %d %d ", text, ro, flash, ram }'
  echo "$builtins"
}

build_probe() { # target features -> path of a copy of the binary
  local target=$1 features=$2 out
  cargo build --profile size --quiet --manifest-path "$here/Cargo.toml" --target "$target" \
    --target-dir "$target_dir" --bin size-probe --features "$features"
  out="$target_dir/size-probe-$target-$features"
  cp "$target_dir/$target/size/size-probe" "$out"
  echo "$out"
}

echo "| target | netpoll-core code | + builtins | netpoll-core flash | netpoll-core RAM | core + boards flash | core + boards RAM |"
echo "|---|---:|---:|---:|---:|---:|---:|"
status=0
for t in "${targets[@]}"; do
  base=$(build_probe "$t" size-probe)
  if "$nm_tool" -C "$base" | grep -qE "netpoll_(core|boards)"; then
    echo "size.sh: the baseline probe for $t links netpoll code; the difference would be wrong" >&2
    exit 1
  fi
  core=$(build_probe "$t" probe-core)
  full=$(build_probe "$t" probe-boards)
  read -r bt _ bf br bb <<<"$(measure "$base")"
  read -r ct _ cf cr cb <<<"$(measure "$core")"
  read -r _ _ af ar _ <<<"$(measure "$full")"
  code=$((ct - bt - (cb - bb)))
  echo "| $t | $code | $((cb - bb)) | $((cf - bf)) | $((cr - br)) | $((af - bf)) | $((ar - br)) |"
  if [[ $t == thumbv7m-none-eabi && $code -gt $limit ]]; then
    echo "size.sh: netpoll-core's code on $t is $code bytes, over $limit" >&2
    status=1
  fi
done

echo
echo "| firmware (release, opt-level s) | target | flash | RAM (static) |"
echo "|---|---|---:|---:|"
for f in "${firmwares[@]}"; do
  read -r bin t <<<"$f"
  cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target "$t" \
    --target-dir "$root/target/qemu" --bin "$bin"
  read -r _ _ ff fr _ <<<"$(measure "$root/target/qemu/$t/release/$bin")"
  echo "| $bin | $t | $ff | $fr |"
done
exit "$status"
