//! The binaries' command lines: `--help`/`-h` print every flag with its default and exit 0,
//! `--flag=value` works, errors name the flag and exit 2; the demo prints plain progress
//! lines when its output is not a terminal, and says which runtime its counters count.

use std::process::{Command, Output};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e}"))
}

const ECHO: &str = env!("CARGO_BIN_EXE_netpoll-echo");
const DEMO: &str = env!("CARGO_BIN_EXE_netpoll-demo");

#[test]
fn help_lists_every_flag_with_its_default() {
    let flags: [(&str, &[&str]); 2] = [
        (
            ECHO,
            &[
                "--addr",
                "--mode",
                "--workers",
                "--idle-timeout",
                "--write-timeout",
                "--grace",
            ],
        ),
        (
            DEMO,
            &[
                "--mode",
                "--seconds",
                "--conns",
                "--idle-conns",
                "--idle-timeout",
                "--size",
                "--workers",
            ],
        ),
    ];
    for (bin, names) in flags {
        for h in ["--help", "-h"] {
            let out = run(bin, &[h]);
            assert!(out.status.success(), "{bin} {h}: {:?}", out.status);
            let text = String::from_utf8(out.stdout).unwrap();
            for name in names {
                let line = text
                    .lines()
                    .find(|l| l.trim_start().starts_with(&format!("{name} ")))
                    .unwrap_or_else(|| panic!("{bin} {h}: no {name} in\n{text}"));
                assert!(line.contains("[default: "), "{bin}: {line}");
            }
        }
    }
}

#[test]
fn errors_name_the_flag_and_exit_2() {
    let cases: [(&str, &[&str], &str); 7] = [
        (ECHO, &["--workers", "many"], "--workers"),
        (ECHO, &["--write-timeout=nan"], "--write-timeout"),
        (ECHO, &["--workers=0"], "--workers"),
        (ECHO, &["--idle-timeout", "-1"], "--idle-timeout"),
        (ECHO, &["--nope"], "--nope"),
        (DEMO, &["--conns=0"], "--conns"),
        (DEMO, &["--mode", "fast"], "--mode"),
    ];
    for (bin, args, flag) in cases {
        let out = run(bin, args);
        assert_eq!(out.status.code(), Some(2), "{bin} {args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(flag), "{bin} {args:?}: {err}");
        assert!(out.stdout.is_empty(), "{bin} {args:?}");
    }
}

/// Piped (as here), the demo prints plain lines, no carriage returns; `--flag=value` works;
/// the report says whose sockets each runtime's counters count.
#[test]
fn demo_piped_prints_plain_lines_and_labelled_counters() {
    for mode in ["async", "blocking"] {
        let out = run(
            DEMO,
            &[
                &format!("--mode={mode}"),
                "--seconds=1.2",
                "--conns=2",
                "--idle-conns=2",
                "--idle-timeout=0.1",
            ],
        );
        assert!(out.status.success(), "{mode}: {:?}", out);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text.contains('\r'),
            "{mode}: a redraw into a pipe:\n{text}"
        );
        assert!(
            text.lines().any(|l| l.starts_with("  t=")),
            "{mode}: no progress line\n{text}"
        );
        let banner = text.lines().next().unwrap();
        let global = text.lines().find(|l| l.contains("global runtime")).unwrap();
        match mode {
            "async" => {
                assert!(banner.contains("workers"), "{banner}");
                assert!(global.contains("(load clients and listener)"), "{global}");
                let workers = text.lines().find(|l| l.contains("worker runtimes"));
                let workers = workers.unwrap_or_else(|| panic!("no worker counters:\n{text}"));
                assert!(workers.contains("the server's connections"), "{workers}");
            }
            _ => {
                assert!(!banner.contains("workers"), "{banner}");
                assert!(global.contains("the server's connections"), "{global}");
                assert!(!text.contains("worker runtimes"), "{text}");
            }
        }
    }
}
