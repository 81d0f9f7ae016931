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

fn main() {
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
