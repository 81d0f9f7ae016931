//! Helpers shared by the subcommands.

use anyhow::{bail, Context, Result};
use msf_model::Graph;
use msf_plan::Constraint;
use std::path::Path;

/// The largest file the CLI reads as a model, an input or a plan: 256 MiB, far above any model
/// that fits a microcontroller (and the importers' own tensor bound), small enough that a
/// mistaken path cannot exhaust the host's memory.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Read a whole regular file of at most [`MAX_FILE_BYTES`]; errors name the path and the limit.
/// Devices (`/dev/zero`), FIFOs, sockets and directories are refused before they are opened, so
/// nothing blocks on a FIFO without a writer or reads an endless device.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let regular = |m: &std::fs::Metadata| -> Result<()> {
        if !m.is_file() {
            bail!("cannot read {}: not a regular file (a directory, device, FIFO or socket); give the path of a file", path.display());
        }
        if m.len() > MAX_FILE_BYTES {
            bail!("cannot read {}: it is {} bytes, more than the limit of {} bytes (256 MiB)", path.display(), m.len(), MAX_FILE_BYTES);
        }
        Ok(())
    };
    regular(&meta)?;
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    // The path may have been replaced between the two looks: check what was opened.
    regular(&file.metadata().with_context(|| format!("cannot read {}", path.display()))?)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        bail!("cannot read {}: it grew past the limit of {} bytes (256 MiB) while being read", path.display(), MAX_FILE_BYTES);
    }
    Ok(bytes)
}

/// Read and import a model file; errors name the file.
pub fn load_model(path: &Path) -> Result<Graph> {
    let bytes = read_file(path)?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    msf_model::load(&bytes, name).with_context(|| format!("cannot import {}", path.display()))
}

/// Parse a byte size such as `64k`, `64kB`, `512KiB`, `1m`, `1.5k` or `65536` (k = 1024): a
/// decimal number, exact (no float rounding), that must come to a whole number of bytes within
/// `u64`. `0.5` (half a byte) and `99999999999999999999` (above `u64::MAX`) are refused.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult): (&str, u128) = if let Some(n) = t.strip_suffix("kib").or_else(|| t.strip_suffix("kb")).or_else(|| t.strip_suffix('k')) {
        (n, 1024)
    } else if let Some(n) = t.strip_suffix("mib").or_else(|| t.strip_suffix("mb")).or_else(|| t.strip_suffix('m')) {
        (n, 1024 * 1024)
    } else if let Some(n) = t.strip_suffix('b') {
        (n, 1)
    } else {
        (t.as_str(), 1)
    };
    let num = num.trim();
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = |d: &str| d.bytes().all(|c| c.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
        return Err(format!("`{s}` is not a size (try 64k, 320KiB or 65536)"));
    }
    let too_large = || format!("`{s}` is more than {} bytes, the largest size", u64::MAX);
    let frac = frac.trim_end_matches('0');
    let int = int.trim_start_matches('0');
    // u64::MAX has 20 digits; a fraction of over 20 digits (finer than 1/1024^2 = 20 digits)
    // is never a whole number of bytes. Below those bounds nothing overflows u128.
    if int.len() > 20 {
        return Err(too_large());
    }
    if frac.len() > 20 {
        return Err(format!("`{s}` is not a whole number of bytes"));
    }
    let value = |d: &str| if d.is_empty() { 0 } else { d.parse::<u128>().expect("at most 20 digits") };
    let (scale, frac_scaled) = (10u128.pow(frac.len() as u32), value(frac) * mult);
    if frac_scaled % scale != 0 {
        return Err(format!("`{s}` is not a whole number of bytes"));
    }
    u64::try_from(value(int) * mult + frac_scaled / scale).map_err(|_| too_large())
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
        assert_eq!(parse_bytes("1.5k"), Ok(1536));
        assert_eq!(parse_bytes("0.25kB"), Ok(256));
        assert_eq!(parse_bytes("007"), Ok(7));
        assert_eq!(parse_bytes("2.000"), Ok(2));
        assert_eq!(parse_bytes("18446744073709551615"), Ok(u64::MAX));
        // Exact, not through f64 (which rounds 2^53 + 1 to 2^53).
        assert_eq!(parse_bytes("9007199254740993"), Ok(9007199254740993));
        for half in ["0.5", "1.5", "0.1k", ".5", "99999999999999999999.5"] {
            assert_eq!(parse_bytes(half), Err(format!("`{half}` is not a whole number of bytes")), "{half}");
        }
        for big in ["99999999999999999999", "18446744073709551616", "17592186044416m", "123456789012345678901234567890"] {
            assert_eq!(parse_bytes(big), Err(format!("`{big}` is more than 18446744073709551615 bytes, the largest size")), "{big}");
        }
        for bad in ["", ".", "-1", "1e3", "inf", "nan", "1.2.3", "+5", "k"] {
            assert_eq!(parse_bytes(bad), Err(format!("`{bad}` is not a size (try 64k, 320KiB or 65536)")), "{bad}");
        }
    }
}
