//! `msf plan` (being written).
use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_a: Args) -> Result<()> {
    bail!("`msf plan` is not written yet")
}
