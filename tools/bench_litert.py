#!/usr/bin/env python3
"""Host inference time of the corpus models under LiteRT, beside msf-runtime's.

Usage:
  MSF_BENCH_JSON=/tmp/msf-bench.json cargo bench -p msf-exec     # msf-runtime numbers
  pip install ai-edge-litert numpy
  python3 tools/bench_litert.py --msf /tmp/msf-bench.json [--out table.md]

For every .tflite model in tests/models it times LiteRT's interpreter with the reference
kernels (OpResolverType.BUILTIN_REF, what TFLite Micro mirrors; the baseline msf-runtime must
beat) and, for context, its optimized builtin kernels without delegates
(BUILTIN_WITHOUT_DEFAULT_DELEGATES), one thread each, on the model's own input. Each
(model, resolver) runs in a child process: the reference kernels abort on some models. The
median thread CPU time of repeated invokes is reported (time.thread_time, the same clock the
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
MODELS = os.path.join(HERE, "..", "tests", "models")


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
    print(json.dumps({"ms": times[len(times) // 2] * 1e3, "runs": len(times)}))


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


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--msf", required=True, help="JSON written by MSF_BENCH_JSON=... cargo bench -p msf-exec")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    msf = {r["model"]: r for r in json.load(open(a.msf))}
    import platform

    lines = [
        f"Host: {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other jobs, one thread; "
        "median thread CPU time of repeated runs; MMAC/s = conv, depthwise, FC, pool and mean MACs / time.",
        "",
        "| model | MACs | msf-runtime ms | msf MMAC/s | LiteRT ref ms | LiteRT ref MMAC/s | speed-up vs ref | LiteRT optimized ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in sorted(msf):
        r = msf[name]
        model = os.path.join(MODELS, name + ".tflite")
        macs, ms = r["macs"], r["ms"]
        if os.path.exists(model):
            ref = measure(model, "BUILTIN_REF", a.seconds)
            opt = measure(model, "BUILTIN_WITHOUT_DEFAULT_DELEGATES", a.seconds)
        else:
            ref = opt = None  # ONNX models: LiteRT does not read them
        f = lambda v, fmt="{:.3f}": fmt.format(v) if v is not None else "n/a"
        lines.append(
            f"| {name} | {macs} | {ms:.3f} | {macs / ms / 1e3:.0f} | {f(ref)} | "
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
