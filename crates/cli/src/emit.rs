//! `msf emit` (being written).
use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_a: Args) -> Result<()> {
    bail!("`msf emit` is not written yet")
}

#[derive(clap::Args)]
pub struct BoardsArgs {}

pub fn boards(_a: BoardsArgs) -> Result<()> {
    bail!("`msf boards` is not written yet")
}
