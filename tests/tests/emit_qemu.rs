//! Emitted projects built for their targets and run under QEMU: the firmware's printed output
//! must equal the reference interpreter's NAME.output.bin, the exit status must be 0, and the
//! ELF's RAM (.data + .bss) must equal the planned arena plus the documented statics overhead
//! (msf_codegen::project::statics_overhead: 0 B on Cortex-M and RISC-V; the stack reserve is
//! outside .data/.bss, kept free by a linker ASSERT).
//!
//! Needs QEMU (.ci/install-qemu.sh) and crates.io for the projects' dependencies. Under CI=true a
//! missing QEMU fails these tests; locally they print SKIPPED.

mod emit_common;

use emit_common::*;
use msf_codegen::project::{arena_static_bytes, statics_overhead};
use msf_codegen::{arena_budget, board, firmware, package, CodegenError, Emitted, Firmware, Kernels};
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
    run_firmware(model, board_id, &fw, &expected, "");
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
    run_firmware(model, board_id, &fw, &expected, "-fused");
}

fn run_firmware(model: &str, board_id: &str, fw: &Firmware, expected: &[u8], tag: &str) {
    let b = board(board_id).unwrap();
    let q = b.qemu.as_ref().expect("an emulated board");
    let Some(qemu_bin) = qemu(&q.binary) else { return };
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
    let used: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("stack: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `stack: N bytes used` line in\n{stdout}"));
    let reserve = project.budget.stack;
    assert!(used > 0 && used <= reserve, "{model} on {board_id}{tag}: stack used {used} B, reserve {reserve} B");
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
        assert!(fw.arena + b.stack_reserve > b.ram, "{model}: arena {} would fit; run it instead", fw.arena);
        match package(b, fw.clone(), false) {
            Err(CodegenError::DoesNotFit { need_ram, ram, arena, .. }) => {
                assert_eq!(ram, 16384);
                assert_eq!(arena, fw.arena);
                assert_eq!(need_ram, fw.arena + b.stack_reserve);
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
    run_firmware("paper_mcunet_vww1_80_int8", "mps2-an386", &fw, &expected, "-board");
}

/// 16 kB micro:bit: the fused executor's stack patch (msf_runtime::fused::PATCH_BYTES) plus the board's stack
/// reserve exceed its RAM, so no plan fits and the emitter says so with the numbers.
#[test]
fn microbit_refuses_fused_plans_with_the_numbers() {
    let b = board("microbit").unwrap();
    assert_eq!(arena_budget(b), 0, "RAM {} B, stack {} B", b.ram, msf_codegen::stack_bytes(b, true));
    let (g, input, _, kernels) = load("paper_mcunet_vww1_80_int8");
    let p = full_plan(&g, Constraint::MinRam);
    let fw = firmware(&g, Some(&p), Some(&input), kernels).unwrap();
    match package(b, fw, false) {
        Err(CodegenError::DoesNotFit { need_ram, ram, arena, stack, .. }) => {
            assert_eq!((ram, arena), (16384, p.peak_ram_bytes));
            assert!(stack == msf_codegen::stack_bytes(b, true) && stack > b.stack_reserve, "{stack}");
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
