//! `msf` on hostile input as a user could give it (issue 17): a closed stdout, files that are
//! not regular files or are too large, sizes that are not whole byte counts within u64, a model
//! without outputs. Each ends with a clear error or the conventional quiet exit, never a panic,
//! a hang or an unbounded read.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn corpus_model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/models").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("robustness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn msf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msf")).args(args).output().expect("msf runs")
}

/// Run `msf args`, killing it (and failing) if it has not finished in 30 s.
fn msf_with_deadline(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_msf"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("msf runs");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("msf {args:?} still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Failed with exit status 1 and exactly `want` on stderr (no panic, no backtrace).
fn assert_error(o: &Output, want: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    assert_eq!(stderr(o).trim_end(), want);
}

#[test]
fn a_closed_stdout_ends_msf_quietly() {
    let tiny = corpus_model("tiny_cnn_int8.tflite");
    let mbv2 = corpus_model("mbv2_w035_144_int8.tflite");
    let (tiny, mbv2) = (tiny.to_str().unwrap(), mbv2.to_str().unwrap());
    let cases: [&[&str]; 6] = [
        &["inspect", mbv2],
        &["inspect", "--json", mbv2],
        &["plan", tiny, "--max-overhead", "inf", "--pareto"],
        &["plan", tiny, "--max-overhead", "inf", "--pareto", "--json"],
        &["plan", tiny, "--ram", "64k"],
        &["boards"],
    ];
    for args in cases {
        // The reading end is closed before msf starts, so its first write fails every time
        // (`| head -1` closes it at some point during the run, which is a race).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_msf")).args(args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        assert!(!stderr(&o).contains("panicked") && !stderr(&o).contains("Broken pipe"), "msf {args:?}: {}", stderr(&o));
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            // SIGPIPE at its default disposition (status 141 in a shell), as `cat` and `grep` do;
            // `boards` writes through a writer that stops quietly and exits 0.
            assert!(o.status.signal() == Some(13) || o.status.success(), "msf {args:?}: {:?} {}", o.status, stderr(&o));
            if args[0] != "boards" {
                assert_eq!(o.status.signal(), Some(13), "msf {args:?}: {:?}", o.status);
            }
        }
        #[cfg(not(unix))]
        assert_ne!(o.status.code(), Some(101), "msf {args:?}: {}", stderr(&o));
    }
}

#[test]
fn devices_directories_and_fifos_are_refused_without_reading() {
    let dir = scratch("");
    let dir = dir.to_str().unwrap();
    let o = msf_with_deadline(&["inspect", dir]);
    assert_error(&o, &format!("error: cannot read {dir}: not a regular file (a directory, device, FIFO or socket); give the path of a file"));
    if std::path::Path::new("/dev/zero").exists() {
        for args in [&["inspect", "/dev/zero"][..], &["plan", "/dev/zero"], &["emit", "/dev/zero", "--board", "nucleo-f767zi", "--out", "/dev/null"]] {
            let o = msf_with_deadline(args);
            assert_error(&o, "error: cannot read /dev/zero: not a regular file (a directory, device, FIFO or socket); give the path of a file");
        }
        // An input file is read the same way.
        let tiny = corpus_model("tiny_cnn_int8.tflite");
        let out = scratch("out.bin");
        let o = msf_with_deadline(&["run", tiny.to_str().unwrap(), "--input", "/dev/zero", "--output", out.to_str().unwrap()]);
        assert_error(&o, "error: cannot read /dev/zero: not a regular file (a directory, device, FIFO or socket); give the path of a file");
    }
    let fifo = scratch("model.fifo");
    let _ = std::fs::remove_file(&fifo);
    if Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        // Without a writer, opening the FIFO would block for ever.
        let o = msf_with_deadline(&["inspect", fifo.to_str().unwrap()]);
        assert_error(&o, &format!("error: cannot read {}: not a regular file (a directory, device, FIFO or socket); give the path of a file", fifo.display()));
    }
}

#[test]
fn a_file_over_the_size_limit_is_refused_naming_the_limit() {
    // Sparse: 256 MiB + 1 byte that take no disk space and are never read.
    let big = scratch("big.tflite");
    std::fs::File::create(&big).unwrap().set_len((256 << 20) + 1).unwrap();
    let o = msf_with_deadline(&["inspect", big.to_str().unwrap()]);
    assert_error(&o, &format!("error: cannot read {}: it is 268435457 bytes, more than the limit of 268435456 bytes (256 MiB)", big.display()));
    let tiny = corpus_model("tiny_cnn_int8.tflite");
    let out = scratch("out.bin");
    let o = msf_with_deadline(&["run", tiny.to_str().unwrap(), "--input", big.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    assert_error(&o, &format!("error: cannot read {}: it is 268435457 bytes, more than the limit of 268435456 bytes (256 MiB)", big.display()));
    std::fs::remove_file(&big).unwrap();
}

#[test]
fn ram_sizes_beyond_u64_or_fractional_are_rejected_with_the_reason() {
    let tiny = corpus_model("tiny_cnn_int8.tflite");
    let tiny = tiny.to_str().unwrap();
    for (size, reason) in [
        ("99999999999999999999", "`99999999999999999999` is more than 18446744073709551615 bytes, the largest size"),
        ("0.5", "`0.5` is not a whole number of bytes"),
        ("0.1k", "`0.1k` is not a whole number of bytes"),
    ] {
        for sub in ["plan", "run"] {
            let o = msf(&[sub, tiny, "--ram", size, "--input", "x", "--output", "y"][..if sub == "plan" { 4 } else { 8 }]);
            assert_eq!(o.status.code(), Some(2), "{sub} --ram {size}: {}", stderr(&o));
            assert!(stderr(&o).starts_with(&format!("error: invalid value '{size}' for '--ram <RAM>': {reason}\n")), "{sub}: {}", stderr(&o));
        }
    }
    // A whole number of bytes written with a fraction is fine.
    let o = msf(&["plan", tiny, "--ram", "1.5m", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn run_on_a_model_without_outputs_is_an_import_error_not_a_panic() {
    use msf_model::import::onnx::prost::Message;
    let src = corpus_model("onnx_small_cnn_f32.onnx");
    let mut m = msf_model::import::onnx::proto::ModelProto::decode(std::fs::read(&src).unwrap().as_slice()).unwrap();
    m.graph.as_mut().unwrap().output.clear();
    let path = scratch("no_outputs.onnx");
    std::fs::write(&path, m.encode_to_vec()).unwrap();
    let input = corpus_model("onnx_small_cnn_f32.input.bin");
    let out = scratch("no_outputs.out.bin");
    let want = format!(
        "error: cannot import {}: the model declares no graph outputs: nothing to compute (a model needs at least one output tensor)",
        path.display()
    );
    for args in [
        vec!["run", path.to_str().unwrap(), "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap()],
        vec!["run", path.to_str().unwrap(), "--input", input.to_str().unwrap(), "--output", out.to_str().unwrap(), "--max-overhead", "inf"],
        vec!["inspect", path.to_str().unwrap()],
        vec!["plan", path.to_str().unwrap()],
    ] {
        let o = msf(&args);
        assert_error(&o, &want);
    }
}
