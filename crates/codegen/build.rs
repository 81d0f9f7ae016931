//! Embeds runtime/ (Cargo.toml + src/**) into the crate, so emitted projects carry the runtime's
//! source unchanged, also from the wasm build, which has no file access. Writes
//! $OUT_DIR/runtime_files.rs: `&[(relative path, include_bytes!(absolute path))]`, sorted.
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    // The board catalogue, TOML in the repository, JSON in the crate: $OUT_DIR/boards.json.
    let toml_path = manifest.join("boards.toml");
    println!("cargo:rerun-if-changed={}", toml_path.display());
    let text = std::fs::read_to_string(&toml_path).expect("boards.toml beside build.rs");
    let value: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("boards.toml: {e}"));
    let json = serde_json::to_string(&value).expect("a TOML value is JSON-serialisable");
    std::fs::write(PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("boards.json"), json).unwrap();

    let runtime = manifest.join("../../runtime").canonicalize().expect("runtime/ beside crates/");
    println!("cargo:rerun-if-changed={}", runtime.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", runtime.join("src").display());
    let mut files = vec![runtime.join("Cargo.toml")];
    walk(&runtime.join("src"), &mut files);
    files.sort();
    let mut code = String::from("pub static RUNTIME_FILES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&runtime).unwrap().to_string_lossy().replace('\\', "/");
        code.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", f.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("runtime_files.rs");
    std::fs::write(out, code).unwrap();
}
