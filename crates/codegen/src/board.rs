//! The board catalogue: boards.toml, parsed once with serde. Every figure carries a `source`.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use crate::CodegenError;

/// Which project template a board uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// cortex-m + cortex-m-rt + cortex-m-semihosting.
    CortexM,
    /// riscv + riscv-rt + semihosting.
    Riscv,
    /// esp-hal on the ESP32-C3 (RISC-V); output over esp-println.
    Esp32c3,
    /// esp-hal on an Xtensa ESP32; needs the esp-rs toolchain (generated, not built here).
    Xtensa,
}

/// How the firmware measures inference time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CycleCounter {
    /// DWT.CYCCNT (Cortex-M3 and up).
    Dwt,
    /// The RISC-V mcycle CSR.
    Mcycle,
    /// ESP32-C3: esp-hal's SYSTIMER-backed Instant (microseconds), converted with clock_hz.
    Systimer,
    /// Xtensa CCOUNT special register.
    Ccount,
    /// No cycle counter (Cortex-M0/M0+): the firmware says so.
    None,
}

/// How to run an emulated board under QEMU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qemu {
    /// `arm` or `riscv32`: the qemu-system-* binary.
    pub binary: String,
    pub machine: String,
    pub cpu: String,
}

/// Where each figure comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    pub memory: String,
    pub clock: String,
    pub cycles_per_mac: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub id: String,
    pub name: String,
    pub core: String,
    pub family: Family,
    pub target: String,
    /// `-C target-cpu` for the exact core, if any.
    #[serde(default)]
    pub target_cpu: Option<String>,
    /// Bytes of SRAM the firmware may use.
    pub ram: u64,
    /// Bytes of program flash.
    pub flash: u64,
    pub ram_origin: u64,
    pub flash_origin: u64,
    pub clock_hz: u64,
    pub cycles_per_mac: f64,
    pub cycle_counter: CycleCounter,
    pub runner: String,
    #[serde(default)]
    pub qemu: Option<Qemu>,
    #[serde(default)]
    pub extras: Vec<String>,
    pub source: Sources,
}

impl Board {
    /// Estimated seconds for `macs` multiply-accumulates on this board: [`latency_s`].
    pub fn latency_s(&self, macs: u64) -> f64 {
        latency_s(macs, self.cycles_per_mac, self.clock_hz)
    }
    /// True where CI can build the project with the stable toolchain (not Xtensa).
    pub fn buildable_here(&self) -> bool {
        self.family != Family::Xtensa
    }
    pub fn has_extra(&self, name: &str) -> bool {
        self.extras.iter().any(|e| e == name)
    }
}

/// The latency estimate, in one place for the firmware README, `msf emit` and the page:
/// seconds = MACs x cycles per MAC / clock (0 for a clock of 0, which the catalogue refuses).
pub fn latency_s(macs: u64, cycles_per_mac: f64, clock_hz: u64) -> f64 {
    if clock_hz == 0 {
        return 0.0;
    }
    macs as f64 * cycles_per_mac / clock_hz as f64
}

#[derive(Deserialize)]
struct Catalogue {
    board: Vec<Board>,
}

/// The catalogue text as written (TOML), for people and tests.
pub const CATALOGUE_TOML: &str = include_str!("../boards.toml");
/// The same catalogue as JSON, made by build.rs: what the binaries parse (no TOML parser in them).
const CATALOGUE_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/boards.json"));

/// Parse a catalogue in boards.toml syntax (tests: the binaries read [`CATALOGUE_JSON`]).
#[cfg(test)]
pub fn parse_catalogue(text: &str) -> Result<Vec<Board>, CodegenError> {
    check_catalogue(toml::from_str(text).map_err(|e| CodegenError::Catalogue(e.to_string()))?)
}

/// The compiled-in catalogue.
fn parse_catalogue_json(text: &str) -> Result<Vec<Board>, CodegenError> {
    check_catalogue(serde_json::from_str(text).map_err(|e| CodegenError::Catalogue(e.to_string()))?)
}

/// Ids unique and figures non-zero.
fn check_catalogue(c: Catalogue) -> Result<Vec<Board>, CodegenError> {
    let mut seen = std::collections::BTreeSet::new();
    for b in &c.board {
        if !seen.insert(b.id.as_str()) {
            return Err(CodegenError::Catalogue(format!("board id `{}` appears twice", b.id)));
        }
        if b.ram == 0 || b.flash == 0 || b.clock_hz == 0 || !(b.cycles_per_mac > 0.0) {
            return Err(CodegenError::Catalogue(format!("board `{}`: ram, flash, clock_hz and cycles_per_mac must be > 0", b.id)));
        }
    }
    Ok(c.board)
}

/// Every board, in catalogue order.
pub fn boards() -> &'static [Board] {
    static BOARDS: OnceLock<Vec<Board>> = OnceLock::new();
    // The compiled-in catalogue is checked by a unit test; parsing it cannot fail at run time.
    BOARDS.get_or_init(|| parse_catalogue_json(CATALOGUE_JSON).expect("boards.toml is valid (unit-tested)"))
}

/// Look a board up by id; the error lists the known ids.
pub fn board(id: &str) -> Result<&'static Board, CodegenError> {
    boards().iter().find(|b| b.id == id).ok_or_else(|| CodegenError::UnknownBoard {
        id: id.to_string(),
        known: boards().iter().map(|b| b.id.clone()).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_json_is_the_toml_catalogue() {
        // build.rs turns boards.toml into the JSON the binaries parse: the same boards, figure
        // for figure (floats included: TOML and JSON both print them round-trip exact).
        assert_eq!(format!("{:?}", parse_catalogue(CATALOGUE_TOML).unwrap()), format!("{:?}", boards()));
    }

    #[test]
    fn catalogue_parses_and_has_the_required_boards() {
        let b = parse_catalogue(CATALOGUE_TOML).unwrap();
        for id in [
            "nucleo-f767zi", "stm32f746g-disco", "nucleo-f412zg", "nrf52840-dk", "rp2040", "rp2350", "esp32c3",
            "esp32s3", "hifive1-revb", "mps2-an386", "mps2-an500", "mps2-an505", "microbit", "riscv32-virt",
        ] {
            assert!(b.iter().any(|x| x.id == id), "{id} missing");
        }
        let f767 = board("nucleo-f767zi").unwrap();
        assert_eq!(f767.ram, 512 * 1024);
        assert_eq!(board("hifive1-revb").unwrap().ram, 16 * 1024);
        assert_eq!(board("rp2040").unwrap().ram, 264 * 1024);
        assert_eq!(board("rp2350").unwrap().ram, 520 * 1024);
        assert_eq!(board("esp32c3").unwrap().ram, 400 * 1024);
        for x in &b {
            assert!(!x.source.memory.is_empty() && !x.source.clock.is_empty() && !x.source.cycles_per_mac.is_empty());
            // Emulated boards say how to run them and use a qemu runner.
            assert_eq!(x.qemu.is_some(), x.runner.starts_with("qemu-system-"), "{}", x.id);
        }
    }

    #[test]
    fn latency_is_macs_times_cycles_over_clock() {
        let b = board("nucleo-f767zi").unwrap();
        // 216e6 MACs x 3 cycles / 216 MHz = 3 s.
        assert!((b.latency_s(216_000_000) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn bad_catalogues_are_refused() {
        assert!(matches!(parse_catalogue("[[board]]\nid = 1"), Err(CodegenError::Catalogue(_))));
        let one = CATALOGUE_TOML.split("\n[[board]]").nth(1).unwrap();
        let twice = format!("[[board]]{one}\n[[board]]{one}");
        let e = parse_catalogue(&twice).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        assert!(matches!(board("nope"), Err(CodegenError::UnknownBoard { .. })));
    }
}
