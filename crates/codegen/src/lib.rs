//! msf-codegen: the board catalogue (boards.toml, as data), the no_std project emitter and a
//! deterministic zip writer.
//!
//! A project is (board template) + (runtime/ source, unchanged, as a path dependency) + (the
//! model's runtime program as a flash blob) + (one static arena of the planned size) + a main
//! that runs the bundled test input, prints `output: v0 v1 ...`, a checksum and a cycle count, and
//! exits through semihosting (emulated boards) with status 0, or 1 on any failure.
//! Nothing here touches the file system: it all works in wasm.

pub mod board;
pub mod fit;
pub mod lower;
pub mod project;
pub mod sanitize;
pub mod stack;
mod zipper;

pub use board::{board, boards, latency_s, Board, CycleCounter, Family, Qemu, Sources};
pub use fit::{fit, fit_with, Choice, Fit, FitError, Limit, Refusal};
pub use lower::{default_input, firmware, Kernels};
pub use project::{arena_budget, stack_bytes, Budget, Firmware, OutputKind, Project, ProjectFile};
pub use sanitize::{crate_name, safe_entry_path};
pub use stack::{stack_budget, StackBudget, INTERRUPT_MARGIN};

/// Everything that can go wrong while emitting a project.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    #[error("board catalogue: {0}")]
    Catalogue(String),
    #[error("unknown board `{id}` (known: {known})")]
    UnknownBoard { id: String, known: String },
    #[error(
        "the plan does not fit {board}: it needs {need_ram} B of RAM (arena {arena} B + statics {statics} B + stack reserve {stack} B) \
         and {need_flash} B of flash (program {program} B + input {input} B + code estimate {code} B); \
         the board has {ram} B of RAM and {flash} B of flash (use --force to emit anyway)"
    )]
    DoesNotFit {
        board: String,
        need_ram: u64,
        arena: u64,
        statics: u64,
        stack: u64,
        ram: u64,
        need_flash: u64,
        program: u64,
        input: u64,
        code: u64,
        flash: u64,
    },
    #[error("cannot lower the model for the runtime: {0}")]
    Lowering(String),
    #[error("bad firmware input: {0}")]
    BadInput(String),
    #[error("template `{template}`: placeholder `{key}` has no value")]
    Template { template: String, key: String },
    #[error("unsafe zip entry name `{0}`")]
    UnsafeEntry(String),
    #[error("zip: {0}")]
    Zip(String),
}

/// How to emit: the bundled test input (`None`: the model's deterministic [`default_input`]),
/// whose int8 arithmetic the firmware reproduces, and whether to emit what does not fit.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmitOptions<'a> {
    pub input: Option<&'a [u8]>,
    pub kernels: Kernels,
    /// Emit even if the firmware does not fit the board's RAM or flash (its README says so).
    pub force: bool,
}

/// An emitted project: the lowered firmware, its files and budget, and the zip.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub firmware: Firmware,
    pub project: Project,
    /// The zipped project (deterministic: same inputs, same bytes).
    pub zip: Vec<u8>,
}

/// The one emit call: lower `graph` as `plan` says (`Some`: a full-mode plan, fused stages
/// through the fused executor, arena = the plan's `peak_ram_bytes`; `None`: layer by layer),
/// make the project for `board` and zip it. Refuses a firmware that does not fit the board's RAM
/// or flash unless `opts.force` ([`CodegenError::DoesNotFit`], with the numbers).
pub fn emit(graph: &msf_model::Graph, board: &Board, plan: Option<&msf_plan::Plan>, opts: &EmitOptions) -> Result<Emitted, CodegenError> {
    package(board, firmware(graph, plan, opts.input, opts.kernels)?, opts.force)
}

/// The convenience call: fit `graph` to `board` ([`fit()`]: `asked` constraint or the board's
/// arena budget, the layer-by-layer fallback, the refusal; `opts.force` as `msf emit --force`)
/// and emit what the decision chose.
pub fn emit_fit(graph: &msf_model::Graph, board: &'static Board, asked: Option<msf_plan::Constraint>, opts: &EmitOptions) -> Result<(Fit, Emitted), FitError> {
    let f = fit(graph, board, asked, opts.force)?;
    let e = emit(graph, board, f.plan(), opts)?;
    Ok((f, e))
}

/// The project and zip of an already lowered [`Firmware`] (what [`emit`] does after lowering;
/// tests use it for hand-made firmware).
pub fn package(board: &Board, firmware: Firmware, force: bool) -> Result<Emitted, CodegenError> {
    let project = project::emit_project(board, &firmware, force)?;
    let zip = zipper::write_zip(&project)?;
    Ok(Emitted { firmware, project, zip })
}

/// Runtime source files (path relative to runtime/, bytes), embedded at build time.
pub mod runtime_files {
    include!(concat!(env!("OUT_DIR"), "/runtime_files.rs"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use project::emit_project;
    use zipper::write_zip;
    use std::io::Read;

    fn fw(name: &str, arena: u64) -> Firmware {
        Firmware {
            model_name: name.into(),
            program: (0..200u8).collect(),
            arena,
            input: vec![7; 48],
            output_len: 10,
            output_kind: OutputKind::I8,
            macs: 1_000_000,
            plan_summary: "layer-by-layer".into(),
            plan_details: String::new(),
            fused: false,
        }
    }

    #[test]
    fn every_board_renders_every_template() {
        for b in boards() {
            let p = emit_project(b, &fw("tiny", 4096), false).unwrap();
            for f in ["Cargo.toml", ".cargo/config.toml", "README.md", "src/main.rs", "src/model.rs", "src/report.rs", "data/program.bin", "data/input.bin", "msf-runtime/Cargo.toml", "msf-runtime/src/lib.rs"] {
                assert!(p.file(f).is_some(), "{}: {f} missing", b.id);
            }
            for f in &p.files {
                if let Ok(t) = std::str::from_utf8(&f.bytes) {
                    if !f.path.starts_with("msf-runtime/") {
                        assert!(!t.contains("{{"), "{}: {} has an unfilled placeholder", b.id, f.path);
                    }
                }
            }
            let cargo = std::str::from_utf8(&p.file("Cargo.toml").unwrap().bytes).unwrap();
            assert!(cargo.contains("msf-runtime = { path = \"msf-runtime\" }"));
            let config = std::str::from_utf8(&p.file(".cargo/config.toml").unwrap().bytes).unwrap();
            assert!(config.contains(&format!("target = \"{}\"", b.target)) && config.contains(&b.runner));
            assert_eq!(p.file("memory.x").is_some(), matches!(b.family, Family::CortexM | Family::Riscv), "{}", b.id);
            if let Some(lock) = p.file("Cargo.lock") {
                let lock = std::str::from_utf8(&lock.bytes).unwrap();
                assert!(lock.contains(&format!("name = \"{}\"", p.root)) && lock.contains("name = \"msf-runtime\""), "{}", b.id);
                // Sorted by package name, as cargo writes it.
                let names: Vec<&str> = lock.lines().filter_map(|l| l.strip_prefix("name = ")).collect();
                let mut sorted = names.clone();
                sorted.sort();
                assert_eq!(names, sorted, "{}", b.id);
            } else {
                assert_eq!(b.family, Family::Xtensa);
            }
            // The runtime is copied unchanged.
            for (rel, bytes) in runtime_files::RUNTIME_FILES {
                assert_eq!(&p.file(&format!("msf-runtime/{rel}")).unwrap().bytes[..], *bytes);
            }
        }
    }

    #[test]
    fn readme_reports_ram_flash_and_latency() {
        let b = board("nucleo-f767zi").unwrap();
        let p = emit_project(b, &fw("tiny", 4096), false).unwrap();
        let r = std::str::from_utf8(&p.file("README.md").unwrap().bytes).unwrap();
        // RAM = arena 4096 + statics 0 + the layer-by-layer stack reserve.
        assert!(r.contains(&format!("**{}**", 4096 + stack_bytes(b, false))), "{r}");
        // 1e6 MACs x 3 cycles / 216 MHz = 13.9 ms.
        assert!(r.contains("**13.9 ms**"), "{r}");
        assert!(r.contains("probe-rs run --chip STM32F767ZITx"));
    }

    #[test]
    fn memory_x_has_the_catalogue_origins() {
        let p = emit_project(board("nucleo-f767zi").unwrap(), &fw("m", 64), false).unwrap();
        let m = std::str::from_utf8(&p.file("memory.x").unwrap().bytes).unwrap();
        assert!(m.contains("FLASH : ORIGIN = 0x08000000, LENGTH = 2097152"), "{m}");
        assert!(m.contains("RAM : ORIGIN = 0x20000000, LENGTH = 524288"), "{m}");
        let p = emit_project(board("rp2040").unwrap(), &fw("m", 64), false).unwrap();
        let m = std::str::from_utf8(&p.file("memory.x").unwrap().bytes).unwrap();
        assert!(m.contains("BOOT2 : ORIGIN = 0x10000000, LENGTH = 0x100") && m.contains("FLASH : ORIGIN = 0x10000100"), "{m}");
    }

    #[test]
    fn too_big_is_refused_with_the_numbers_unless_forced() {
        let b = board("hifive1-revb").unwrap();
        let e = emit_project(b, &fw("big", 96 * 1024), false).unwrap_err();
        let msg = e.to_string();
        // 98304 arena + 0 statics + the stack reserve needed, 16384 available.
        assert!(msg.contains(&format!("{} B of RAM", 98304 + stack_bytes(b, false))) && msg.contains("16384 B of RAM"), "{msg}");
        let p = emit_project(b, &fw("big", 96 * 1024), true).unwrap();
        assert!(!p.budget.fits());
        let r = std::str::from_utf8(&p.file("README.md").unwrap().bytes).unwrap();
        assert!(r.contains("DOES NOT FIT"));
    }

    #[test]
    fn zip_is_deterministic_and_sanitised() {
        let b = board("mps2-an386").unwrap();
        let p = emit_project(b, &fw("../../x", 1024), false).unwrap();
        let z1 = write_zip(&p).unwrap();
        let z2 = write_zip(&emit_project(b, &fw("../../x", 1024), false).unwrap()).unwrap();
        assert_eq!(z1, z2, "same input, same bytes");
        let mut a = zip::ZipArchive::new(std::io::Cursor::new(&z1)).unwrap();
        let mut names = Vec::new();
        for i in 0..a.len() {
            let mut f = a.by_index(i).unwrap();
            let name = f.name().unwrap().to_string();
            assert!(safe_entry_path(&name), "{name}");
            assert!(name.starts_with("msf-x-mps2-an386/"), "{name}");
            assert!(f.enclosed_name().is_some(), "{name}");
            assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o644));
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).unwrap();
            let orig = p.file(name.strip_prefix("msf-x-mps2-an386/").unwrap()).unwrap();
            assert_eq!(buf, orig.bytes);
            names.push(name);
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "entries sorted");
        let cargo = std::str::from_utf8(&p.file("Cargo.toml").unwrap().bytes).unwrap();
        assert!(cargo.contains("name = \"msf-x-mps2-an386\""));
    }

    #[test]
    fn unsafe_entries_are_refused() {
        let b = board("mps2-an386").unwrap();
        let mut p = emit_project(b, &fw("m", 1024), false).unwrap();
        p.files.push(ProjectFile { path: "../escape".into(), bytes: vec![], executable: false });
        assert!(matches!(write_zip(&p), Err(CodegenError::UnsafeEntry(_))));
    }

    /// A fused plan's project: deterministic zip, README with the plan's peak RAM and stage table,
    /// model.rs through the fused executor, stack grown by the fused executor's share.
    #[test]
    fn fused_plan_project() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
        let g = msf_model::load(&std::fs::read(dir.join("tiny_cnn_int8.tflite")).unwrap(), "tiny_cnn_int8").unwrap();
        let opts = msf_plan::Options { mode: msf_plan::Mode::Full, metric: msf_plan::RamMetric::IoIncluded, constraint: msf_plan::Constraint::MinRam, pareto: false };
        let plan = msf_plan::plan(&g, &opts).unwrap();
        assert!(plan.stages.iter().any(|s| s.kind == msf_plan::StageKind::Fused));
        let b = board("mps2-an386").unwrap();
        let o = EmitOptions::default();
        let Emitted { zip: z1, project: p, firmware: fw } = emit(&g, b, Some(&plan), &o).unwrap();
        assert_eq!(z1, emit(&g, b, Some(&plan), &o).unwrap().zip);
        assert!(fw.fused);
        assert_eq!(p.budget.arena, plan.peak_ram_bytes);
        assert_eq!(p.budget.stack, stack::stack_budget(b, true).total);
        assert_eq!(p.budget.ram_needed, project::arena_static_bytes(plan.peak_ram_bytes) + p.budget.statics + p.budget.stack);
        let r = std::str::from_utf8(&p.file("README.md").unwrap().bytes).unwrap();
        assert!(r.contains(&format!("predicted peak RAM = arena = **{} B**", plan.peak_ram_bytes)), "{r}");
        assert_eq!(r.matches("| fused, H-cache").count() + r.matches("| fused, line buffers").count(), plan.stages.iter().filter(|s| s.kind == msf_plan::StageKind::Fused).count(), "{r}");
        let m = std::str::from_utf8(&p.file("src/model.rs").unwrap().bytes).unwrap();
        assert!(m.contains("FusedProgram::parse"));
        // None = layer by layer.
        let q = emit(&g, b, None, &o).unwrap();
        assert!(!q.firmware.fused);
        assert!(!std::str::from_utf8(&q.project.file("src/model.rs").unwrap().bytes).unwrap().contains("Fused"));
        // The convenience call: the fit decision's plan (least compute within the arena budget), emitted.
        let (f, e) = emit_fit(&g, b, None, &o).unwrap();
        assert_eq!(e.zip, emit(&g, b, f.plan(), &o).unwrap().zip);
        assert_eq!(e.project.budget.arena, f.arena());
        assert_eq!(e.project.budget.ram_needed, f.ram_needed());
    }

    #[test]
    fn render_reports_missing_keys() {
        let mut v = std::collections::BTreeMap::new();
        v.insert("A", "1".to_string());
        assert_eq!(project::render("t", "x{{A}}y", &v).unwrap(), "x1y");
        assert!(matches!(project::render("t", "{{B}}", &v), Err(CodegenError::Template { .. })));
    }
}
