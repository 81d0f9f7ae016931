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
    /// Estimated inference time: MACs x cycles per MAC / clock (the catalogue's estimate).
    pub fn latency_ms(&self, macs: u64) -> f64 {
        if self.clock_hz == 0 {
            return 0.0;
        }
        macs as f64 * self.cycles_per_mac / self.clock_hz as f64 * 1e3
    }
}

/// Every board, in catalogue order.
pub fn all() -> Vec<BoardInfo> {
    Vec::new()
}

pub fn find(id: &str) -> Result<BoardInfo, String> {
    all().into_iter().find(|b| b.id == id).ok_or_else(|| format!("unknown board `{id}`"))
}
