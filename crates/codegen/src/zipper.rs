//! Deterministic zip: the same project gives the same bytes. Entries are sorted by path, every
//! timestamp is the zip epoch (1980-01-01 00:00), permissions are fixed (0644, 0755 for scripts),
//! deflate at a fixed level, no extra fields. Every path is checked with `safe_entry_path`.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::project::Project;
use crate::sanitize::safe_entry_path;
use crate::CodegenError;

/// Zip `project` under its root folder.
pub fn write_zip(project: &Project) -> Result<Vec<u8>, CodegenError> {
    let mut files: Vec<(String, &crate::project::ProjectFile)> =
        project.files.iter().map(|f| (format!("{}/{}", project.root, f.path), f)).collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for w in files.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(CodegenError::Zip(format!("duplicate entry {}", w[0].0)));
        }
    }
    let mut zw = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, f) in files {
        if !safe_entry_path(&name) {
            return Err(CodegenError::UnsafeEntry(name));
        }
        let opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(DateTime::default())
            .unix_permissions(if f.executable { 0o755 } else { 0o644 });
        zw.start_file(name, opts).map_err(|e| CodegenError::Zip(e.to_string()))?;
        zw.write_all(&f.bytes).map_err(|e| CodegenError::Zip(e.to_string()))?;
    }
    let cur = zw.finish().map_err(|e| CodegenError::Zip(e.to_string()))?;
    Ok(cur.into_inner())
}
