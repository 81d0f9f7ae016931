#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with rustup/cargo: installs what is missing
# (rustup targets, Chromium + ChromeDriver, Node.js + npm, QEMU for Arm and RISC-V; apt needs
# root or sudo), then runs the Rust tests (unit, golden, planner, emitted projects under QEMU)
# and the page in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== rustup targets"
rustup target add wasm32-unknown-unknown thumbv7em-none-eabihf thumbv6m-none-eabi \
  riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf thumbv8m.main-none-eabihf thumbv7m-none-eabi

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Chromium (Debian)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi

if ! command -v npm >/dev/null 2>&1; then
  # cargo xtask test-web: npm ci of playwright-core (tests/web) and of Binaryen's wasm-opt
  # (crates/xtask/wasm-opt), which the page's build runs.
  echo "== installing Node.js and npm (Debian)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi

echo "== QEMU"
# A failing install stops the suite (set -e, pipefail); only the grep may find nothing.
qemu_out=$(bash .ci/install-qemu.sh | tee /dev/stderr)
qemu_env=$(grep -E '^QEMU_SYSTEM_[A-Z0-9_]+=' <<< "$qemu_out" || true)
while IFS= read -r line; do [ -n "$line" ] && export "$line"; done <<< "$qemu_env"

echo "== cargo test (workspace)"
cargo test --workspace --no-fail-fast

echo "== generated ONNX code is up to date with crates/model/proto/onnx.proto"
cargo run -q -p schema-gen -- --check

echo "== runtime builds for the MCU targets (no std anywhere in its tree)"
for t in thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imac-unknown-none-elf; do
  cargo build -p msf-runtime --release --target "$t"
done

echo "== the page in headless Chromium"
cargo xtask test-web
echo "== all tests passed"
