#!/bin/sh
# Seed the fuzz corpora from the small models of tests/models (under 64 KiB: libFuzzer mutates
# small inputs far faster, and the structure is the same). The corpora are not committed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
models="$here/../../../tests/models"
mkdir -p "$here/corpus/tflite" "$here/corpus/onnx"
find "$models" -name '*.tflite' -size -64k -exec cp {} "$here/corpus/tflite/" \;
find "$models" -name '*.onnx' -size -64k -exec cp {} "$here/corpus/onnx/" \;
# Hand-built models with the ops the small corpus models lack (written by a test).
MSF_WRITE_FUZZ_SEEDS="$here/corpus/tflite" cargo test -q -p msf-tests --test import_tflite hand_built_models_import_and_seed_the_fuzzer \
  --manifest-path "$here/../../../Cargo.toml" >/dev/null
