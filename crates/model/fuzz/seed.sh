#!/bin/sh
# Seed the fuzz corpora from the small models of tests/models (under 64 KiB: libFuzzer mutates
# small inputs far faster, and the structure is the same). The corpora are not committed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
models="$here/../../../tests/models"
mkdir -p "$here/corpus/tflite" "$here/corpus/onnx"
find "$models" -name '*.tflite' -size -64k -exec cp {} "$here/corpus/tflite/" \;
find "$models" -name '*.onnx' -size -64k -exec cp {} "$here/corpus/onnx/" \;
