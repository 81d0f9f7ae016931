//! `cargo bench -p msf-exec`: host inference time and MAC/s of every corpus model through
//! msf-runtime (layer by layer, one thread). Prints a markdown table; with MSF_BENCH_JSON=FILE
//! also writes the numbers as JSON for benches/bench_litert.py to put beside LiteRT's.
//!
//! Time is the thread's CPU time per inference (CLOCK_THREAD_CPUTIME_ID), the minimum of
//! repeated runs: on a shared, loaded machine wall time mostly measures the other processes and
//! even CPU time has spikes. benches/bench_litert.py measures LiteRT the same way, interleaved.

use std::time::Instant;

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}
extern "C" {
    fn clock_gettime(id: i32, ts: *mut Timespec) -> i32;
}
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

/// Seconds of CPU time this thread has used (Linux).
fn thread_cpu() -> f64 {
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into valid memory; libc is linked by std.
    unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.sec as f64 + t.nsec as f64 * 1e-9
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/models");
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/models")
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("tflite" | "onnx")))
        .collect();
    paths.sort();
    let mut rows = Vec::new();
    println!("| model | MACs | arena (B) | CPU ms / inference (min) | MMAC/s | wall ms (min) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for p in paths {
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        if let Some(f) = &filter {
            if !name.contains(f.as_str()) {
                continue;
            }
        }
        let g = msf_model::load(&std::fs::read(&p).unwrap(), &name).unwrap();
        let input = std::fs::read(dir.join(format!("{name}.input.bin"))).unwrap();
        let macs: u64 = (0..g.ops.len()).map(|i| msf_model::stats::op_stats(&g, i).macs).sum();
        let mut r = msf_exec::Runner::new(&g).unwrap();
        r.set_input(&input).unwrap();
        for _ in 0..2 {
            r.run(None).unwrap();
        }
        let (mut times, mut walls) = (Vec::new(), Vec::new());
        let t0 = Instant::now();
        while times.len() < 5 || (t0.elapsed().as_secs_f64() < 3.0 && times.len() < 200) {
            let (c, t) = (thread_cpu(), Instant::now());
            r.run(None).unwrap();
            walls.push(t.elapsed().as_secs_f64());
            times.push(thread_cpu() - c);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let (med, wall) = (times[0], walls[0]);
        println!(
            "| {name} | {macs} | {} | {:.3} | {:.0} | {:.3} |",
            r.compiled.arena_size,
            med * 1e3,
            macs as f64 / med / 1e6,
            wall * 1e3
        );
        rows.push(format!(
            "{{\"model\":\"{name}\",\"macs\":{macs},\"arena\":{},\"ms\":{:.4},\"wall_ms\":{:.4},\"runs\":{}}}",
            r.compiled.arena_size,
            med * 1e3,
            wall * 1e3,
            times.len()
        ));
    }
    if let Ok(path) = std::env::var("MSF_BENCH_JSON") {
        std::fs::write(&path, format!("[{}]\n", rows.join(",\n"))).unwrap();
        eprintln!("wrote {path}");
    }
}
