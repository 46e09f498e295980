//! Progress output: a live bar with ETA, loss and accuracy on a terminal; a
//! line per epoch otherwise (logs, CI); nothing when quiet.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How training reports progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else a line per epoch.
    #[default]
    Auto,
    /// Always the bar.
    Bar,
    /// A line per epoch.
    Lines,
    /// No output.
    Quiet,
}

pub(crate) struct Progress {
    bar: bool,
    quiet: bool,
    started: Instant,
    last_draw: Option<Instant>,
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let bar = match mode {
            ProgressMode::Auto => std::io::stderr().is_terminal(),
            ProgressMode::Bar => true,
            ProgressMode::Lines | ProgressMode::Quiet => false,
        };
        Progress {
            bar,
            quiet: mode == ProgressMode::Quiet,
            started: Instant::now(),
            last_draw: None,
        }
    }

    pub fn start_epoch(&mut self) {
        self.started = Instant::now();
        self.last_draw = None;
    }

    /// Redraws the bar after step `done` of `total` (at most ten times a second).
    pub fn step(&mut self, epoch: usize, epochs: usize, done: usize, total: usize, live: &str) {
        if !self.bar || self.quiet {
            return;
        }
        let now = Instant::now();
        if done < total
            && self
                .last_draw
                .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        self.last_draw = Some(now);
        let elapsed = self.started.elapsed();
        let eta = if done > 0 {
            elapsed.mul_f64((total - done) as f64 / done as f64)
        } else {
            Duration::ZERO
        };
        let width = 30;
        let filled = (done * width).checked_div(total).unwrap_or(0);
        let bar: String = (0..width)
            .map(|i| {
                if i < filled {
                    '='
                } else if i == filled {
                    '>'
                } else {
                    ' '
                }
            })
            .collect();
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\repoch {epoch}/{epochs} [{bar}] {done}/{total} {live} {}<{}   ",
            clock(elapsed),
            clock(eta)
        );
        let _ = err.flush();
    }

    /// Ends an epoch with its summary line.
    pub fn end_epoch(&mut self, line: &str) {
        if self.quiet {
            return;
        }
        if self.bar {
            eprint!("\r\x1b[2K");
        }
        eprintln!("{line}");
    }
}
