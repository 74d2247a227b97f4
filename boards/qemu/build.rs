//! Give each binary its machine's memory layout and the runtime's linker script.
//!
//! The four binaries share this package, but each needs its own `memory.x`: each gets a
//! directory of its own holding one, added to the linker's search path for that binary only.

use std::path::PathBuf;
use std::{env, fs};

const BINS: [&str; 5] = [
    "lm3s6965evb",
    "mps2-an386",
    "microbit",
    "riscv-virt",
    "size-probe",
];

/// The memory layout the size probe borrows on each target.
fn probe_layout(target: &str) -> &'static str {
    match target {
        "thumbv6m-none-eabi" => "microbit",
        "thumbv7em-none-eabihf" => "mps2-an386",
        t if t.starts_with("riscv32") => "riscv-virt",
        _ => "lm3s6965evb",
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=TARGET");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let target = env::var("TARGET").unwrap_or_default();
    // cortex-m-rt's `device` feature includes `device.x`: the binaries define their own
    // `__INTERRUPTS`, so it has nothing to add.
    fs::write(
        out.join("device.x"),
        "/* interrupts: see __INTERRUPTS in each binary */\n",
    )
    .expect("write device.x");
    println!("cargo:rustc-link-search={}", out.display());
    for bin in BINS {
        let dir = out.join(bin);
        fs::create_dir_all(&dir).expect("create the binary's link directory");
        let layout = if bin == "size-probe" {
            probe_layout(&target)
        } else {
            bin
        };
        let src = format!("memory/{layout}.x");
        fs::copy(&src, dir.join("memory.x")).expect("copy memory.x");
        println!("cargo:rerun-if-changed={src}");
        println!("cargo:rustc-link-arg-bin={bin}=-L{}", dir.display());
        match arch.as_str() {
            "arm" => {
                println!("cargo:rustc-link-arg-bin={bin}=--nmagic");
                println!("cargo:rustc-link-arg-bin={bin}=-Tlink.x");
            }
            "riscv32" => {
                println!("cargo:rustc-link-arg-bin={bin}=-Tmemory.x");
                println!("cargo:rustc-link-arg-bin={bin}=-Tlink.x");
            }
            _ => {}
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
