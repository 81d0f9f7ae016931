#!/usr/bin/env python3
"""Host inference time of the corpus models under LiteRT, beside msf-runtime's.

Usage:
  pip install ai-edge-litert numpy
  python3 crates/exec/benches/bench_litert.py [--out table.md] [--rounds 2]

It runs `cargo bench -p msf-exec -- MODEL` (msf-runtime) and LiteRT on the same model one
after the other, for several rounds, and keeps each one's minimum: the machine is shared.

For every .tflite model in tests/models it times LiteRT's interpreter with the reference
kernels (OpResolverType.BUILTIN_REF, what TFLite Micro mirrors; the baseline msf-runtime must
beat) and, for context, its optimized builtin kernels without delegates
(BUILTIN_WITHOUT_DEFAULT_DELEGATES), one thread each, on the model's own input. Each
(model, resolver) runs in a child process: the reference kernels abort on some models. The
minimum thread CPU time of repeated invokes is reported (time.thread_time, the same clock the
Rust bench reads): on a shared machine wall time mostly measures the other processes. This is a
benchmark, not a test.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
MODELS = os.path.join(ROOT, "tests", "models")


def child(model, resolver, seconds):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    rt = getattr(OpResolverType, resolver)
    it = Interpreter(model_path=model, experimental_op_resolver_type=rt, num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    x = np.fromfile(model.rsplit(".", 1)[0] + ".input.bin", dtype=d["dtype"]).reshape(d["shape"])
    it.set_tensor(d["index"], x)
    for _ in range(2):
        it.invoke()
    times = []
    t0 = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - t0 < seconds and len(times) < 200):
        t = time.thread_time()
        it.invoke()
        times.append(time.thread_time() - t)
    times.sort()
    print(json.dumps({"ms": times[0] * 1e3, "runs": len(times)}))


def measure(model, resolver, seconds):
    p = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", model, resolver, str(seconds)],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        return None
    for line in p.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)["ms"]
    return None


def msf_bench(name):
    """msf-runtime's numbers for one model, from the Rust bench (built once by cargo)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        env = dict(os.environ, MSF_BENCH_JSON=f.name)
        subprocess.run(
            ["cargo", "bench", "-q", "-p", "msf-exec", "--bench", "corpus", "--", name],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        rows = [r for r in json.load(open(f.name)) if r["model"] == name]
    return rows[0]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    import platform

    names = sorted(
        f.rsplit(".", 1)[0] for f in os.listdir(MODELS) if f.endswith(".tflite") or f.endswith(".onnx")
    )
    lines = [
        f"Host: {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other jobs, one thread; "
        f"minimum thread CPU time per inference over {a.rounds} interleaved rounds of repeated runs; "
        "MMAC/s = conv, depthwise, FC, pool and mean MACs / time.",
        "",
        "| model | MACs | arena (B) | msf-runtime ms | msf MMAC/s | LiteRT ref ms | LiteRT ref MMAC/s | speed-up vs ref | LiteRT optimized ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        model = os.path.join(MODELS, name + ".tflite")
        ms = ref = opt = None
        macs = arena = 0
        for _ in range(a.rounds):
            r = msf_bench(name)
            macs, arena = r["macs"], r["arena"]
            ms = r["ms"] if ms is None else min(ms, r["ms"])
            if os.path.exists(model):
                v = measure(model, "BUILTIN_REF", a.seconds)
                ref = v if ref is None or (v is not None and v < ref) else ref
                v = measure(model, "BUILTIN_WITHOUT_DEFAULT_DELEGATES", a.seconds)
                opt = v if opt is None or (v is not None and v < opt) else opt
        f = lambda v, fmt="{:.3f}": fmt.format(v) if v is not None else "n/a"
        lines.append(
            f"| {name} | {macs} | {arena} | {ms:.3f} | {macs / ms / 1e3:.0f} | {f(ref)} | "
            f"{f(macs / ref / 1e3 if ref else None, '{:.0f}')} | {f(ref / ms if ref else None, '{:.1f}x')} | {f(opt)} |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if a.out:
        open(a.out, "w").write(text)


if __name__ == "__main__":
    main()
