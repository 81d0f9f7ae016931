//! The board catalogue as the page sees it (msf-codegen owns the data).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardInfo {
    pub id: String,
    pub name: String,
    pub core: String,
    pub ram: u64,
    pub flash: u64,
    pub clock_hz: u64,
    pub cycles_per_mac: f64,
}

impl BoardInfo {
    /// Estimated inference time in milliseconds: msf-codegen's [`msf_codegen::latency_s`], the
    /// figure the firmware README and `msf emit` print.
    pub fn latency_ms(&self, macs: u64) -> f64 {
        msf_codegen::latency_s(macs, self.cycles_per_mac, self.clock_hz) * 1e3
    }
}

fn info(b: &msf_codegen::Board) -> BoardInfo {
    BoardInfo {
        id: b.id.clone(),
        name: b.name.clone(),
        core: b.core.clone(),
        ram: b.ram,
        flash: b.flash,
        clock_hz: b.clock_hz,
        cycles_per_mac: b.cycles_per_mac,
    }
}

/// Every board, in catalogue order.
pub fn all() -> Vec<BoardInfo> {
    msf_codegen::boards().iter().map(info).collect()
}

pub fn find(id: &str) -> Result<BoardInfo, String> {
    msf_codegen::board(id).map(info).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_and_latency() {
        let b = find("nucleo-f767zi").unwrap();
        assert_eq!(b.ram, 512 * 1024);
        // 216e6 MACs x 3 cycles / 216 MHz = 3 s.
        assert!((b.latency_ms(216_000_000) - 3000.0).abs() < 1e-6);
        assert!(find("no-such-board").unwrap_err().contains("nucleo-f767zi"));
        assert!(all().len() > 3);
    }
}
