//! The command line's options: each command declares its options once, and
//! that declaration drives both parsing and `--help`.

use std::fmt::Display;
use std::str::FromStr;

use crate::failure::Failure;

/// One `--name [VALUE]` option.
pub struct Opt {
    pub name: &'static str,
    /// What the value looks like in the help (`N`, `DIR`); empty for a
    /// switch that takes no value.
    pub value: &'static str,
    pub help: &'static str,
}

/// `--device`, which every command that runs a model takes.
pub const DEVICE: Opt = Opt {
    name: "device",
    value: "DEV",
    help: "cpu | metal[:N] (macOS) | metal-sim (default: cpu)",
};

/// A command: its name, what it does, its positional arguments and options.
pub struct Spec {
    pub name: &'static str,
    pub about: &'static str,
    /// The positional part of the usage line (`CKPT IMAGE...`).
    pub positional: &'static str,
    /// How many positional arguments it takes, at least and at most.
    pub arity: (usize, usize),
    pub opts: &'static [Opt],
    /// Printed after the options in `--help`.
    pub after: &'static str,
}

/// The arguments of one command, checked against its [`Spec`].
pub struct Parsed {
    command: &'static str,
    values: Vec<(&'static str, String)>,
    pub positional: Vec<String>,
}

impl Spec {
    /// The `--help` text.
    pub fn help(&self) -> String {
        let mut out = format!(
            "ingot {} — {}\n\nUsage: ingot {} [OPTIONS]{}{}\n\nOptions:\n",
            self.name,
            self.about,
            self.name,
            if self.positional.is_empty() { "" } else { " " },
            self.positional
        );
        let left = |o: &Opt| {
            if o.value.is_empty() {
                format!("--{}", o.name)
            } else {
                format!("--{} {}", o.name, o.value)
            }
        };
        let width = self
            .opts
            .iter()
            .map(|o| left(o).len())
            .max()
            .unwrap_or(0)
            .max(6);
        for o in self.opts {
            out += &format!("  {:width$}  {}\n", left(o), o.help);
        }
        out += &format!("  {:width$}  {}\n", "--help", "Print this help");
        if !self.after.is_empty() {
            out += &format!("\n{}\n", self.after);
        }
        out
    }

    /// Parses `args` (after the command name); `None` means `--help` was
    /// asked for and printed.
    pub fn parse(&self, args: &[String]) -> Result<Option<Parsed>, Failure> {
        let mut parsed = Parsed {
            command: self.name,
            values: Vec::new(),
            positional: Vec::new(),
        };
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if arg == "--help" || arg == "-h" {
                print!("{}", self.help());
                return Ok(None);
            }
            let Some(flag) = arg.strip_prefix("--") else {
                parsed.positional.push(arg.clone());
                continue;
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            let opt = self.opts.iter().find(|o| o.name == name).ok_or_else(|| {
                self.usage(format!("unknown option --{name} for `ingot {}`", self.name))
            })?;
            let value = match (opt.value.is_empty(), inline) {
                (true, None) => String::new(),
                (true, Some(_)) => return Err(self.usage(format!("--{name} takes no value"))),
                (false, Some(v)) => v,
                (false, None) => rest
                    .next()
                    .filter(|v| !v.starts_with("--"))
                    .cloned()
                    .ok_or_else(|| self.usage(format!("--{name} needs a value ({})", opt.value)))?,
            };
            if parsed.values.iter().any(|(n, _)| *n == opt.name) {
                return Err(self.usage(format!("--{name} is given twice")));
            }
            parsed.values.push((opt.name, value));
        }
        let (min, max) = self.arity;
        let n = parsed.positional.len();
        if n < min {
            return Err(self.usage(format!("missing {}", self.positional)));
        }
        if n > max {
            return Err(self.usage(format!("unexpected argument {:?}", parsed.positional[max])));
        }
        Ok(Some(parsed))
    }

    fn usage(&self, msg: String) -> Failure {
        Failure::usage(self.name, msg)
    }
}

impl Parsed {
    /// The raw value of `--name`, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the switch `--name` was given.
    pub fn switch(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    /// `--name`'s value as a whole number of at least `min`, if given.
    pub fn count(&self, name: &str, min: usize) -> Result<Option<usize>, Failure> {
        self.value(name)
            .map(|v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|&n| n >= min)
                    .ok_or_else(|| {
                        Failure::usage(
                            self.command,
                            format!("--{name} {v:?}: expected a whole number of at least {min}"),
                        )
                    })
            })
            .transpose()
    }

    /// The device `--device` names (the CPU when not given); a name that is
    /// unknown or not available in this build is a command-line mistake.
    pub fn device(&self) -> Result<ingot::Device, Failure> {
        let name = self.value("device").unwrap_or("cpu");
        ingot::device(name)
            .map_err(|e| Failure::usage(self.command, format!("--device {name:?}: {e}")))
    }

    /// `--name`'s value parsed as `T`, if given.
    pub fn get<T: FromStr>(&self, name: &str) -> Result<Option<T>, Failure>
    where
        T::Err: Display,
    {
        self.value(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| Failure::usage(self.command, format!("--{name} {v:?}: {e}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        name: "demo",
        about: "a demo",
        positional: "FILE...",
        arity: (1, 2),
        opts: &[
            Opt {
                name: "epochs",
                value: "N",
                help: "Epochs",
            },
            Opt {
                name: "fast",
                value: "",
                help: "Go fast",
            },
        ],
        after: "",
    };

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_values_switches_and_positionals() {
        let p = SPEC
            .parse(&args(&["a", "--epochs", "3", "--fast", "b"]))
            .unwrap()
            .unwrap();
        assert_eq!(p.get::<usize>("epochs").unwrap(), Some(3));
        assert!(p.switch("fast"));
        assert_eq!(p.positional, vec!["a", "b"]);
        let p = SPEC.parse(&args(&["--epochs=4", "a"])).unwrap().unwrap();
        assert_eq!(p.value("epochs"), Some("4"));
        assert!(!p.switch("fast"));
    }

    #[test]
    fn reports_each_mistake() {
        let err = |v: &[&str]| SPEC.parse(&args(v)).err().unwrap().to_string();
        assert!(err(&["a", "--nope"]).contains("unknown option --nope"));
        assert!(err(&["a", "--epochs"]).contains("--epochs needs a value"));
        assert!(err(&["a", "--fast=1"]).contains("takes no value"));
        assert!(err(&["a", "--epochs", "1", "--epochs", "2"]).contains("twice"));
        assert!(err(&[]).contains("missing FILE..."));
        assert!(err(&["a", "b", "c"]).contains("unexpected argument \"c\""));
        let p = SPEC.parse(&args(&["a", "--epochs", "x"])).unwrap().unwrap();
        let bad = p.get::<usize>("epochs").err().unwrap().to_string();
        assert!(bad.contains("--epochs \"x\""), "{bad}");
        for v in ["-5", "0", "x"] {
            let p = SPEC.parse(&args(&["a", "--epochs", v])).unwrap().unwrap();
            let bad = p.count("epochs", 1).err().unwrap();
            assert_eq!(
                bad.to_string(),
                format!(
                    "--epochs \"{v}\": expected a whole number of at least 1 (see `ingot demo --help`)"
                )
            );
            assert_eq!(bad.exit_code(), 2);
        }
    }

    #[test]
    fn help_lists_every_option() {
        let h = SPEC.help();
        assert!(h.contains("Usage: ingot demo [OPTIONS] FILE..."));
        assert!(h.contains("--epochs N") && h.contains("--fast") && h.contains("--help"));
    }
}
