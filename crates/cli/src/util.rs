//! Helpers shared by the subcommands.

use anyhow::{Context, Result};
use msf_model::Graph;
use std::path::Path;

/// Read and import a model file; errors name the file.
pub fn load_model(path: &Path) -> Result<Graph> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    msf_model::load(&bytes, name).with_context(|| format!("cannot import {}", path.display()))
}

/// Parse a byte size such as `64k`, `64kB`, `512KiB`, `1m` or `65536` (k = 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("kib").or_else(|| t.strip_suffix("kb")).or_else(|| t.strip_suffix('k')) {
        (n, 1024)
    } else if let Some(n) = t.strip_suffix("mib").or_else(|| t.strip_suffix("mb")).or_else(|| t.strip_suffix('m')) {
        (n, 1024 * 1024)
    } else if let Some(n) = t.strip_suffix('b') {
        (n, 1)
    } else {
        (t.as_str(), 1)
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("`{s}` is not a size (try 64k, 320KiB or 65536)"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("`{s}` is not a size"));
    }
    Ok((v * mult as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;
    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64k"), Ok(65536));
        assert_eq!(parse_bytes("320KiB"), Ok(327680));
        assert_eq!(parse_bytes("1m"), Ok(1048576));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("lots").is_err());
    }
}
