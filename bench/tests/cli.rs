//! The suite's binaries share netpoll-std's command-line helper: `--help` lists every flag
//! with its default and exits 0, errors name the flag and exit 2.

use std::process::Command;

#[test]
fn help_and_errors() {
    let bins: [(&str, &[&str]); 3] = [
        (
            env!("CARGO_BIN_EXE_loadgen"),
            &[
                "--addr",
                "--mode",
                "--conns",
                "--size",
                "--duration",
                "--rate",
            ],
        ),
        (
            env!("CARGO_BIN_EXE_runner"),
            &[
                "--smoke",
                "--scenario",
                "--iterations",
                "--servers",
                "--no-build",
            ],
        ),
        (
            env!("CARGO_BIN_EXE_tokio-echo"),
            &[
                "--addr",
                "--flavor",
                "--workers",
                "--timeout-ms",
                "--timeout-on",
                "--buf",
            ],
        ),
    ];
    for (bin, names) in bins {
        let out = Command::new(bin).arg("-h").output().unwrap();
        assert!(out.status.success(), "{bin}");
        let text = String::from_utf8(out.stdout).unwrap();
        for name in names {
            assert!(
                text.contains(&format!("  {name}")),
                "{bin}: no {name} in\n{text}"
            );
        }
        assert!(text.contains("[default: "), "{bin}");
        let out = Command::new(bin).arg("--frobnicate=3").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bin}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--frobnicate"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--conns=x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--conns: cannot parse"));
}
