//! Every catalogue board but the Xtensa one: the emitted tiny_cnn_int8 project builds with
//! `cargo build --release` for its target (crates.io is needed for the projects' dependencies;
//! all builds share one CARGO_TARGET_DIR, see emit_common). The Xtensa project is generated and
//! its structure checked (its toolchain cannot be fetched here). Plus: zips of real models are
//! deterministic and contained, and the stack reserve is enforced at link time.

mod emit_common;

use emit_common::*;
use msf_codegen::project::statics_overhead;
use msf_codegen::{board, emit, firmware, package, EmitOptions, Emitted, Family, Kernels};

fn tiny() -> (msf_model::Graph, Vec<u8>) {
    let dir = msf_tests::models_dir();
    let g = msf_model::load(&std::fs::read(dir.join("tiny_cnn_int8.tflite")).unwrap(), "tiny_cnn_int8").unwrap();
    (g, std::fs::read(dir.join("tiny_cnn_int8.input.bin")).unwrap())
}

fn builds(board_id: &str) {
    let b = board(board_id).unwrap();
    let (g, input) = tiny();
    let Emitted { firmware: fw, project, zip } = emit(&g, b, None, &EmitOptions { input: Some(&input), ..Default::default() }).unwrap();
    let dir = unpack(&zip, &scratch(&format!("tiny-{board_id}")));
    let elf = cargo_build(&dir, &b.target, &project.root);
    let (ram, secs) = elf_ram(&elf);
    match b.family {
        Family::CortexM | Family::Riscv => {
            assert_eq!(ram, fw.arena + statics_overhead(b.family), "{board_id}: .data+.bss; sections {secs:?}")
        }
        // esp-hal's statics are an allowance, not a measured constant.
        _ => assert!(ram >= fw.arena && ram <= fw.arena + statics_overhead(b.family), "{board_id}: .data+.bss {ram}; {secs:?}"),
    }
    let text: u64 = secs.iter().filter(|(n, _)| n == ".text").map(|(_, s)| s).sum();
    assert!(text > 0 && text <= project.budget.code, "{board_id}: .text {text} B over the code allowance {}", project.budget.code);
}

macro_rules! board_builds {
    ($($name:ident => $id:literal,)*) => {$(
        #[test]
        fn $name() {
            builds($id);
        }
    )*};
}

board_builds! {
    nucleo_f767zi_builds => "nucleo-f767zi",
    stm32f746g_disco_builds => "stm32f746g-disco",
    nucleo_f412zg_builds => "nucleo-f412zg",
    nrf52840_dk_builds => "nrf52840-dk",
    rp2040_builds => "rp2040",
    rp2350_builds => "rp2350",
    esp32c3_builds => "esp32c3",
    hifive1_revb_builds => "hifive1-revb",
    mps2_an386_builds => "mps2-an386",
    mps2_an500_builds => "mps2-an500",
    mps2_an505_builds => "mps2-an505",
    microbit_builds => "microbit",
    riscv32_virt_builds => "riscv32-virt",
}

#[test]
fn every_board_but_xtensa_is_covered_above() {
    let covered = [
        "nucleo-f767zi", "stm32f746g-disco", "nucleo-f412zg", "nrf52840-dk", "rp2040", "rp2350", "esp32c3", "hifive1-revb",
        "mps2-an386", "mps2-an500", "mps2-an505", "microbit", "riscv32-virt",
    ];
    for b in msf_codegen::boards() {
        assert_eq!(covered.contains(&b.id.as_str()), b.buildable_here(), "{}", b.id);
    }
}

#[test]
fn xtensa_project_is_generated_with_its_structure() {
    let b = board("esp32s3").unwrap();
    let (g, input) = tiny();
    let Emitted { firmware: fw, project: p, .. } = emit(&g, b, None, &EmitOptions { input: Some(&input), ..Default::default() }).unwrap();
    let text = |f: &str| String::from_utf8(p.file(f).unwrap_or_else(|| panic!("{f} missing")).bytes.clone()).unwrap();
    let cargo = text("Cargo.toml");
    assert!(cargo.contains("esp-hal = { version = \"=1.2.2\", features = [\"esp32s3\"] }"), "{cargo}");
    assert!(cargo.contains("msf-runtime = { path = \"msf-runtime\" }"));
    let config = text(".cargo/config.toml");
    assert!(config.contains("target = \"xtensa-esp32s3-none-elf\"") && config.contains("build-std = [\"core\"]") && config.contains("espflash"), "{config}");
    assert!(text("rust-toolchain.toml").contains("channel = \"esp\""));
    let main = text("src/main.rs");
    assert!(main.contains("#[esp_hal::main]") && main.contains("rsr.ccount") && main.contains("mod model;"));
    assert!(text("src/model.rs").contains(&format!("ARENA_BYTES: usize = {}", fw.arena)));
    assert!(text("README.md").contains("espup install"));
    assert_eq!(p.file("data/program.bin").unwrap().bytes, fw.program);
    assert_eq!(p.file("data/input.bin").unwrap().bytes, input);
    assert!(p.file("memory.x").is_none(), "esp-hal brings its own linker script");
}

#[test]
fn real_model_zip_is_deterministic_and_cannot_escape() {
    let (mut g, input) = tiny();
    g.name = "../../x".into();
    let opts = EmitOptions { input: Some(&input), ..Default::default() };
    let Emitted { zip: z1, project: p, .. } = emit(&g, board("mps2-an386").unwrap(), None, &opts).unwrap();
    let z2 = emit(&g, board("mps2-an386").unwrap(), None, &opts).unwrap().zip;
    assert_eq!(z1, z2, "same model, same board: same bytes");
    assert_eq!(p.root, "msf-x-mps2-an386");
    let outer = scratch("escape-check");
    let inner = outer.join("inside");
    std::fs::create_dir_all(&inner).unwrap();
    let root = unpack(&z1, &inner);
    assert_eq!(root, inner.join("msf-x-mps2-an386"));
    // Nothing landed beside `inside/`.
    let beside: Vec<_> = std::fs::read_dir(&outer).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(beside, vec![std::ffi::OsString::from("inside")]);
}

/// A forced project whose arena leaves less than the stack reserve free must not link.
#[test]
fn stack_reserve_is_enforced_at_link_time() {
    let b = board("microbit").unwrap();
    let (g, input) = tiny();
    let mut fw = firmware(&g, None, Some(&input), Kernels::Reference).unwrap();
    fw.arena = b.ram - msf_codegen::stack_bytes(b, false) + 16;
    assert!(package(b, fw.clone(), false).is_err(), "refused without --force");
    let zip = package(b, fw, true).unwrap().zip;
    let dir = unpack(&zip, &scratch("stack-reserve"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["build", "--release", "--quiet"])
        .current_dir(&dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env("CARGO_TARGET_DIR", emit_target_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "linked although the stack reserve is gone");
    assert!(stderr.contains("msf: arena + statics leave less than the stack reserve"), "{stderr}");
}
