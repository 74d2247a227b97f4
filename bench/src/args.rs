//! A small `--name value` command-line parser shared by the suite's binaries.
//!
//! The binaries take a handful of numeric options; a dependency for that is not worth its build
//! time in CI. Errors are returned as text for `main` to print, never panics.

use std::collections::HashMap;
use std::str::FromStr;

/// Parsed `--name value` pairs and bare `--flag`s.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
    used: Vec<String>,
}

impl Args {
    /// Parses `argv` (without the program name). Names listed in `flags` take no value.
    pub fn parse(argv: impl IntoIterator<Item = String>, flags: &[&str]) -> Result<Args, String> {
        let mut args = Args::default();
        let mut it = argv.into_iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument `{a}`"));
            };
            if let Some((n, v)) = name.split_once('=') {
                args.values.insert(n.to_string(), v.to_string());
            } else if flags.contains(&name) {
                args.flags.push(name.to_string());
            } else {
                let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                args.values.insert(name.to_string(), v);
            }
        }
        Ok(args)
    }

    /// Parses the process's own arguments.
    pub fn from_env(flags: &[&str]) -> Result<Args, String> {
        Args::parse(std::env::args().skip(1), flags)
    }

    /// Whether the bare flag `--name` was given.
    pub fn flag(&mut self, name: &str) -> bool {
        self.used.push(name.to_string());
        self.flags.iter().any(|f| f == name)
    }

    /// The value of `--name`, parsed, or `default` when absent.
    pub fn get<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        Ok(self.opt(name)?.unwrap_or(default))
    }

    /// The value of `--name`, parsed, if given.
    pub fn opt<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        self.used.push(name.to_string());
        match self.values.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("--{name}: cannot parse `{v}`")),
        }
    }

    /// Fails on any option that no `get`/`opt`/`flag` call asked for (a typo must not be ignored).
    pub fn finish(self) -> Result<(), String> {
        let unknown = self
            .values
            .keys()
            .chain(self.flags.iter())
            .find(|k| !self.used.contains(k));
        match unknown {
            Some(k) => Err(format!("unknown option --{k}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn values_flags_and_defaults() {
        let mut a = Args::parse(argv("--conns 100 --smoke --size=64"), &["smoke"]).unwrap();
        assert_eq!(a.get("conns", 1usize), Ok(100));
        assert_eq!(a.get("size", 1usize), Ok(64));
        assert_eq!(a.get("rate", 7.5f64), Ok(7.5));
        assert!(a.flag("smoke"));
        assert!(a.finish().is_ok());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Args::parse(argv("conns 1"), &[]).is_err());
        assert!(Args::parse(argv("--conns"), &[]).is_err());
        let mut a = Args::parse(argv("--conns x"), &[]).unwrap();
        assert!(a.get("conns", 1usize).is_err());
        let a = Args::parse(argv("--typo 3"), &[]).unwrap();
        assert_eq!(a.finish(), Err("unknown option --typo".to_string()));
    }
}
