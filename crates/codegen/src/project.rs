//! The project emitter: (Board, Firmware) -> Project, a list of files under one root folder.

use std::collections::BTreeMap;

use crate::board::{Board, CycleCounter, Family};
use crate::sanitize::crate_name;
use crate::CodegenError;

/// The output tensor's element type, as the firmware prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    I8,
    U8,
    I32,
    F32,
}

impl OutputKind {
    fn rust(self) -> &'static str {
        match self {
            OutputKind::I8 => "I8",
            OutputKind::U8 => "U8",
            OutputKind::I32 => "I32",
            OutputKind::F32 => "F32",
        }
    }
    pub fn size(self) -> usize {
        match self {
            OutputKind::I8 | OutputKind::U8 => 1,
            OutputKind::I32 | OutputKind::F32 => 4,
        }
    }
}

/// What goes into the firmware: the lowered model and the figures the README reports.
#[derive(Debug, Clone)]
pub struct Firmware {
    /// The model's name (any string: it is sanitised before use in paths and package names).
    pub model_name: String,
    /// The runtime program (ops, weights, quantisation) written by the host lowering; kept in
    /// flash. Opaque to codegen.
    pub program: Vec<u8>,
    /// Bytes of the one static arena (the plan's peak RAM, placement included).
    pub arena: u64,
    /// The bundled test input (raw tensor bytes).
    pub input: Vec<u8>,
    /// Bytes of the output tensor.
    pub output_len: usize,
    pub output_kind: OutputKind,
    /// Multiply-accumulates of one inference under this plan (for the latency estimate).
    pub macs: u64,
    /// One line describing the plan, for the README (e.g. "layer-by-layer").
    pub plan_summary: String,
    /// Markdown after the summary (the stage table of a planned firmware; may be empty).
    pub plan_details: String,
    /// The program carries a stage table with fused stages: the firmware runs it through
    /// `msf_runtime::fused::FusedProgram` (the stack reserve is the fused figure).
    pub fused: bool,
}

/// Resources a project needs on its board, with the board's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub arena: u64,
    /// .data + .bss besides the arena (runtime and startup statics), see [`statics_overhead`].
    pub statics: u64,
    /// The stack reserve: `stack_parts.total`.
    pub stack: u64,
    /// The reserve in its parts (runtime, template, interrupt margin).
    pub stack_parts: crate::stack::StackBudget,
    /// The firmware's whole RAM: statics + arena (16-byte rounded) + stack reserve. The one
    /// RAM figure `msf plan --board`, `msf emit`, the README and the page show, and the one the
    /// fit decision compares with the board's RAM.
    pub ram_needed: u64,
    pub program: u64,
    pub input: u64,
    /// Estimated code size (runtime kernels, startup, formatting).
    pub code: u64,
    pub flash_needed: u64,
    pub ram: u64,
    pub flash: u64,
    pub latency_s: f64,
}

impl Budget {
    pub fn fits(&self) -> bool {
        self.ram_needed <= self.ram && self.flash_needed <= self.flash
    }
}

/// Bytes of .data + .bss an emitted firmware has besides the arena, per family. Measured from
/// the ELF section headers of built projects, and asserted exactly by tests/tests/emit_qemu.rs
/// (`.data + .bss == arena + this`):
/// - Cortex-M and RISC-V: 0. cortex-m-rt, riscv-rt and the semihosting crates keep no statics;
///   main uses `Peripherals::steal()` (not `take()`, whose 1-byte flag would add a padded static);
///   msf-runtime is no-alloc and keeps none. The stack is not a static: its reserve
///   ([`stack_bytes`]) is kept free above .bss by a linker ASSERT (riscv-rt: `_stack_size`).
/// - ESP32: esp-hal's own statics (clocks, drivers, app descriptor); not built in the tests that
///   measure, so an allowance (the ESP32-C3 hello-world measured 952 B of .data + .bss here).
pub fn statics_overhead(family: Family) -> u64 {
    match family {
        Family::CortexM | Family::Riscv => 0,
        Family::Esp32c3 | Family::Xtensa => 4096,
    }
}

/// Code-size allowance for the flash check (runtime kernels + startup + formatting, release,
/// opt-level 3). Measured here for tiny_cnn_int8 layer by layer: .text 51.6 kB (thumbv7em),
/// 52.3 kB (thumbv6m), 50.9 kB (riscv32imac) at first; 66.7 kB on thumbv7em/thumbv8m once the
/// runtime gained its input-major and float kernels (66.9 kB the largest seen; riscv32imac 61.8 kB);
/// tests/tests/emit_qemu.rs prints and bounds every built ELF's .text. The kernels are the same
/// for every model, so 80 kB covers them. Fused firmware adds [`FUSED_CODE_EXTRA`].
pub fn code_estimate(family: Family) -> u64 {
    match family {
        Family::CortexM | Family::Riscv => 80 * 1024,
        Family::Esp32c3 | Family::Xtensa => 128 * 1024,
    }
}

/// Stack bytes a firmware keeps free on `board`: the runtime's measured stack on its target
/// (layer by layer, or fused when the program has fused stages) + the template's main/report +
/// [`crate::stack::INTERRUPT_MARGIN`], rounded: [`crate::stack::stack_budget`].
pub fn stack_bytes(board: &Board, fused: bool) -> u64 {
    crate::stack::stack_budget(board, fused).total
}

/// The largest arena a fused firmware can have on `board`: RAM minus statics and the fused
/// firmware's stack reserve ([`stack_bytes`]). What `msf emit` gives the planner when no budget
/// is asked for.
pub fn arena_budget(board: &Board) -> u64 {
    board.ram.saturating_sub(statics_overhead(board.family) + stack_bytes(board, true))
}

/// Bytes the arena static takes in .bss: the arena rounded up to its 16-byte alignment (a plan's
/// `arena_size` ends where its last buffer ends, not always on a multiple of 16; layer-by-layer
/// arenas already are). The ELF's .data + .bss is this + [`statics_overhead`].
pub fn arena_static_bytes(arena: u64) -> u64 {
    arena.next_multiple_of(16)
}

/// Code of the fused executor on top of [`code_estimate`]: measured .text of fused firmware
/// 92.0 kB on thumbv7em (tiny_cnn_int8, mbv1_w025_96_int8 least-RAM plans) and 81.3 kB on
/// riscv32imac, against 66.7 / 61.7 kB layer by layer: ~25 kB, rounded up to 32 kB.
pub const FUSED_CODE_EXTRA: u64 = 32 * 1024;

/// Predicted RAM and flash of `fw` on `board`.
pub fn budget(board: &Board, fw: &Firmware) -> Budget {
    let statics = statics_overhead(board.family);
    let code = code_estimate(board.family) + if fw.fused { FUSED_CODE_EXTRA } else { 0 };
    let program = fw.program.len() as u64;
    let input = fw.input.len() as u64;
    let stack_parts = crate::stack::stack_budget(board, fw.fused);
    let stack = stack_parts.total;
    Budget {
        arena: fw.arena,
        statics,
        stack,
        stack_parts,
        ram_needed: arena_static_bytes(fw.arena) + statics + stack,
        program,
        input,
        code,
        flash_needed: program + input + code,
        ram: board.ram,
        flash: board.flash,
        latency_s: board.latency_s(fw.macs),
    }
}

/// One file of a project (path relative to the project root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// A complete Cargo project: `root/` + files.
#[derive(Debug, Clone)]
pub struct Project {
    /// Root folder name: `msf-<model>-<board>`, sanitised.
    pub root: String,
    pub files: Vec<ProjectFile>,
    pub budget: Budget,
}

impl Project {
    pub fn file(&self, path: &str) -> Option<&ProjectFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// The project for `fw` on `board` (through [`crate::package`]). Refuses a firmware that does not fit unless `force`.
pub(crate) fn emit_project(board: &Board, fw: &Firmware, force: bool) -> Result<Project, CodegenError> {
    let model = if fw.fused { fused_model_rs(fw) } else { runtime_model_rs(fw) };
    emit_with_model_module(board, fw, force, &model)
}

/// The firmware's `model.rs` for a planned program: the fused executor runs its stage table
/// (layer stages through the layer executor, fused stages patch by patch in the plan's rings).
fn fused_model_rs(fw: &Firmware) -> String {
    let mut s = data_decls(fw);
    s.push_str(
        r#"
/// Run the planned program on the bundled input; the output bytes live in the arena. Not
/// inlined: its stack is the runtime's share of the measured high-water mark, not main's.
#[inline(never)]
pub fn infer() -> Result<&'static [u8], msf_runtime::Error> {
    use msf_runtime::Error;
    // SAFETY: main calls infer() once, so this is the only reference to the arena.
    let arena: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
    let fused = msf_runtime::fused::FusedProgram::parse(&PROGRAM.0)?;
    let program = fused.program;
    let input = program.input(0).ok_or(Error::BadParams("the program has no input"))?;
    arena
        .get_mut(input.arena_off..input.arena_off + input.byte_len)
        .filter(|slot| slot.len() == INPUT_BYTES)
        .ok_or(Error::BadParams("the bundled input does not match the program's input slot"))?
        .copy_from_slice(&INPUT.0);
    fused.run(arena)?;
    let output = program.output(0).ok_or(Error::BadParams("the program has no output"))?;
    let arena: &'static [u8] = arena;
    arena.get(output.arena_off..output.arena_off + output.byte_len).ok_or(Error::BadParams("output outside the arena"))
}
"#,
    );
    s
}

/// The firmware's `model.rs` for the real runtime: program blob, arena, input, and `infer()`.
fn runtime_model_rs(fw: &Firmware) -> String {
    let mut s = data_decls(fw);
    s.push_str(
        r#"
/// Run the program on the bundled input; the output bytes live in the arena. Not inlined: its
/// stack is the runtime's share of the measured high-water mark, not main's.
#[inline(never)]
pub fn infer() -> Result<&'static [u8], msf_runtime::Error> {
    use msf_runtime::Error;
    // SAFETY: main calls infer() once, so this is the only reference to the arena.
    let arena: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
    let program = msf_runtime::Program::parse(&PROGRAM.0)?;
    let input = program.input(0).ok_or(Error::BadParams("the program has no input"))?;
    arena
        .get_mut(input.arena_off..input.arena_off + input.byte_len)
        .filter(|slot| slot.len() == INPUT_BYTES)
        .ok_or(Error::BadParams("the bundled input does not match the program's input slot"))?
        .copy_from_slice(&INPUT.0);
    program.run(arena)?;
    let output = program.output(0).ok_or(Error::BadParams("the program has no output"))?;
    let arena: &'static [u8] = arena;
    arena.get(output.arena_off..output.arena_off + output.byte_len).ok_or(Error::BadParams("output outside the arena"))
}
"#,
    );
    s
}

/// The statics shared by every model.rs: program and input in flash, the arena in RAM.
pub fn data_decls(fw: &Firmware) -> String {
    format!(
        r#"//! The model's data: the runtime program and the test input in flash, one static arena.
//! Generated by msf-planner.
#![allow(dead_code)]

/// 16-byte alignment for the blobs and the arena (the runtime's int32/f32 views need 4).
#[repr(C, align(16))]
pub struct Aligned<T: ?Sized>(pub T);

pub const ARENA_BYTES: usize = {arena};
pub const INPUT_BYTES: usize = {input};
pub const OUTPUT_BYTES: usize = {output};
pub const OUTPUT_KIND: crate::report::Kind = crate::report::Kind::{kind};

/// The runtime program (ops, weights, quantisation): flash.
pub static PROGRAM: Aligned<[u8; {program}]> = Aligned(*include_bytes!("../data/program.bin"));
/// The bundled test input: flash.
pub static INPUT: Aligned<[u8; INPUT_BYTES]> = Aligned(*include_bytes!("../data/input.bin"));
/// The one arena, of the planned size: .bss.
pub static mut ARENA: Aligned<[u8; ARENA_BYTES]> = Aligned([0; ARENA_BYTES]);
"#,
        arena = fw.arena,
        input = fw.input.len(),
        output = fw.output_len,
        kind = fw.output_kind.rust(),
        program = fw.program.len(),
    )
}

/// Emit with a caller-supplied `src/model.rs` (it must define `infer()`, `OUTPUT_KIND`; use
/// [`data_decls`] for the statics). Used by the platform tests to prove each board's startup,
/// printing and exit independently of the runtime.
fn emit_with_model_module(board: &Board, fw: &Firmware, force: bool, model_rs: &str) -> Result<Project, CodegenError> {
    if fw.output_len == 0 || fw.output_len % fw.output_kind.size() != 0 {
        return Err(CodegenError::BadInput(format!(
            "output is {} bytes, not a whole number of {:?} values",
            fw.output_len, fw.output_kind
        )));
    }
    let b = budget(board, fw);
    if !force && !b.fits() {
        return Err(CodegenError::DoesNotFit {
            board: board.id.clone(),
            need_ram: b.ram_needed,
            arena: b.arena,
            statics: b.statics,
            stack: b.stack,
            ram: b.ram,
            need_flash: b.flash_needed,
            program: b.program,
            input: b.input,
            code: b.code,
            flash: b.flash,
        });
    }
    // The package is named after model and board, so projects built into one shared
    // CARGO_TARGET_DIR never overwrite each other's ELF.
    let root = format!("msf-{}-{}", crate_name(&fw.model_name), crate_name(&board.id));
    let vars = vars(board, fw, &root, &b);
    let mut files: Vec<ProjectFile> = Vec::new();
    let mut add = |path: &str, bytes: Vec<u8>| files.push(ProjectFile { path: path.to_string(), bytes, executable: false });

    add("Cargo.toml", render("Cargo.toml", CARGO_TOML, &vars)?.into_bytes());
    add(".cargo/config.toml", cargo_config(board).into_bytes());
    add("README.md", render("README.md", README_MD, &vars)?.into_bytes());
    add("src/report.rs", REPORT_RS.as_bytes().to_vec());
    add("src/model.rs", model_rs.as_bytes().to_vec());
    add("data/program.bin", fw.program.clone());
    add("data/input.bin", fw.input.clone());
    let main = match board.family {
        Family::CortexM => MAIN_CORTEX_M,
        Family::Riscv => MAIN_RISCV,
        Family::Esp32c3 => MAIN_ESP32C3,
        Family::Xtensa => MAIN_XTENSA,
    };
    add("src/main.rs", render("src/main.rs", main, &vars)?.into_bytes());
    match board.family {
        Family::CortexM | Family::Riscv => {
            add("src/stack.rs", STACK_RS.as_bytes().to_vec());
            add("memory.x", memory_x(board, b.stack).into_bytes());
            add("build.rs", BUILD_RS.as_bytes().to_vec());
        }
        Family::Esp32c3 => {}
        Family::Xtensa => add("rust-toolchain.toml", b"[toolchain]\nchannel = \"esp\"\n".to_vec()),
    }
    if let Some(lock) = lockfile(board, &root) {
        add("Cargo.lock", lock.into_bytes());
    }
    for (rel, bytes) in crate::runtime_files::RUNTIME_FILES {
        add(&format!("msf-runtime/{rel}"), bytes.to_vec());
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Project { root, files, budget: b })
}

const CARGO_TOML: &str = include_str!("../templates/Cargo.toml.in");
const README_MD: &str = include_str!("../templates/README.md.in");
const REPORT_RS: &str = include_str!("../templates/report.rs");
const MAIN_CORTEX_M: &str = include_str!("../templates/main_cortex_m.rs");
const MAIN_RISCV: &str = include_str!("../templates/main_riscv.rs");
const MAIN_ESP32C3: &str = include_str!("../templates/main_esp32c3.rs");
const MAIN_XTENSA: &str = include_str!("../templates/main_xtensa.rs");
/// Cargo.lock files of projects that built and ran here (tests/tests/emit_*.rs), with the root
/// package's name as `{{CRATE}}`: emitted projects resolve to the same dependency versions.
const LOCK_CORTEX_M: &str = include_str!("../templates/Cargo.lock.cortex-m");
const LOCK_CORTEX_M_RP2040: &str = include_str!("../templates/Cargo.lock.cortex-m-rp2040");
const LOCK_RISCV: &str = include_str!("../templates/Cargo.lock.riscv");
const LOCK_ESP32C3: &str = include_str!("../templates/Cargo.lock.esp32c3");

/// The project's Cargo.lock: the family's template with the root package renamed, its
/// `[[package]]` entries re-sorted by name as cargo writes them. None for Xtensa (never built here).
fn lockfile(board: &Board, krate: &str) -> Option<String> {
    let template = match board.family {
        Family::CortexM if board.has_extra("rp2040-boot2") => LOCK_CORTEX_M_RP2040,
        Family::CortexM => LOCK_CORTEX_M,
        Family::Riscv => LOCK_RISCV,
        Family::Esp32c3 => LOCK_ESP32C3,
        Family::Xtensa => return None,
    };
    let text = template.replace("name = \"{{CRATE}}\"", &format!("name = \"{krate}\""));
    let mut parts = text.split("\n[[package]]\n");
    let head = parts.next().unwrap_or_default().to_string();
    let mut packages: Vec<&str> = parts.collect();
    let key = |p: &str| p.lines().find_map(|l| l.strip_prefix("name = \"")).unwrap_or("").trim_end_matches('"').to_string();
    packages.sort_by_key(|p| key(p));
    let mut out = head;
    for p in packages {
        out.push_str("\n[[package]]\n");
        out.push_str(p);
    }
    Some(out)
}

const STACK_RS: &str = include_str!("../templates/stack.rs");
const BUILD_RS: &str = include_str!("../templates/build.rs.in");

/// Substitute `{{KEY}}` placeholders; an unknown key is an error (caught by the unit tests).
pub fn render(name: &str, template: &str, vars: &BTreeMap<&'static str, String>) -> Result<String, CodegenError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or_else(|| CodegenError::Template { template: name.into(), key: after.chars().take(20).collect() })?;
        let key = &after[..j];
        let v = vars.get(key).ok_or_else(|| CodegenError::Template { template: name.into(), key: key.into() })?;
        out.push_str(v);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn kb(bytes: u64) -> String {
    format!("{:.1} kB", bytes as f64 / 1024.0)
}

fn vars(board: &Board, fw: &Firmware, krate: &str, b: &crate::project::Budget) -> BTreeMap<&'static str, String> {
    let mut v = BTreeMap::new();
    v.insert("CRATE", krate.to_string());
    v.insert("MODEL", crate_name(&fw.model_name));
    v.insert("BOARD_ID", board.id.clone());
    v.insert("BOARD_NAME", board.name.clone());
    v.insert("CORE", board.core.clone());
    v.insert("TARGET", board.target.clone());
    v.insert("CLOCK_HZ", board.clock_hz.to_string());
    v.insert("CLOCK_MHZ", format!("{}", board.clock_hz as f64 / 1e6));
    v.insert("CYCLES_PER_MAC", format!("{}", board.cycles_per_mac));
    v.insert("DEPS", deps(board));
    v.insert("ARENA", b.arena.to_string());
    v.insert("ARENA_KB", kb(b.arena));
    v.insert("STATICS", b.statics.to_string());
    v.insert("STACK", b.stack.to_string());
    v.insert("STACK_RUNTIME", b.stack_parts.runtime.to_string());
    v.insert("STACK_TEMPLATE", b.stack_parts.template.to_string());
    v.insert("STACK_MARGIN", b.stack_parts.margin.to_string());
    v.insert(
        "STACK_SOURCE",
        format!(
            "{} on {}{}",
            if fw.fused { "fused executor" } else { "layer by layer" },
            crate::stack::target_stack(board).name,
            if b.stack_parts.runtime_measured { ", measured under QEMU" } else { ", not measured on this core: the largest measured figure of its architecture" }
        ),
    );
    v.insert("RAM_NEEDED", b.ram_needed.to_string());
    v.insert("RAM_NEEDED_KB", kb(b.ram_needed));
    v.insert("RAM", b.ram.to_string());
    v.insert("RAM_KB", kb(b.ram));
    v.insert("PROGRAM", b.program.to_string());
    v.insert("INPUT", b.input.to_string());
    v.insert("CODE", b.code.to_string());
    v.insert("FLASH_NEEDED_KB", kb(b.flash_needed));
    v.insert("FLASH_KB", kb(b.flash));
    v.insert("MACS", fw.macs.to_string());
    v.insert("LATENCY_MS", format!("{:.1}", b.latency_s * 1e3));
    v.insert("PLAN", fw.plan_summary.clone());
    v.insert("PLAN_DETAILS", fw.plan_details.clone());
    v.insert("FITS", if b.fits() { "fits".into() } else { "DOES NOT FIT (emitted with --force)".into() });
    v.insert("SRC_MEMORY", board.source.memory.clone());
    v.insert("SRC_CLOCK", board.source.clock.clone());
    v.insert("SRC_CPM", board.source.cycles_per_mac.clone());
    v.insert("BUILD", build_cmd(board));
    v.insert("RUN", run_doc(board));
    v.insert("RUNNER", board.runner.clone());
    v.insert(
        "CYCLES_NOTE",
        match (&board.qemu, board.cycle_counter) {
            (Some(_), CycleCounter::Dwt) => "Under QEMU the `cycles:` line reads 0: QEMU does not model the DWT cycle counter.".into(),
            (Some(_), CycleCounter::Mcycle) => "Under QEMU `mcycle` is not a real cycle count (QEMU does not model timing).".into(),
            (_, CycleCounter::None) => "This core has no cycle counter: the firmware prints `cycles: n/a`.".into(),
            (_, CycleCounter::Systimer) => "ESP32-C3: `cycles:` is the SYSTIMER time in microseconds x the core clock in MHz.".into(),
            _ => String::new(),
        },
    );
    let (init, now, diff) = match board.cycle_counter {
        CycleCounter::Dwt => (
            "    // DWT.CYCCNT: enable tracing, then the cycle counter (Cortex-M3 and up).\n    // steal(), not take(): take() keeps a static flag, and main runs once.\n    let mut cp = unsafe { cortex_m::Peripherals::steal() };\n    cp.DCB.enable_trace();\n    cp.DWT.enable_cycle_counter();\n",
            "cortex_m::peripheral::DWT::cycle_count()",
            "Some(end.wrapping_sub(start) as u64)",
        ),
        _ => ("    // This core has no cycle counter (no DWT.CYCCNT on ARMv6-M).\n", "0u32", "{ let _ = (start, end); None }"),
    };
    v.insert("BOOT_BLOCK", boot_block(board));
    v.insert("CYCLES_INIT", init.into());
    v.insert("CYCLES_NOW", now.into());
    v.insert("CYCLES_DIFF", diff.into());
    v
}

/// The [dependencies] of each family, pinned to versions seen building and running here.
fn deps(board: &Board) -> String {
    let mut d = String::new();
    match board.family {
        Family::CortexM => {
            d.push_str("cortex-m = { version = \"=0.7.7\", features = [\"critical-section-single-core\"] }\n");
            d.push_str("cortex-m-rt = \"=0.7.7\"\n");
            d.push_str("cortex-m-semihosting = \"=0.6.0\"\n");
            if board.has_extra("rp2040-boot2") {
                d.push_str("# RP2040: 256-byte second-stage bootloader for the W25Q080-class flash on the Pico.\nrp2040-boot2 = \"=0.3.0\"\n");
            }
        }
        Family::Riscv => {
            d.push_str("riscv = { version = \"=0.16.1\", features = [\"critical-section-single-hart\"] }\n");
            d.push_str("riscv-rt = { version = \"=0.18.0\", features = [\"single-hart\"] }\n");
            d.push_str("semihosting = { version = \"=0.1.25\", features = [\"stdio\"] }\n");
        }
        Family::Esp32c3 => {
            d.push_str("esp-hal = { version = \"=1.2.2\", features = [\"esp32c3\"] }\n");
            d.push_str("esp-println = { version = \"=0.18.0\", features = [\"esp32c3\"] }\n");
            d.push_str("esp-bootloader-esp-idf = { version = \"=0.6.0\", features = [\"esp32c3\"] }\n");
        }
        Family::Xtensa => {
            d.push_str("esp-hal = { version = \"=1.2.2\", features = [\"esp32s3\"] }\n");
            d.push_str("esp-println = { version = \"=0.18.0\", features = [\"esp32s3\"] }\n");
            d.push_str("esp-bootloader-esp-idf = { version = \"=0.6.0\", features = [\"esp32s3\"] }\n");
        }
    }
    d
}

fn cargo_config(board: &Board) -> String {
    let base = match board.family {
        // cortex-m-rt's link.x includes memory.x; --nmagic keeps sections unpadded in the ELF.
        Family::CortexM => r#""-C", "link-arg=--nmagic", "-C", "link-arg=-Tlink.x""#,
        // riscv-rt wants memory.x and link.x named explicitly.
        Family::Riscv => r#""-C", "link-arg=-Tmemory.x", "-C", "link-arg=-Tlink.x""#,
        // esp-hal ships its linker scripts; linkall.x pulls them in.
        Family::Esp32c3 | Family::Xtensa => r#""-C", "link-arg=-Tlinkall.x", "-C", "force-frame-pointers""#,
    };
    // The exact core: better scheduling, and on the M33 the generic thumbv8m.main build (no
    // target-cpu) printed a wrong tiny_cnn_int8 output under QEMU 7.2 at opt-level 3 while the
    // cortex-m33 build is right (not isolated between LLVM and QEMU; see the codegen notes).
    let rustflags = match &board.target_cpu {
        Some(cpu) => format!(r#"["-C", "target-cpu={cpu}", {base}]"#),
        None => format!("[{base}]"),
    };
    let mut s = format!(
        "# Generated by msf-planner for {name}.\n[build]\ntarget = \"{t}\"\n\n[target.{t}]\n# `cargo run --release` flashes/runs the firmware.\nrunner = \"{runner}\"\nrustflags = {rustflags}\n",
        name = board.name,
        t = board.target,
        runner = board.runner,
    );
    if board.family == Family::Xtensa {
        s.push_str("\n[unstable]\nbuild-std = [\"core\"]\n");
    }
    s
}

fn memory_x(board: &Board, stack: u64) -> String {
    let mut s = format!("/* {} — generated by msf-planner.\n   Source: {} */\n", board.name, board.source.memory);
    let rp2040 = board.has_extra("rp2040-boot2");
    s.push_str("MEMORY\n{\n");
    if rp2040 {
        s.push_str(&format!("  BOOT2 : ORIGIN = 0x{:08X}, LENGTH = 0x100\n", board.flash_origin));
        s.push_str(&format!("  FLASH : ORIGIN = 0x{:08X}, LENGTH = {}\n", board.flash_origin + 0x100, board.flash - 0x100));
    } else {
        s.push_str(&format!("  FLASH : ORIGIN = 0x{:08X}, LENGTH = {}\n", board.flash_origin, board.flash));
    }
    s.push_str(&format!("  RAM : ORIGIN = 0x{:08X}, LENGTH = {}\n}}\n", board.ram_origin, board.ram));
    if rp2040 {
        s.push_str("\n/* RP2040 boot ROM loads the 256-byte boot2 block from the start of flash. */\nSECTIONS {\n  .boot2 ORIGIN(BOOT2) :\n  {\n    KEEP(*(.boot2));\n  } > BOOT2\n} INSERT BEFORE .text;\n");
    }
    if board.has_extra("rp2350-image-def") {
        s.push_str("\n/* RP2350 boot ROM looks for an IMAGE_DEF block in the first 4 kB of flash. */\nSECTIONS {\n  .start_block : ALIGN(4)\n  {\n    KEEP(*(.start_block));\n  } > FLASH\n} INSERT AFTER .vector_table;\n_stext = ADDR(.start_block) + SIZEOF(.start_block);\n");
    }
    match board.family {
        Family::Riscv => {
            s.push_str("\nREGION_ALIAS(\"REGION_TEXT\", FLASH);\nREGION_ALIAS(\"REGION_RODATA\", FLASH);\nREGION_ALIAS(\"REGION_DATA\", RAM);\nREGION_ALIAS(\"REGION_BSS\", RAM);\nREGION_ALIAS(\"REGION_HEAP\", RAM);\nREGION_ALIAS(\"REGION_STACK\", RAM);\n");
            s.push_str(&format!("\n/* msf: the stack reserve; riscv-rt checks that it fits above .bss. */\n_stack_size = {};\n", stack));
        }
        _ => {
            s.push_str(&format!(
                "\n/* msf: keep {} bytes for the stack between the statics (the arena) and the top of RAM. */\n_msf_stack_reserve = {};\nASSERT(ORIGIN(RAM) + LENGTH(RAM) - __euninit >= _msf_stack_reserve, \"msf: arena + statics leave less than the stack reserve\");\n",
                stack, stack
            ));
        }
    }
    s
}

/// Boot-ROM blocks some chips need in flash before the program.
fn boot_block(board: &Board) -> String {
    if board.has_extra("rp2040-boot2") {
        "\n/// RP2040: the boot ROM copies these 256 bytes from flash and runs them to set up XIP.\n#[link_section = \".boot2\"]\n#[used]\npub static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;\n".into()
    } else if board.has_extra("rp2350-image-def") {
        // RP2350 datasheet s5.9.5, "minimum viable image metadata": block start marker, an
        // IMAGE_TYPE item (Secure, Arm, RP2350 executable), the LAST item, a zero link to itself,
        // block end marker.
        "\n/// RP2350: the boot ROM only runs an image that carries an IMAGE_DEF block (datasheet s5.9.5).\n#[link_section = \".start_block\"]\n#[used]\npub static IMAGE_DEF: [u32; 5] = [0xffff_ded3, 0x1021_0142, 0x0000_01ff, 0x0000_0000, 0xab12_3579];\n".into()
    } else {
        String::new()
    }
}

fn build_cmd(board: &Board) -> String {
    match board.family {
        Family::Xtensa => "espup install   # once: the esp-rs Xtensa toolchain\n. ~/export-esp.sh\ncargo build --release".into(),
        _ => format!("rustup target add {}\ncargo build --release", board.target),
    }
}

fn run_doc(board: &Board) -> String {
    if let Some(q) = &board.qemu {
        format!(
            "Emulated: `cargo run --release` runs it under QEMU (qemu-system-{}, machine {}), which prints the report and exits with the firmware's status.",
            q.binary, q.machine
        )
    } else {
        match board.family {
            Family::Esp32c3 | Family::Xtensa => "Connect the board over USB and `cargo run --release` (espflash flashes it and opens the monitor, where the report appears).".into(),
            _ => "Connect the board's debug probe and `cargo run --release` (probe-rs flashes it and shows the semihosting output). Without a debugger attached the semihosting calls stop the core: run it under probe-rs.".into(),
        }
    }
}
