//! Developer tasks for the page: `cargo xtask <build-wasm | serve | dist | test-web>`.
//!
//! - build-wasm [--no-wasm-opt]: crates/web -> wasm32-unknown-unknown (profile wasm-release:
//!   opt-level z, fat LTO, one codegen unit, stripped; workspace Cargo.toml) -> wasm-bindgen (as a
//!   library, pinned to the wasm-bindgen crate's exact version) -> wasm-opt -O1 (Binaryen from the
//!   npm package `binaryen`, pinned in crates/xtask/wasm-opt/; `npm ci` there on first use, offline
//!   afterwards) -> www/pkg/. Prints the wasm's raw and gzip size after each step. Without
//!   Node.js/npm, build-wasm and serve warn and keep the larger unoptimised wasm; dist and
//!   test-web need wasm-opt.
//! - serve [--port N] [--no-build]: build, then serve the repository root on 127.0.0.1.
//! - dist [--out DIR]: build (wasm-opt required), then write a static site (index.html, sw.js, www/) that works from
//!   any static host and under any sub-path (every URL in it is relative).
//! - test-web: build, make dist/, serve both (dist under a sub-path), `npm ci` and run the
//!   Chromium tests in tests/web.

mod server;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root exists")
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

/// Value of `--name V` in `args`, if present.
fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// What build_wasm does after wasm-bindgen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WasmOpt {
    /// Run wasm-opt; fail if it cannot be installed (dist, test-web).
    Required,
    /// Run wasm-opt if it can be installed, else warn and keep the unoptimised wasm.
    IfAvailable,
    /// Skip it (`--no-wasm-opt`, to measure).
    Skip,
}

/// wasm-opt's passes. -O1, not -Oz: on this module (already opt-level "z" from rustc) -Oz and -Os
/// make the file 7 % smaller raw but 3 % larger gzipped (what the page downloads); -O1 is the
/// smallest gzip measured (README, "The page").
const WASM_OPT_FLAGS: &[&str] = &["-O1", "--strip-debug", "--strip-producers"];

/// The Cargo profile of the page's wasm (workspace Cargo.toml, `[profile.wasm-release]`).
const WASM_PROFILE: &str = "wasm-release";

fn build_wasm(root: &Path, opt: WasmOpt) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // A fresh machine has only the host target: add wasm32 when rustup is there (a no-op when
    // it is installed already), so `cargo xtask serve` is the whole first-run command.
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if let Ok(out) = installed {
        if out.status.success() && !String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
            eprintln!("xtask: rustup target add wasm32-unknown-unknown");
            let status = Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]).status().context("cannot run rustup")?;
            if !status.success() {
                bail!("rustup target add wasm32-unknown-unknown failed");
            }
        }
    }
    // Before the long cargo build, so a missing npm shows at once.
    let wasm_opt = match opt {
        WasmOpt::Skip => None,
        WasmOpt::Required => Some(wasm_opt_path(root)?),
        WasmOpt::IfAvailable => match wasm_opt_path(root) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("xtask: WARNING: no wasm-opt ({e:#}); the page gets the unoptimised wasm (about 1.5x larger)");
                None
            }
        },
    };
    eprintln!("xtask: building crates/web for wasm32-unknown-unknown (profile {WASM_PROFILE})");
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--profile", WASM_PROFILE, "--lib", "-p", "msf-web", "--target", "wasm32-unknown-unknown"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build of msf-web for wasm32 failed (is the target installed? rustup target add wasm32-unknown-unknown)");
    }
    let wasm = target_dir(root).join("wasm32-unknown-unknown").join(WASM_PROFILE).join("msf_web.wasm");
    let (raw, gz) = sizes(&wasm)?;
    eprintln!("xtask: rustc output {} is {raw} bytes ({gz} gzipped)", wasm.display());
    let out = root.join("www/pkg");
    std::fs::create_dir_all(&out)?;
    eprintln!("xtask: wasm-bindgen {} -> {}", wasm.display(), out.display());
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        .typescript(false)
        .remove_name_section(true)
        .remove_producers_section(true)
        .generate(&out)
        .map_err(|e| anyhow::anyhow!("wasm-bindgen failed: {e}"))?;
    let bg = out.join("msf_web_bg.wasm");
    let (raw, gz) = sizes(&bg)?;
    eprintln!("xtask: after wasm-bindgen {} is {raw} bytes ({gz} gzipped)", bg.display());
    if let Some(wasm_opt) = wasm_opt {
        let tmp = out.join("msf_web_bg.opt.wasm");
        eprintln!("xtask: wasm-opt {} {}", WASM_OPT_FLAGS.join(" "), bg.display());
        // The features rustc enabled are read from the module's target_features section.
        let st = Command::new("node")
            .arg(&wasm_opt)
            .args(WASM_OPT_FLAGS)
            .arg(&bg)
            .arg("-o")
            .arg(&tmp)
            .status()
            .context("cannot run node (wasm-opt is Binaryen's JS build)")?;
        if !st.success() {
            std::fs::remove_file(&tmp).ok();
            bail!("wasm-opt failed on {}", bg.display());
        }
        std::fs::rename(&tmp, &bg)?;
        let (raw, gz) = sizes(&bg)?;
        eprintln!("xtask: after wasm-opt {} is {raw} bytes ({gz} gzipped)", bg.display());
    }
    Ok(out)
}

/// Binaryen's wasm-opt from the npm package pinned in crates/xtask/wasm-opt (package.json and
/// package-lock.json; node_modules is git-ignored): `npm ci` there when it is missing.
fn wasm_opt_path(root: &Path) -> Result<PathBuf> {
    let dir = root.join("crates/xtask/wasm-opt");
    let bin = dir.join("node_modules/binaryen/bin/wasm-opt");
    if !bin.exists() {
        eprintln!("xtask: npm ci in {} (Binaryen's wasm-opt, once)", dir.display());
        let st = Command::new("npm")
            .current_dir(&dir)
            .args(["ci", "--no-audit", "--no-fund"])
            .status()
            .context("cannot run npm (install Node.js and npm: apt-get install nodejs npm)")?;
        if !st.success() || !bin.exists() {
            bail!("npm ci failed in {}", dir.display());
        }
    }
    Ok(bin)
}

/// Raw and gzip (level 9) size of a file.
fn sizes(path: &Path) -> Result<(usize, usize)> {
    use std::io::Write;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&bytes)?;
    Ok((bytes.len(), enc.finish()?.len()))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let e = e?;
        let p = e.path();
        let name = e.file_name();
        // Dot files and the icon generator script are not part of the site.
        let n = name.to_string_lossy();
        if n.starts_with('.') || n.ends_with(".py") {
            continue;
        }
        if p.is_dir() {
            copy_dir(&p, &to.join(&name))?;
        } else {
            std::fs::copy(&p, to.join(&name)).with_context(|| format!("cannot copy {}", p.display()))?;
        }
    }
    Ok(())
}

fn dist(root: &Path, out: &Path) -> Result<()> {
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    std::fs::create_dir_all(out)?;
    std::fs::copy(root.join("index.html"), out.join("index.html"))?;
    copy_dir(&root.join("www"), &out.join("www"))?;
    // The service worker must sit beside index.html: a worker only controls pages at or below
    // its own URL, and a static host cannot send Service-Worker-Allowed.
    std::fs::write(out.join("sw.js"), server::service_worker(root)?)?;
    std::fs::remove_file(out.join("www/sw.js")).ok();
    eprintln!("xtask: wrote {}", out.display());
    Ok(())
}

fn test_web(root: &Path, args: &[String]) -> Result<()> {
    if !args.iter().any(|a| a == "--no-build") {
        build_wasm(root, WasmOpt::Required)?;
    }
    let dist_dir = root.join("dist");
    dist(root, &dist_dir)?;
    // The repository at /, and dist/ under a sub-path to prove the relative URLs.
    let mounts = vec![("/sub/dir/app/".to_string(), dist_dir), ("/".to_string(), root.to_path_buf())];
    let (port, _handle) = server::spawn(mounts, 0, root.to_path_buf())?;
    let web = root.join("tests/web");
    if !web.join("node_modules/playwright-core").exists() {
        eprintln!("xtask: npm ci in tests/web");
        let st = Command::new("npm").current_dir(&web).args(["ci", "--no-audit", "--no-fund"]).status().context("cannot run npm")?;
        if !st.success() {
            bail!("npm ci failed in tests/web");
        }
    }
    let base = format!("http://127.0.0.1:{port}/");
    eprintln!("xtask: running tests/web/test.mjs against {base}");
    let st = Command::new("node")
        .current_dir(&web)
        .arg("test.mjs")
        .env("MSF_BASE_URL", &base)
        .env("MSF_REPO", root)
        .status()
        .context("cannot run node")?;
    if !st.success() {
        bail!("web tests failed");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root();
    match args.first().map(String::as_str) {
        Some("build-wasm") => {
            build_wasm(&root, if args.iter().any(|a| a == "--no-wasm-opt") { WasmOpt::Skip } else { WasmOpt::IfAvailable })?;
        }
        Some("serve") => {
            if !args.iter().any(|a| a == "--no-build") {
                build_wasm(&root, WasmOpt::IfAvailable)?;
            }
            let port: u16 = match opt(&args, "--port") {
                Some(p) => p.parse().with_context(|| format!("--port {p}: not a port number"))?,
                None => 8080,
            };
            let (port, handle) = server::spawn(vec![("/".into(), root.clone())], port, root.clone())?;
            println!("msf-planner: http://127.0.0.1:{port}/  (Ctrl-C to stop)");
            handle.join().ok();
        }
        Some("dist") => {
            build_wasm(&root, WasmOpt::Required)?;
            let out = opt(&args, "--out").map(PathBuf::from).unwrap_or_else(|| root.join("dist"));
            dist(&root, &out)?;
        }
        Some("test-web") => test_web(&root, &args)?,
        _ => {
            eprintln!("usage: cargo xtask <build-wasm [--no-wasm-opt] | serve [--port N] [--no-build] | dist [--out DIR] | test-web [--no-build]>");
            std::process::exit(2);
        }
    }
    Ok(())
}
