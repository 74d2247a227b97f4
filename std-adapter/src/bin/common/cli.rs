//! Command lines for the binaries, over `lexopt`: a table of flags is the one place that
//! says what a program accepts and what each flag defaults to, so `--help` cannot drift from
//! what the parser does.
//!
//! * `--help` / `-h` prints every flag with its default and exits 0;
//! * `--flag value` and `--flag=value` both work;
//! * an error names the flag (`--conns: cannot parse "x" as N`) and exits 2.
//!
//! Shared by `netpoll-std`'s binaries (`#[path]` modules) and, through the same path, by
//! `netpoll-bench`'s (which is never published), so every netpoll program reads its
//! arguments the same way.

#![allow(dead_code)] // Each binary uses part of it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::str::FromStr;

/// One flag: `--name VALUE` (or a switch, `--name`, when `value` is empty).
#[derive(Clone, Debug)]
pub struct Flag {
    /// Without the dashes.
    pub name: &'static str,
    /// What the value is, for the help (`N`, `SECONDS`, `HOST:PORT`); empty for a switch.
    pub value: &'static str,
    /// The value used when the flag is absent, as text (parsed like a given value); `None`
    /// for a switch or a flag that is off unless given.
    pub default: Option<String>,
    /// One line of help.
    pub help: &'static str,
}

impl Flag {
    /// `--name VALUE` with a default.
    pub fn value(
        name: &'static str,
        value: &'static str,
        default: impl ToString,
        help: &'static str,
    ) -> Flag {
        Flag {
            name,
            value,
            default: Some(default.to_string()),
            help,
        }
    }

    /// `--name VALUE`, absent unless given.
    pub fn optional(name: &'static str, value: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            value,
            default: None,
            help,
        }
    }

    /// `--name`, off unless given.
    pub fn switch(name: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            value: "",
            default: None,
            help,
        }
    }
}

/// A program's command line.
#[derive(Clone, Debug)]
pub struct Cli {
    /// The program's name.
    pub name: &'static str,
    /// What it does (the help's first paragraph).
    pub about: &'static str,
    /// Its flags.
    pub flags: Vec<Flag>,
}

/// The flags a command line gave, with the defaults for the rest.
#[derive(Debug)]
pub struct Values {
    given: HashMap<&'static str, String>,
    switches: Vec<&'static str>,
    flags: Vec<Flag>,
}

/// What parsing found: values to run with, or a request for help.
#[derive(Debug)]
pub enum Parsed {
    /// Run with these.
    Run(Values),
    /// `--help` or `-h`: print this and exit 0.
    Help(String),
}

impl Cli {
    /// The help text: usage, about, then every flag with its default.
    pub fn help(&self) -> String {
        let mut h = format!(
            "usage: {} [OPTIONS]\n\n{}\n\noptions:\n",
            self.name, self.about
        );
        let left = |f: &Flag| {
            if f.value.is_empty() {
                format!("--{}", f.name)
            } else {
                format!("--{} {}", f.name, f.value)
            }
        };
        let width = self
            .flags
            .iter()
            .map(|f| left(f).len())
            .max()
            .unwrap_or(0)
            .max(10);
        for f in &self.flags {
            let default = match (&f.default, f.value.is_empty()) {
                (Some(d), _) => format!(" [default: {d}]"),
                (None, true) => String::new(),
                (None, false) => " [default: none]".to_string(),
            };
            let _ = writeln!(h, "  {:width$}  {}{default}", left(f), f.help);
        }
        let _ = writeln!(h, "  {:width$}  print this help and exit", "-h, --help");
        h
    }

    /// Parse `args` (without the program name).
    pub fn parse(&self, args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
        use lexopt::Arg;
        let mut p = lexopt::Parser::from_args(args);
        let mut given = HashMap::new();
        let mut switches = Vec::new();
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                Arg::Short('h') | Arg::Long("help") => return Ok(Parsed::Help(self.help())),
                Arg::Long(name) => {
                    let Some(flag) = self.flags.iter().find(|f| f.name == name) else {
                        return Err(format!("unknown flag --{name}"));
                    };
                    if flag.value.is_empty() {
                        if let Some(v) = p.optional_value() {
                            return Err(format!("--{}: takes no value (got {v:?})", flag.name));
                        }
                        switches.push(flag.name);
                    } else {
                        let v = p.value().map_err(|e| e.to_string())?;
                        let v = v
                            .into_string()
                            .map_err(|v| format!("--{}: not valid text: {v:?}", flag.name))?;
                        given.insert(flag.name, v);
                    }
                }
                other => return Err(other.unexpected().to_string()),
            }
        }
        Ok(Parsed::Run(Values {
            given,
            switches,
            flags: self.flags.clone(),
        }))
    }

    /// Parse the process's arguments: the values, or `Err(exit code)` after printing the
    /// help (0) or the error (2).
    pub fn parse_env(&self) -> Result<Values, u8> {
        match self.parse(std::env::args_os().skip(1)) {
            Ok(Parsed::Run(v)) => Ok(v),
            Ok(Parsed::Help(h)) => {
                print!("{h}");
                Err(0)
            }
            Err(e) => {
                eprintln!("{}: {e}\n(see {} --help)", self.name, self.name);
                Err(2)
            }
        }
    }
}

impl Values {
    /// `--name`'s value (or its default), parsed; `None` if absent with no default.
    pub fn opt<T: FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        let Some(f) = self.flags.iter().find(|f| f.name == name) else {
            return Err(format!("--{name}: not a flag of this program"));
        };
        let Some(text) = self.given.get(name).or(f.default.as_ref()) else {
            return Ok(None);
        };
        text.parse()
            .map(Some)
            .map_err(|_| format!("--{name}: cannot parse {text:?} as {}", f.value))
    }

    /// `--name`'s value (or its default), parsed. For flags that have a default.
    pub fn get<T: FromStr>(&self, name: &str) -> Result<T, String> {
        self.opt(name)?
            .ok_or_else(|| format!("--{name}: missing (and no default)"))
    }

    /// Whether `--name` was given (a switch, or a value flag given explicitly).
    pub fn given(&self, name: &str) -> bool {
        self.switches.contains(&name) || self.given.contains_key(name)
    }

    /// Check a parsed value: `Err` naming the flag and the rule if `ok` is false.
    pub fn check(name: &str, ok: bool, rule: &str) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("--{name}: {rule}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> Cli {
        Cli {
            name: "prog",
            about: "Does things.",
            flags: vec![
                Flag::value("conns", "N", 16, "connections"),
                Flag::optional("label", "TEXT", "a label"),
                Flag::switch("smoke", "a short run"),
            ],
        }
    }

    fn run(args: &[&str]) -> Result<Values, String> {
        match cli().parse(args.iter().map(OsString::from))? {
            Parsed::Run(v) => Ok(v),
            Parsed::Help(_) => Err("help".into()),
        }
    }

    #[test]
    fn defaults_values_and_switches() {
        let v = run(&[]).unwrap();
        assert_eq!(v.get::<usize>("conns"), Ok(16));
        assert_eq!(v.opt::<String>("label"), Ok(None));
        assert!(!v.given("smoke") && !v.given("conns"));
        let v = run(&["--conns=3", "--label", "x", "--smoke"]).unwrap();
        assert_eq!(v.get::<usize>("conns"), Ok(3));
        assert_eq!(v.opt::<String>("label"), Ok(Some("x".into())));
        assert!(v.given("smoke") && v.given("conns"));
    }

    #[test]
    fn errors_name_the_flag() {
        let v = run(&["--conns", "many"]).unwrap();
        assert_eq!(
            v.get::<usize>("conns"),
            Err("--conns: cannot parse \"many\" as N".into())
        );
        assert_eq!(run(&["--typo", "1"]).unwrap_err(), "unknown flag --typo");
        assert!(run(&["--conns"]).unwrap_err().contains("--conns"));
        assert!(run(&["--smoke=yes"]).unwrap_err().starts_with("--smoke"));
        assert!(run(&["stray"]).unwrap_err().contains("stray"));
        assert_eq!(
            run(&[]).unwrap().get::<u8>("nope"),
            Err("--nope: not a flag of this program".into())
        );
    }

    #[test]
    fn help_lists_every_flag_with_its_default() {
        for h in ["-h", "--help"] {
            let Ok(Parsed::Help(text)) = cli().parse([OsString::from(h)]) else {
                panic!("{h} is help");
            };
            assert!(text.starts_with("usage: prog [OPTIONS]"));
            assert!(text.contains("--conns N") && text.contains("[default: 16]"));
            assert!(text.contains("--label TEXT") && text.contains("[default: none]"));
            assert!(text.contains("--smoke") && text.contains("-h, --help"));
        }
    }
}
