//! Pick the atomics scheme for the loop's shared words (see `src/wake_at.rs` and
//! `src/counters.rs`): `netpoll_wide_atomics` where the target has native 64-bit atomics (and
//! under loom, which models them), unless `NETPOLL_FORCE_NARROW=1` asks for the 32-bit schemes
//! on such a host, to test them there.

use std::env;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(netpoll_wide_atomics)");
    println!("cargo:rerun-if-env-changed=NETPOLL_FORCE_NARROW");
    let has_64 = env::var("CARGO_CFG_TARGET_HAS_ATOMIC")
        .is_ok_and(|list| list.split(',').any(|w| w == "64"));
    let loom = env::var("CARGO_CFG_LOOM").is_ok();
    let forced = env::var("NETPOLL_FORCE_NARROW").is_ok_and(|v| v == "1");
    if (has_64 || loom) && !forced {
        println!("cargo:rustc-cfg=netpoll_wide_atomics");
    }
}
