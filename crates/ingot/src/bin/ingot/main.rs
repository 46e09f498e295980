//! `ingot`: train, evaluate, inspect and benchmark models from the command
//! line. `ingot --help` lists the commands; `ingot COMMAND --help` their
//! options.

mod args;
mod bench;
mod datasets;
mod eval;
mod failure;
mod inspect;
mod predict;
mod run_info;
mod train;

use std::process::ExitCode;

use args::{Parsed, Spec};
use failure::Failure;

type Command = (&'static Spec, fn(&Parsed) -> Result<(), Failure>);

const COMMANDS: [Command; 5] = [
    (&train::SPEC, train::run),
    (&eval::SPEC, eval::run),
    (&predict::SPEC, predict::run),
    (&inspect::SPEC, inspect::run),
    (&bench::SPEC, bench::run),
];

fn help() -> String {
    let mut out = format!(
        "ingot {} — a PyTorch-like deep-learning library for Rust, from the command line\n\n\
         Usage: ingot COMMAND [OPTIONS]\n\nCommands:\n",
        env!("CARGO_PKG_VERSION")
    );
    for (spec, _) in COMMANDS {
        out += &format!("  {:<8}  {}\n", spec.name, spec.about);
    }
    out += "\n`ingot train` with no options trains an MLP on the MNIST subset built into ingot,\n\
            on the CPU. `ingot COMMAND --help` lists a command's options.\n";
    out
}

fn run(args: &[String]) -> Result<(), Failure> {
    let Some(first) = args.first() else {
        print!("{}", help());
        return Ok(());
    };
    match first.as_str() {
        "help" if args.len() > 1 => {
            let (spec, _) = find(&args[1])?;
            print!("{}", spec.help());
            return Ok(());
        }
        "--help" | "-h" | "help" => {
            print!("{}", help());
            return Ok(());
        }
        "--version" | "-V" => {
            println!("ingot {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        _ => {}
    }
    let (spec, command) = find(first)?;
    match spec.parse(&args[1..])? {
        Some(parsed) => command(&parsed),
        None => Ok(()),
    }
}

/// The command called `name`.
fn find(name: &str) -> Result<&'static Command, Failure> {
    COMMANDS
        .iter()
        .find(|(spec, _)| spec.name == name)
        .ok_or_else(|| Failure::usage("", format!("unknown command {name:?}")))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
