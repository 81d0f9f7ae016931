//! The page and the command line give the same answer to "does this model fit this board, and
//! with which plan": for every catalogue board x every corpus model, the page's session (the
//! code path the wasm build runs, natively) reports the decision `msf emit` / `msf plan --board`
//! make (msf_codegen::fit; here `fit_with` on one planner per model, which is what `fit` does
//! after building the planner), and when that is a plan, the page shows that plan.

use msf_codegen::{fit_with, Choice, FitError};
use msf_web::session::{Options, Session};

#[test]
fn page_and_cli_agree_for_every_board_and_corpus_model() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let (mut plans, mut lbl, mut refused) = (0, 0, 0);
    for n in names.iter().filter(|n| n.ends_with(".tflite") || n.ends_with(".onnx")) {
        let bytes = std::fs::read(dir.join(n)).unwrap();
        let stem = n.rsplit_once('.').unwrap().0;
        let mut page = Session::load(&bytes, stem).unwrap();
        let graph = msf_model::load(&bytes, stem).unwrap();
        let planner = msf_plan::Planner::new(&graph, msf_plan::Mode::Full);
        for b in msf_codegen::boards() {
            let r = page.plan(Options { board: Some(b.id.clone()), ..Default::default() }, &mut |_, _| {}).unwrap();
            let f = r.fit.unwrap_or_else(|| panic!("{n} on {}: no fit decision on the page", b.id));
            let what = format!("{n} on {}", b.id);
            assert_eq!((f.board.as_str(), f.budget), (b.id.as_str(), msf_codegen::arena_budget(b)), "{what}");
            assert_eq!(r.plan.budget, Some(f.budget), "{what}: the page's budget is the firmware's arena budget");
            let cli = match &planner {
                Ok(p) => fit_with(p, &graph, b, None, false),
                Err(e) => Err(FitError::Plan(e.clone())),
            };
            match cli {
                Ok(c) => {
                    assert_eq!((f.arena, f.ram_needed, f.fits, f.fell_back), (c.arena(), c.ram_needed(), c.fits_ram(), c.fell_back()), "{what}");
                    assert_eq!(f.says, c.describe(), "{what}");
                    // One RAM figure: statics + arena + stack reserve, the same parts as msf emit's.
                    assert_eq!((f.statics, f.stack, f.ram_line.as_str()), (c.statics(), c.stack(), c.ram_line().as_str()), "{what}");
                    assert_eq!(f.ram_needed, f.statics + msf_codegen::project::arena_static_bytes(f.arena) + f.stack, "{what}");
                    match &c.choice {
                        Choice::Plan(p) => {
                            plans += 1;
                            assert_eq!(f.choice, "plan", "{what}");
                            assert_eq!(f.macs, Some(p.macs), "{what}");
                            // The page shows the plan the firmware runs, and says it fits.
                            assert_eq!((r.plan.peak_incl_io, r.plan.macs, r.plan.fits), (p.peak_ram_bytes, p.macs, c.fits_ram()), "{what}");
                            let line = format!("firmware on {}: {} (board: {} B)", b.id, c.ram_line(), b.ram);
                            assert!(r.notes.contains(&line), "{what}: the page shows the firmware's RAM {line:?}: {:?}", r.notes);
                        }
                        Choice::LayerByLayer { .. } => {
                            lbl += 1;
                            assert_eq!(f.choice, "layer-by-layer", "{what}");
                            assert!(r.notes.iter().any(|x| x.contains(&c.describe())), "{what}: {:?}", r.notes);
                        }
                        Choice::Forced { .. } => unreachable!("not forced"),
                    }
                }
                Err(FitError::Refused(x)) => {
                    refused += 1;
                    assert_eq!((f.choice.as_str(), f.says.as_str(), f.fits), ("refused", x.reason().as_str(), false), "{what}");
                    assert!(!r.plan.fits, "{what}");
                    assert!(r.notes.iter().any(|n| n.contains(&x.reason())), "{what}: {:?}", r.notes);
                }
                Err(e) => assert_eq!((f.choice.as_str(), f.says), ("cannot-plan", e.to_string()), "{what}"),
            }
        }
    }
    // The corpus and the catalogue exercise plans and refusals. The layer-by-layer fallback needs
    // a board whose RAM lies between the two firmwares' (the fused stack reserve is ~1 kB above
    // the layer-by-layer one since the runtime keeps nothing of a stage's size on the stack): no
    // catalogue board x corpus model lands there now; msf_codegen's fit tests decide it on a
    // board made for it, and this loop checks it whenever it occurs.
    assert!(plans > 0 && refused > 0, "plans {plans}, layer by layer {lbl}, refused {refused}");
}
