//! The benchmark runner. See `runner --help` and the crate README.

use std::process::ExitCode;

use netpoll_bench::args::Args;
use netpoll_bench::runner::{self, Options, USAGE};

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let opts = match Args::from_env(&["smoke", "no-build"]).and_then(Options::from_args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("runner: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match runner::run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("runner: {e}");
            ExitCode::from(1)
        }
    }
}
