//! Emitted projects built for their targets and run under QEMU: the firmware's printed output
//! must equal the reference interpreter's NAME.output.bin, the exit status must be 0, and the
//! ELF's RAM (.data + .bss) must equal the planned arena plus the documented statics overhead
//! (msf_codegen::project::statics_overhead: 0 B on Cortex-M and RISC-V; the stack reserve is
//! outside .data/.bss, kept free by a linker ASSERT).
//!
//! The RAM figure codegen states (statics + arena + stack reserve, `Budget::ram_needed`) must
//! cover the measured `.data + .bss + stack high-water`, and exceed it by no more than
//! msf_codegen::INTERRUPT_MARGIN + the reserve's 16-byte rounding (< 16 B) + the spread the stack
//! table records for that target and mode (the most minus the least any tested plan used). Every
//! run prints a `MEASURED model=.. board=.. plan=.. arena=.. statics=.. stack_used=.. ..
//! figure=..` line (`--nocapture`): the figures of crates/codegen/src/stack.rs come from these.
//!
//! Needs QEMU (.ci/install-qemu.sh) and crates.io for the projects' dependencies. Under CI=true a
//! missing QEMU fails these tests; locally they print SKIPPED.

mod emit_common;

use emit_common::*;
use msf_codegen::project::{arena_static_bytes, statics_overhead};
use msf_codegen::stack::{runtime_stack, target_stack, STACK_ALIGN};
use msf_codegen::{arena_budget, board, firmware, package, stack_bytes, CodegenError, Emitted, Firmware, Kernels, INTERRUPT_MARGIN};
use msf_plan::{Constraint, Mode, Options, RamMetric, StageKind};
use std::process::Command;
use std::time::Duration;

fn load(model: &str) -> (msf_model::Graph, Vec<u8>, Vec<u8>, Kernels) {
    let dir = msf_tests::models_dir();
    let bytes = std::fs::read(dir.join(format!("{model}.tflite"))).unwrap();
    let g = msf_model::load(&bytes, model).unwrap();
    let input = std::fs::read(dir.join(format!("{model}.input.bin"))).unwrap();
    let expected = std::fs::read(dir.join(format!("{model}.output.bin"))).unwrap();
    // Two corpus models' references come from LiteRT's optimized kernels (msf_tests::kernels);
    // the firmware then uses that arithmetic to be bit-exact.
    (g, input, expected, msf_tests::kernels(model))
}

/// Emit `model` for `board_id` layer by layer, build, check the ELF's RAM, run under QEMU,
/// compare the output.
fn build_and_run(model: &str, board_id: &str) {
    let (g, input, expected, kernels) = load(model);
    let fw = firmware(&g, None, Some(&input), kernels).unwrap();
    run_firmware(model, board_id, &fw, &expected, "", "layer-by-layer");
}

/// The full-mode plan of `model` under `c` (I/O included: the arena is the whole RAM).
fn full_plan(g: &msf_model::Graph, c: Constraint) -> msf_plan::Plan {
    msf_plan::plan(g, &Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: c, pareto: false }).unwrap()
}

/// Emit `model` under the plan `c` gives (it must fuse), run it under QEMU, compare with the
/// golden output; the ELF's .data + .bss must be the plan's arena (`peak_ram_bytes`) + statics.
fn build_and_run_fused(model: &str, board_id: &str, c: Constraint) {
    let (g, input, expected, kernels) = load(model);
    let p = full_plan(&g, c);
    let fused = p.stages.iter().filter(|s| s.kind == StageKind::Fused).count();
    assert!(fused > 0, "{model}: the plan under {c:?} has no fused stage");
    let fw = firmware(&g, Some(&p), Some(&input), kernels).unwrap();
    assert!(fw.fused);
    assert_eq!(fw.arena, p.peak_ram_bytes, "{model}: the firmware's arena is the plan's peak");
    eprintln!(
        "{model} on {board_id}: plan {c:?}: {} stages ({fused} fused), arena {} B (layer by layer {} B), F = {:.3}",
        p.stages.len(),
        p.peak_ram_bytes,
        p.vanilla_peak_ram_bytes,
        p.overhead
    );
    run_firmware(model, board_id, &fw, &expected, "-fused", &plan_label(c, p.overhead));
}

fn plan_label(c: Constraint, overhead: f64) -> String {
    match c {
        Constraint::MinRam => format!("fused-least-RAM(F={overhead:.3})"),
        Constraint::MaxOverhead { max_overhead } => format!("fused-F<={max_overhead}(F={overhead:.3})"),
        Constraint::RamBudget { ram_bytes } => format!("fused-within-{ram_bytes}B(F={overhead:.3})"),
        Constraint::MinMacs => format!("fused-least-MACs(F={overhead:.3})"),
    }
}

fn run_firmware(model: &str, board_id: &str, fw: &Firmware, expected: &[u8], tag: &str, plan: &str) -> Stack {
    let b = board(board_id).unwrap();
    let q = b.qemu.as_ref().expect("an emulated board");
    let Some(qemu_bin) = qemu(&q.binary) else { return Stack { used: 0, main: 0, runtime: 0, report: 0, reserve: 0, figure: 0 } };
    let Emitted { project, zip, .. } = package(b, fw.clone(), false).unwrap();
    let readme = String::from_utf8(project.file("README.md").unwrap().bytes.clone()).unwrap();
    assert!(readme.contains(&format!("**{}**", project.budget.ram_needed)), "README states the peak RAM:\n{readme}");
    let dir = unpack(&zip, &scratch(&format!("{model}-{board_id}{tag}")));
    let elf = cargo_build(&dir, &b.target, &project.root);

    // RAM: .data + .bss == arena + the fixed statics overhead, to the byte.
    let (ram, secs) = elf_ram(&elf);
    // (The arena static is 16-aligned: a plan's arena_size rounds up to a multiple of 16.)
    assert_eq!(ram, arena_static_bytes(fw.arena) + statics_overhead(b.family), "{model} on {board_id}: .data+.bss; sections {secs:?}");
    assert!(ram + project.budget.stack <= b.ram);
    let text: u64 = secs.iter().filter(|(n, _)| n == ".text").map(|(_, s)| s).sum();
    eprintln!("{model} on {board_id}{tag}: ELF .data+.bss = {ram} B; arena {} B, statics {} B; .text {text} B", fw.arena, statics_overhead(b.family));
    assert!(text > 0 && text <= project.budget.code, "{model} on {board_id}{tag}: .text {text} B over the code allowance {}", project.budget.code);

    // Run with the project's own runner line (first word: the qemu binary found here).
    let mut words = b.runner.split_whitespace();
    assert!(words.next().unwrap().starts_with("qemu-system-"));
    let mut cmd = Command::new(&qemu_bin);
    cmd.args(words).arg(&elf);
    let t0 = std::time::Instant::now();
    let (code, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(300));
    eprintln!("{model} on {board_id}: QEMU ran {:.1} s\n{}", t0.elapsed().as_secs_f64(), stdout.lines().filter(|l| !l.starts_with("output:")).collect::<Vec<_>>().join("\n"));
    assert_eq!(code, 0, "{model} on {board_id}: exit status {code}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let got = parse_output(&stdout);
    let want: Vec<i64> = expected.iter().map(|&v| v as i8 as i64).collect();
    assert_eq!(got, want, "{model} on {board_id}: output differs from {model}.output.bin");
    let checksum = format!("checksum: 0x{:08x}", fnv1a32(&expected));
    assert!(stdout.contains(&checksum), "{model} on {board_id}: expected `{checksum}` in\n{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("cycles: ")), "{stdout}");
    // The measured stack high-water mark stays within the reserve the linker script keeps free.
    let st = Stack { figure: project.budget.ram_needed, ..parse_stack(&stdout) };
    let reserve = project.budget.stack;
    assert_eq!(st.reserve, reserve, "{model} on {board_id}{tag}: the firmware's reserve");
    let measured = ram + st.used;
    eprintln!(
        "MEASURED model={model} board={board_id} target={} plan={plan} mode={} arena={} statics={} stack_used={} main={} runtime={} report={} reserve={reserve} measured_ram={measured} figure={}",
        b.target,
        if fw.fused { "fused" } else { "layer" },
        fw.arena,
        ram - arena_static_bytes(fw.arena),
        st.used,
        st.main,
        st.runtime,
        st.report,
        project.budget.ram_needed
    );
    // MSF_STACK_MEASURE=1: print the measurements only (to refill crates/codegen/src/stack.rs
    // after a runtime change); the output is still checked above.
    if std::env::var_os("MSF_STACK_MEASURE").is_some() {
        return st;
    }
    assert!(st.used > 0 && st.used <= reserve, "{model} on {board_id}{tag}: stack used {} B, reserve {reserve} B", st.used);
    // The figure covers the measurement, and the table covers each part of it.
    let figure = project.budget.ram_needed;
    let what = format!("{model} on {board_id}, {plan}: measured {measured} B (.data+.bss {ram} + stack {}), figure {figure} B", st.used);
    assert_eq!(figure, arena_static_bytes(fw.arena) + statics_overhead(b.family) + reserve, "{what}");
    assert!(measured <= figure, "{what}");
    let t = target_stack(b);
    let (rt, rt_measured) = runtime_stack(b, fw.fused);
    assert!(st.main <= t.main && st.report <= t.report && st.runtime <= rt.most, "{what}: {st:?} beyond the stack table's {t:?}");
    // ...and is not much more than it: the interrupt margin, the rounding, the table's spread.
    if rt_measured {
        assert!(st.runtime >= rt.least, "{what}: runtime {} B below the table's least {} B: update crates/codegen/src/stack.rs", st.runtime, rt.least);
        let slack = figure - measured;
        let allowed = INTERRUPT_MARGIN + (STACK_ALIGN - 1) + (rt.most - rt.least) + (t.main - st.main);
        assert!(slack <= allowed, "{what}: exceeds it by {slack} B > margin {INTERRUPT_MARGIN} + rounding + spread {} B", rt.most - rt.least);
        eprintln!("  figure - measured = {slack} B (interrupt margin {INTERRUPT_MARGIN} B, table spread {} B)", rt.most - rt.least);
    }
    st
}

/// The firmware's `stack: N bytes used (main M, runtime R, report P; reserve S)` line.
#[derive(Debug, Clone, Copy)]
struct Stack {
    used: u64,
    main: u64,
    runtime: u64,
    report: u64,
    reserve: u64,
    /// The RAM figure codegen stated (set by run_firmware; 0 from the line alone).
    figure: u64,
}

fn parse_stack(stdout: &str) -> Stack {
    let line = stdout.lines().find_map(|l| l.strip_prefix("stack: ")).unwrap_or_else(|| panic!("no `stack: N bytes used` line in\n{stdout}"));
    let nums: Vec<u64> = line.split(|c: char| !c.is_ascii_digit()).filter(|w| !w.is_empty()).map(|w| w.parse().unwrap()).collect();
    let [used, main, runtime, report, reserve] = nums[..] else { panic!("bad stack line `{line}`") };
    assert_eq!(used, (main + runtime).max(report), "`{line}`");
    Stack { used, main, runtime, report, reserve, figure: 0 }
}

#[test]
fn tiny_cnn_int8_on_mps2_an386() {
    build_and_run("tiny_cnn_int8", "mps2-an386");
}

#[test]
fn tiny_cnn_int8_on_microbit() {
    build_and_run("tiny_cnn_int8", "microbit");
}

#[test]
fn tiny_cnn_int8_on_riscv32_virt() {
    build_and_run("tiny_cnn_int8", "riscv32-virt");
}

// The other emulated Cortex-M machines too (M7, and M33 booting Secure from 0x1000_0000).
#[test]
fn tiny_cnn_int8_on_mps2_an500() {
    build_and_run("tiny_cnn_int8", "mps2-an500");
}

#[test]
fn tiny_cnn_int8_on_mps2_an505() {
    build_and_run("tiny_cnn_int8", "mps2-an505");
}

#[test]
fn mbv1_w025_96_int8_on_mps2_an386() {
    build_and_run("mbv1_w025_96_int8", "mps2-an386");
}

#[test]
fn mbv1_w025_96_int8_on_riscv32_virt() {
    build_and_run("mbv1_w025_96_int8", "riscv32-virt");
}

#[test]
fn paper_mcunet_vww1_80_int8_on_mps2_an386() {
    build_and_run("paper_mcunet_vww1_80_int8", "mps2-an386");
}

#[test]
fn paper_mcunet_vww1_80_int8_on_riscv32_virt() {
    build_and_run("paper_mcunet_vww1_80_int8", "riscv32-virt");
}

/// The micro:bit has 16 kB of RAM and 256 kB of flash. mbv1_w025_96 (64.5 kB arena, 245 kB of
/// weights) and paper_mcunet_vww1_80 (96 kB arena layer by layer) do not fit it layer by layer:
/// the emitter must refuse them with the numbers (fused plans: see
/// microbit_refuses_fused_plans_with_the_numbers).
#[test]
fn microbit_refuses_what_does_not_fit_layer_by_layer() {
    let b = board("microbit").unwrap();
    for model in ["mbv1_w025_96_int8", "paper_mcunet_vww1_80_int8"] {
        let (g, input, _, kernels) = load(model);
        let fw = firmware(&g, None, Some(&input), kernels).unwrap();
        assert!(fw.arena + stack_bytes(b, false) > b.ram, "{model}: arena {} would fit; run it instead", fw.arena);
        match package(b, fw.clone(), false) {
            Err(CodegenError::DoesNotFit { need_ram, ram, arena, .. }) => {
                assert_eq!(ram, 16384);
                assert_eq!(arena, fw.arena);
                assert_eq!(need_ram, arena_static_bytes(fw.arena) + stack_bytes(b, false));
                eprintln!("{model} on microbit: refused, needs {need_ram} B of RAM, has {ram} B");
            }
            other => panic!("{model}: expected DoesNotFit, got {other:?}"),
        }
    }
}

// Fused plans (msf_exec::compile_plan, run by msf_runtime::fused on the MCU). The least-RAM plan
// (`--max-overhead inf`) fuses the most, so it exercises the most of the fused executor.

#[test]
fn tiny_cnn_int8_fused_on_mps2_an386() {
    build_and_run_fused("tiny_cnn_int8", "mps2-an386", Constraint::MinRam);
}

#[test]
fn mbv1_w025_96_int8_fused_on_mps2_an386() {
    build_and_run_fused("mbv1_w025_96_int8", "mps2-an386", Constraint::MinRam);
}

#[test]
fn paper_mcunet_vww1_80_int8_fused_on_riscv32_virt() {
    build_and_run_fused("paper_mcunet_vww1_80_int8", "riscv32-virt", Constraint::MinRam);
}

/// What `msf emit` plans when no budget is given (msf_codegen::fit): least compute within the board's arena
/// budget (RAM - statics - stack reserve - the fused executor's stack patch).
#[test]
fn paper_mcunet_vww1_80_int8_board_budget_on_mps2_an386() {
    let b = board("mps2-an386").unwrap();
    let (g, input, expected, kernels) = load("paper_mcunet_vww1_80_int8");
    let f = msf_codegen::fit(&g, b, None, false).unwrap();
    let msf_codegen::Choice::Plan(p) = f.choice else { panic!("{:?}", f.choice) };
    assert_eq!(p, full_plan(&g, Constraint::RamBudget { ram_bytes: arena_budget(b) }));
    assert!(p.peak_ram_bytes <= arena_budget(b));
    let fw = firmware(&g, Some(&p), Some(&input), kernels).unwrap();
    run_firmware("paper_mcunet_vww1_80_int8", "mps2-an386", &fw, &expected, "-board", &format!("fused-board-budget(F={:.3})", p.overhead));
}

/// 16 kB micro:bit: paper_mcunet_vww1_80's least-RAM arena (26 kB) alone exceeds its RAM, so
/// the emitter refuses it with the numbers (arena + the fused stack reserve).
#[test]
fn microbit_refuses_fused_plans_with_the_numbers() {
    let b = board("microbit").unwrap();
    let (g, input, _, kernels) = load("paper_mcunet_vww1_80_int8");
    let p = full_plan(&g, Constraint::MinRam);
    assert!(arena_budget(b) < p.peak_ram_bytes, "RAM {} B, stack {} B", b.ram, stack_bytes(b, true));
    let fw = firmware(&g, Some(&p), Some(&input), kernels).unwrap();
    match package(b, fw, false) {
        Err(CodegenError::DoesNotFit { need_ram, ram, arena, stack, .. }) => {
            assert_eq!((ram, arena), (16384, p.peak_ram_bytes));
            assert!(stack == stack_bytes(b, true) && stack > stack_bytes(b, false), "{stack}");
            assert_eq!(need_ram, arena_static_bytes(arena) + stack);
            eprintln!("paper_mcunet_vww1_80_int8 fused on microbit: refused, needs {need_ram} B (arena {arena} + stack {stack}), has {ram} B");
        }
        other => panic!("expected DoesNotFit, got {other:?}"),
    }
}

#[test]
fn tiny_cnn_int8_fused_on_riscv32_virt() {
    build_and_run_fused("tiny_cnn_int8", "riscv32-virt", Constraint::MinRam);
}

#[test]
fn mbv1_w025_96_int8_fused_on_riscv32_virt() {
    build_and_run_fused("mbv1_w025_96_int8", "riscv32-virt", Constraint::MaxOverhead { max_overhead: 1.3 });
}

// The other Cortex-M cores fused too (M7, M33): the stack table's fused figures per target.
#[test]
fn tiny_cnn_int8_fused_on_mps2_an500() {
    build_and_run_fused("tiny_cnn_int8", "mps2-an500", Constraint::MinRam);
}

#[test]
fn tiny_cnn_int8_fused_on_mps2_an505() {
    build_and_run_fused("tiny_cnn_int8", "mps2-an505", Constraint::MinRam);
}

#[test]
fn mbv1_w025_96_int8_fused_on_mps2_an500() {
    build_and_run_fused("mbv1_w025_96_int8", "mps2-an500", Constraint::MinRam);
}

#[test]
fn mbv1_w025_96_int8_fused_on_mps2_an505() {
    build_and_run_fused("mbv1_w025_96_int8", "mps2-an505", Constraint::MinRam);
}

/// tiny_cnn fused on the 16 kB micro:bit (Cortex-M0): its least-RAM plan runs there.
#[test]
fn tiny_cnn_int8_fused_on_microbit() {
    assert!(fused_on_microbit_or_refused("tiny_cnn_int8"), "tiny_cnn_int8 fused must fit the micro:bit");
}

/// ResNet-8 (MLPerf Tiny's CIFAR model) fused on the micro:bit: runs if the least-RAM plan's
/// arena + the fused stack reserve fit 16 kB; otherwise refused with the numbers (printed).
#[test]
fn resnet8_cifar_int8_fused_on_microbit() {
    fused_on_microbit_or_refused("resnet8_cifar_int8");
}

/// The least-RAM fused plan of `model` on the micro:bit: built and run under QEMU when the
/// firmware's RAM (arena + the fused stack reserve) fits (true), else the emitter must refuse it
/// with the numbers (false).
fn fused_on_microbit_or_refused(model: &str) -> bool {
    let b = board("microbit").unwrap();
    let (g, input, _, kernels) = load(model);
    let p = full_plan(&g, Constraint::MinRam);
    let fw = firmware(&g, Some(&p), Some(&input), kernels).unwrap();
    let need = arena_static_bytes(p.peak_ram_bytes) + stack_bytes(b, true);
    if need <= b.ram {
        build_and_run_fused(model, "microbit", Constraint::MinRam);
        return true;
    }
    match package(b, fw, false) {
        Err(CodegenError::DoesNotFit { need_ram, .. }) => {
            assert_eq!(need_ram, need);
            eprintln!("{model} fused on microbit: refused, needs {need_ram} B (arena {} + fused stack reserve {}), has {} B", p.peak_ram_bytes, stack_bytes(b, true), b.ram);
        }
        other => panic!("expected DoesNotFit, got {other:?}"),
    }
    false
}

/// The README's firmware RAM table: every int8 TFLite corpus model (all but `*_f32`) on mps2-an386, layer by layer
/// and fused at F <= 1.3, built and run under QEMU (every output checked), one `RAM-TABLE` row
/// each. Slow (two firmware builds per model), so opt-in:
/// `cargo test --release -p msf-tests --test emit_qemu -- --ignored --nocapture ram_table`.
#[test]
#[ignore]
fn ram_table_on_mps2_an386() {
    let board_id = "mps2-an386";
    let mut models: Vec<String> = std::fs::read_dir(msf_tests::models_dir())
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok()?.strip_suffix(".tflite").map(str::to_string))
        // int8 models (the outputs are compared as int8): every TFLite model but the float ones.
        .filter(|m| !m.ends_with("_f32"))
        .collect();
    models.sort();
    // MSF_RAM_TABLE_MODELS=a,b: only these.
    if let Ok(only) = std::env::var("MSF_RAM_TABLE_MODELS") {
        models.retain(|m| only.split(',').any(|o| o == m));
    }
    let mut rows = Vec::new();
    for model in &models {
        let (g, input, expected, kernels) = load(model);
        let lbl = firmware(&g, None, Some(&input), kernels).unwrap();
        let s = run_firmware(model, board_id, &lbl, &expected, "", "layer-by-layer");
        let lbl_row = format!("{} | {} | {} | {}", lbl.arena, s.used, arena_static_bytes(lbl.arena) + s.used, s.figure);
        let p = full_plan(&g, Constraint::MaxOverhead { max_overhead: 1.3 });
        let fw = firmware(&g, Some(&p), Some(&input), kernels).unwrap();
        let fused = if fw.fused {
            let s = run_firmware(model, board_id, &fw, &expected, "-fused", &plan_label(Constraint::MaxOverhead { max_overhead: 1.3 }, p.overhead));
            format!("{} | {} | {} | {} | {:.3}", fw.arena, s.used, arena_static_bytes(fw.arena) + s.used, s.figure, p.overhead)
        } else {
            "no fused stage at F <= 1.3 | | | |".to_string()
        };
        rows.push(format!("RAM-TABLE | {model} | {lbl_row} | {fused} |"));
    }
    eprintln!("RAM-TABLE | model | layer by layer: arena | stack | RAM measured | RAM stated | fused F <= 1.3: arena | stack | RAM measured | RAM stated | F |");
    for r in rows {
        eprintln!("{r}");
    }
}

// The deepest fused stack of the corpus today (mbv2_w035_144 at F <= 1.3, see the README's
// table), on every target, so each target's figure covers it.
#[test]
fn mbv2_w035_144_int8_fused_on_mps2_an386() {
    build_and_run_fused("mbv2_w035_144_int8", "mps2-an386", Constraint::MaxOverhead { max_overhead: 1.3 });
}

#[test]
fn mbv2_w035_144_int8_fused_on_mps2_an500() {
    build_and_run_fused("mbv2_w035_144_int8", "mps2-an500", Constraint::MaxOverhead { max_overhead: 1.3 });
}

#[test]
fn mbv2_w035_144_int8_fused_on_mps2_an505() {
    build_and_run_fused("mbv2_w035_144_int8", "mps2-an505", Constraint::MaxOverhead { max_overhead: 1.3 });
}

#[test]
fn mbv2_w035_144_int8_fused_on_riscv32_virt() {
    build_and_run_fused("mbv2_w035_144_int8", "riscv32-virt", Constraint::MaxOverhead { max_overhead: 1.3 });
}
