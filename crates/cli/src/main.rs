//! `msf`: the msf-planner command line. One subcommand per module, each a thin layer over the
//! library crates.

use clap::{Parser, Subcommand};

mod inspect;
mod plan;
mod run;
mod emit;
mod util;

#[derive(Parser)]
#[command(name = "msf", version, about = "Plan patch-based multi-stage fusion for CNNs on microcontrollers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the model's ops, shapes, MACs and memory.
    Inspect(inspect::Args),
    /// Plan fused execution under a RAM budget or a compute-overhead bound.
    Plan(plan::Args),
    /// Run the model on the host through the runtime.
    Run(run::Args),
    /// Emit a zipped no_std Cargo project for a board.
    Emit(emit::Args),
    /// List the board catalogue.
    Boards(emit::BoardsArgs),
}

/// Let a closed stdout end the process the way it ends `cat` or `grep`: by SIGPIPE, exit status
/// 141 in a shell, no message. Rust's runtime ignores SIGPIPE, so every `println!` after the
/// reader went away (`msf inspect M | head -1`) would panic with "failed printing to stdout:
/// Broken pipe" and exit 101. Restoring the default covers every print site at once. `signal`
/// is declared here rather than through the libc crate: std already links the C library on
/// unix, and SIGPIPE (13) and SIG_DFL (0) have these values on Linux, macOS and the BSDs. The
/// CLI writes its files (zip, output, dumps) with std::fs, never to a pipe, so no file is cut
/// short by it.
#[cfg(unix)]
fn default_sigpipe() {
    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: called first thing in main, before any thread exists; sets a default disposition.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

fn main() {
    #[cfg(unix)]
    default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Run(a) => run::run(a),
        Command::Emit(a) => emit::run(a),
        Command::Boards(a) => emit::boards(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
