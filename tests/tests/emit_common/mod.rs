//! Shared by emit_qemu.rs and emit_boards.rs: unpack an emitted zip, build it with cargo for its
//! target into one shared CARGO_TARGET_DIR (so the boards' dependencies compile once), find
//! QEMU, run with a timeout, read .data/.bss sizes from the ELF's section headers.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The workspace root (tests/..).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One CARGO_TARGET_DIR for every emitted project (MSF_EMIT_TARGET_DIR overrides
/// target/emitted-projects): the cortex-m / riscv-rt / esp-hal dependencies build once per target.
pub fn emit_target_dir() -> PathBuf {
    std::env::var_os("MSF_EMIT_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target").join("emitted-projects"))
}

/// A fresh folder under the shared target dir for unpacked projects.
pub fn scratch(name: &str) -> PathBuf {
    let d = emit_target_dir().join("src").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Unpack `zip` into `dest`, refusing any entry that would land outside it; returns the
/// project's root folder (the zip's single top-level folder).
pub fn unpack(zip_bytes: &[u8], dest: &Path) -> PathBuf {
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).expect("a valid zip");
    let mut roots = std::collections::BTreeSet::new();
    for i in 0..a.len() {
        let mut f = a.by_index(i).unwrap();
        let rel = f.enclosed_name().unwrap_or_else(|| panic!("entry {:?} escapes the folder", f.name()));
        roots.insert(rel.components().next().unwrap().as_os_str().to_owned());
        let path = dest.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).unwrap();
        std::fs::write(&path, buf).unwrap();
    }
    assert_eq!(roots.len(), 1, "one top-level folder, got {roots:?}");
    dest.join(roots.into_iter().next().unwrap())
}

/// cargo builds into the shared dir take its lock anyway; holding this too keeps a build and
/// the ELF read right after it together.
static BUILD: Mutex<()> = Mutex::new(());

/// `cargo build --release --locked` in `project` (--locked: the emitted Cargo.lock must be
/// complete, so projects build with the dependency versions tested here); returns a copy of the
/// ELF (target/<triple>/release/<package>) kept in `project`.
pub fn cargo_build(project: &Path, triple: &str, package: &str) -> PathBuf {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Every emitted project is a workspace of its own with `msf-runtime/` at the same relative
    // path, so cargo gives its msf-runtime (and the root package, when two projects share a
    // name) the same artifact hash in the shared target dir, and judges freshness against the
    // files of whichever project built it first: a stale runtime from another project got linked
    // (seen: a fused firmware linked with an older runtime's validator). Clean both first; the
    // dependencies that come from crates.io stay built.
    let clean = Command::new(&cargo)
        .args(["clean", "--release", "--quiet", "--target", triple, "-p", package, "-p", "msf-runtime"])
        .current_dir(project)
        .env("CARGO_TARGET_DIR", emit_target_dir())
        .stdin(Stdio::null())
        .output()
        .expect("cargo runs");
    assert!(clean.status.success(), "cargo clean in {}:\n{}", project.display(), String::from_utf8_lossy(&clean.stderr));
    let out = Command::new(cargo)
        .args(["build", "--release", "--locked", "--quiet"])
        .current_dir(project)
        // The outer `cargo test` environment must not leak into the firmware build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", emit_target_dir())
        .stdin(Stdio::null())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo build --release failed in {}:\n{}",
        project.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("built {} in {:.1} s", project.display(), t0.elapsed().as_secs_f64());
    let elf = emit_target_dir().join(triple).join("release").join(package);
    assert!(elf.is_file(), "no ELF at {}", elf.display());
    // Projects of the same model and board share the package name, hence the ELF path: keep a
    // copy beside this project, taken under the lock, so another test's build (or clean) cannot
    // replace it before it runs.
    let own = project.join(format!("{package}.elf"));
    std::fs::copy(&elf, &own).unwrap_or_else(|e| panic!("copy {} -> {}: {e}", elf.display(), own.display()));
    own
}

/// The qemu-system binary for `which` ("arm" | "riscv32"): $QEMU_SYSTEM_ARM /
/// $QEMU_SYSTEM_RISCV32, else /opt/qemu-extract (what .ci/install-qemu.sh unpacks), else PATH.
/// Missing: a panic under CI=true (the tests must not pass silently), a printed skip locally.
pub fn qemu(which: &str) -> Option<PathBuf> {
    let var = format!("QEMU_SYSTEM_{}", which.to_ascii_uppercase());
    let name = format!("qemu-system-{which}");
    let candidates: Vec<PathBuf> = std::env::var_os(&var)
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/opt/qemu-extract/usr/bin").join(&name)])
        .chain(std::env::var_os("PATH").map(|p| std::env::split_paths(&p).map(|d| d.join(&name)).collect::<Vec<_>>()).unwrap_or_default())
        .collect();
    if let Some(p) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(p);
    }
    let msg = format!("{name} not found (set {var}, or run .ci/install-qemu.sh)");
    if std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false) {
        panic!("{msg}: under CI the QEMU tests must run");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Run `cmd` with a timeout; returns (exit code, stdout, stderr).
pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> (i32, String, String) {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {limit:?}: {:?}", cmd);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status.code().unwrap_or(-1), t_out.join().unwrap(), t_err.join().unwrap())
}

/// Sizes of named sections from an ELF32 little-endian file's section headers (a 40-line reader
/// instead of a dependency: e_shoff/e_shentsize/e_shnum/e_shstrndx, then sh_name and sh_size).
pub fn elf32_section_sizes(elf: &[u8]) -> Vec<(String, u64)> {
    assert!(elf.len() > 52 && &elf[..4] == b"\x7fELF", "not an ELF");
    assert_eq!(elf[4], 1, "not ELF32");
    assert_eq!(elf[5], 1, "not little-endian");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes([elf[o], elf[o + 1], elf[o + 2], elf[o + 3]]) as usize;
    let shoff = u32_at(0x20);
    let shentsize = u16_at(0x2E);
    let shnum = u16_at(0x30);
    let shstrndx = u16_at(0x32);
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(sh(shstrndx) + 0x10);
    (0..shnum)
        .map(|i| {
            let name_off = strtab + u32_at(sh(i));
            let end = elf[name_off..].iter().position(|&b| b == 0).unwrap() + name_off;
            (String::from_utf8_lossy(&elf[name_off..end]).into_owned(), u32_at(sh(i) + 0x14) as u64)
        })
        .collect()
}

/// .data + .bss bytes of an ELF (what the firmware's statics take in RAM).
pub fn elf_ram(elf: &Path) -> (u64, Vec<(String, u64)>) {
    let bytes = std::fs::read(elf).unwrap();
    let secs = elf32_section_sizes(&bytes);
    let ram = secs.iter().filter(|(n, _)| n == ".data" || n == ".bss").map(|(_, s)| s).sum();
    (ram, secs)
}

/// Parse the firmware's `output: v0 v1 ...` line.
pub fn parse_output(stdout: &str) -> Vec<i64> {
    let line = stdout.lines().find(|l| l.starts_with("output:")).unwrap_or_else(|| panic!("no output line in:\n{stdout}"));
    line["output:".len()..].split_whitespace().map(|v| v.parse().unwrap()).collect()
}

/// FNV-1a 32 (the firmware's checksum).
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}
