//! The benchmark runner. See `runner --help` and the crate README.

use std::process::ExitCode;

use netpoll_bench::runner::{self, Options};

fn main() -> ExitCode {
    let opts = match runner::cli().parse_env().and_then(|v| {
        Options::from_args(&v).map_err(|e| {
            eprintln!("runner: {e}\n(see runner --help)");
            2
        })
    }) {
        Ok(o) => o,
        Err(code) => return ExitCode::from(code),
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
