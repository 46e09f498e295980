//! Why a command failed, and the exit status that says so.

use std::fmt;

/// A failed command: a misused command line (exit status 2, like other
/// command-line tools) or a failure while doing the work (status 1).
#[derive(Debug)]
pub struct Failure {
    message: String,
    /// The command whose usage was wrong, for the `--help` hint.
    usage_of: Option<&'static str>,
}

impl Failure {
    /// A mistake in the command line of `command`.
    pub fn usage(command: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            usage_of: Some(command),
        }
    }

    /// A failure while running.
    pub fn run(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            usage_of: None,
        }
    }

    /// The process exit status.
    pub fn exit_code(&self) -> u8 {
        if self.usage_of.is_some() { 2 } else { 1 }
    }
}

impl fmt::Display for Failure {
    /// One line: the message with any line breaks folded, then the hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<&str> = self
            .message
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        f.write_str(&lines.join("; "))?;
        match self.usage_of {
            Some("") => write!(f, " (see `ingot --help`)"),
            Some(cmd) => write!(f, " (see `ingot {cmd} --help`)"),
            None => Ok(()),
        }
    }
}

impl From<ingot::Error> for Failure {
    fn from(e: ingot::Error) -> Failure {
        Failure::run(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_to_one_line_with_a_hint() {
        let f = Failure::usage("train", "bad\n  thing\n");
        assert_eq!(f.to_string(), "bad; thing (see `ingot train --help`)");
        assert_eq!(f.exit_code(), 2);
        let f = Failure::from(ingot::Error::Autograd("no graph".into()));
        assert_eq!(
            (f.to_string().as_str(), f.exit_code()),
            ("autograd: no graph", 1)
        );
    }
}
