//! `msf emit` and `msf plan --board` as a user runs them: both print the one fit decision
//! (msf_codegen::fit) and the one RAM figure (statics + arena + stack reserve), with the
//! messages pinned here (the stack figures come from msf_codegen's measured table).

use msf_codegen::{board, stack_bytes};

use std::path::PathBuf;
use std::process::Command;

fn corpus_model(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/models").join(name).to_str().unwrap().to_string()
}

fn msf(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_msf")).args(args).output().expect("msf runs");
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn scratch(name: &str) -> String {
    let d = std::env::temp_dir().join(format!("msf-cli-emit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join("p.zip").to_str().unwrap().to_string()
}

/// tiny_cnn_int8 on the 16 kB micro:bit: emit and `plan --board` print msf_codegen::fit's
/// decision and its RAM line. With the runtime's small fixed stack the least-compute fused plan
/// fits; were the fused stack reserve too big, the decision is layer by layer (both checked).
#[test]
fn tiny_cnn_on_the_microbit() {
    let tiny = corpus_model("tiny_cnn_int8.tflite");
    let out = scratch("lbl");
    let (ok, stdout, stderr) = msf(&["emit", &tiny, "--board", "microbit", "--out", &out]);
    assert!(ok, "{stderr}");
    let b = board("microbit").unwrap();
    let g = msf_model::load(&std::fs::read(&tiny).unwrap(), "tiny_cnn_int8").unwrap();
    let f = msf_codegen::fit(&g, b, None, false).unwrap();
    let (line, ram) = (f.describe(), f.ram_line());
    assert!(stdout.contains(&format!("  {line}\n")), "{stdout}");
    assert!(stdout.contains(&format!("  {ram} (board: 16384 B)\n")), "{stdout}");
    let fused = f.plan().is_some_and(msf_codegen::fit::has_fused);
    let s = msf_codegen::stack_budget(b, fused);
    assert_eq!(f.ram_needed(), f.arena().next_multiple_of(16) + stack_bytes(b, fused));
    assert!(ram.starts_with(&format!("RAM {} B = statics 0 + arena {} + stack {} (runtime {} ", f.ram_needed(), f.arena(), s.total, s.runtime)), "{ram}");
    let (ok, stdout, stderr) = msf(&["plan", &tiny, "--board", "microbit"]);
    assert!(ok, "{stderr}");
    if f.plan().is_none() {
        assert!(line.starts_with(&format!("layer by layer: arena 6144 B (every fused plan needs its arena + {} B of stack reserve; ", stack_bytes(b, true))), "{line}");
        assert_eq!(stdout, format!("tiny_cnn_int8 on microbit: {line}\nfirmware on microbit: {ram}\n"));
    } else {
        assert!(fused && line.starts_with(&format!("plan (least compute within microbit's arena budget of {} B): ", 16384 - stack_bytes(b, true))), "{line}");
        assert!(stdout.contains(&format!("\nfirmware on microbit: {ram} (board: 16384 B)\n")), "{stdout}");
    }
}

/// mbv1_w025_96 on the micro:bit: refused with the numbers, emitted with --force.
#[test]
fn refused_with_the_numbers_unless_forced() {
    let m = corpus_model("mbv1_w025_96_int8.tflite");
    let out = scratch("refused");
    let b = board("microbit").unwrap();
    let (fused, lbl) = (stack_bytes(b, true), stack_bytes(b, false));
    let budget = b.ram.saturating_sub(fused);
    let why = format!("no plan of mbv1_w025_96_int8 fits microbit (16384 B of RAM: arena budget {budget} B beside statics and {fused} B of stack for the fused executor; layer by layer needs {} B of RAM): the least-RAM plan needs an arena of 34304 B", 64512 + lbl);
    let (ok, _, stderr) = msf(&["emit", &m, "--board", "microbit", "--out", &out]);
    assert!(!ok);
    assert_eq!(stderr, format!("error: {why} (use --force to emit it anyway)\n"));
    let (ok, _, stderr) = msf(&["plan", &m, "--board", "microbit"]);
    assert!(!ok);
    assert_eq!(stderr, format!("error: {why}\n"));
    let (ok, stdout, stderr) = msf(&["emit", &m, "--board", "microbit", "--out", &out, "--force"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("  plan (least RAM, forced): 5 stages, 2 fused; peak RAM = arena 34304 B (layer by layer 64512 B); F = 1.347\n"), "{stdout}");
    assert!(stdout.contains("DOES NOT FIT"), "{stdout}");
    let (ok, _, stderr) = msf(&["emit", &m, "--board", "nucleo-f767zi", "--ram", "1000", "--out", &out]);
    assert!(!ok);
    assert_eq!(stderr, "error: no plan of mbv1_w025_96_int8 fits the --ram budget of 1000 B: the least-RAM plan needs an arena of 34304 B (use --force to emit it anyway)\n");
}

/// On a roomy board `plan --board` shows the plan `emit` emits.
#[test]
fn plan_board_shows_the_plan_emit_emits() {
    let m = corpus_model("mbv1_w025_96_int8.tflite");
    let out = scratch("fits");
    let (ok, stdout, stderr) = msf(&["emit", &m, "--board", "nucleo-f767zi", "--out", &out]);
    assert!(ok, "{stderr}");
    let budget = 512 * 1024 - stack_bytes(board("nucleo-f767zi").unwrap(), true);
    assert!(stdout.contains(&format!("  plan (least compute within nucleo-f767zi's arena budget of {budget} B): 6 stages, 3 fused; peak RAM = arena 40800 B")), "{stdout}");
    let (ok, stdout, stderr) = msf(&["plan", &m, "--board", "nucleo-f767zi", "--json"]);
    assert!(ok, "{stderr}");
    let p: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((p["peak_ram_bytes"].as_u64(), p["stages"].as_array().map(|s| s.len())), (Some(40800), Some(6)));
    assert!(p["constraint"].to_string().contains(&budget.to_string()), "{}", p["constraint"]);
    // The firmware's whole RAM beside the plan: statics + arena + the fused stack reserve.
    let f = &p["firmware"];
    let arena = p["peak_ram_bytes"].as_u64().unwrap();
    let stack = f["stack"]["total"].as_u64().unwrap();
    assert_eq!((f["board"].as_str(), f["arena"].as_u64(), f["statics"].as_u64()), (Some("nucleo-f767zi"), Some(arena), Some(0)), "{f}");
    assert_eq!(f["ram"].as_u64(), Some(arena.next_multiple_of(16) + stack), "{f}");
    assert_eq!(stack, stack_bytes(board("nucleo-f767zi").unwrap(), true));
}

/// `--layer-by-layer`: the unfused firmware with the same template, its RAM line beside the
/// fused one's, and the README's figure.
#[test]
fn layer_by_layer_firmware_for_comparison() {
    let m = corpus_model("mbv1_w025_96_int8.tflite");
    let out = scratch("lbl-flag");
    let (ok, stdout, stderr) = msf(&["emit", &m, "--board", "mps2-an386", "--layer-by-layer", "--out", &out]);
    assert!(ok, "{stderr}");
    let b = board("mps2-an386").unwrap();
    let lbl = stack_bytes(b, false);
    assert!(stdout.contains("  layer by layer (--layer-by-layer): 31 stages, arena 64512 B\n"), "{stdout}");
    assert!(stdout.contains(&format!("  RAM {} B = statics 0 + arena 64512 + stack {lbl} (runtime ", 64512 + lbl)), "{stdout}");
    let zip = std::fs::read(&out).unwrap();
    let (ok, fused_out, stderr) = msf(&["emit", &m, "--board", "mps2-an386", "--max-overhead", "1.3", "--out", &out]);
    assert!(ok, "{stderr}");
    assert!(fused_out.contains(&format!("+ stack {} (runtime ", stack_bytes(b, true))), "{fused_out}");
    assert_ne!(zip, std::fs::read(&out).unwrap());
    let (ok, _, stderr) = msf(&["emit", &m, "--board", "mps2-an386", "--layer-by-layer", "--max-overhead", "1.3", "--out", &out]);
    assert!(!ok && stderr.contains("cannot be used with"), "{stderr}");
}
