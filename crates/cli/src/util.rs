//! Helpers shared by the subcommands.

use anyhow::{bail, Context, Result};
use msf_model::Graph;
use msf_plan::Constraint;
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

/// The one constraint parser of every subcommand: `--ram SIZE` (already a byte count, see
/// [`parse_bytes`]) asks for the least compute within it (P2); `--max-overhead F` for the least
/// RAM with compute <= F x the unfused (P1), `inf` (or `infinity`, `none`) for the least RAM
/// whatever the compute. `--ram` wins if both are given (clap refuses the pair where they
/// conflict). `None`: neither was given; each subcommand has its default.
pub fn constraint(ram: Option<u64>, max_overhead: Option<&str>) -> Result<Option<Constraint>> {
    Ok(match (ram, max_overhead) {
        (Some(ram_bytes), _) => Some(Constraint::RamBudget { ram_bytes }),
        (None, Some(f)) => Some(match parse_overhead(f)? {
            Some(max_overhead) => Constraint::MaxOverhead { max_overhead },
            None => Constraint::MinRam,
        }),
        (None, None) => None,
    })
}

/// `--max-overhead`: a factor >= 1, or `None` for `inf`.
fn parse_overhead(s: &str) -> Result<Option<f64>> {
    let t = s.trim().to_ascii_lowercase();
    if matches!(t.as_str(), "inf" | "infinity" | "none") {
        return Ok(None);
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 1.0 => Ok(Some(f)),
        Ok(f) if f.is_infinite() && f > 0.0 => Ok(None),
        _ => bail!("--max-overhead wants a factor >= 1 (e.g. 1.3) or `inf`, not `{s}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::{constraint, parse_bytes};
    use msf_plan::Constraint;

    #[test]
    fn constraints() {
        assert_eq!(constraint(None, None).unwrap(), None);
        assert_eq!(constraint(Some(65536), None).unwrap(), Some(Constraint::RamBudget { ram_bytes: 65536 }));
        assert_eq!(constraint(Some(65536), Some("1.3")).unwrap(), Some(Constraint::RamBudget { ram_bytes: 65536 }));
        assert_eq!(constraint(None, Some("1.3")).unwrap(), Some(Constraint::MaxOverhead { max_overhead: 1.3 }));
        for inf in ["inf", "Infinity", " none ", "1e400"] {
            assert_eq!(constraint(None, Some(inf)).unwrap(), Some(Constraint::MinRam), "{inf}");
        }
        for bad in ["0.5", "-inf", "nan", "fast"] {
            let e = constraint(None, Some(bad)).unwrap_err().to_string();
            assert_eq!(e, format!("--max-overhead wants a factor >= 1 (e.g. 1.3) or `inf`, not `{bad}`"));
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64k"), Ok(65536));
        assert_eq!(parse_bytes("320KiB"), Ok(327680));
        assert_eq!(parse_bytes("1m"), Ok(1048576));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("lots").is_err());
    }
}
