#!/usr/bin/env bash
# Install QEMU system emulators (arm: mps2-an386/an500/an505, microbit; riscv32: virt) for the
# emitted-firmware tests, plus the Rust targets those firmware projects build for.
#
# Why not `apt-get install qemu-system-arm`: Debian's qemu-system-* 7.2 conflicts with the newer
# qemu-utils this machine ships with. So we `apt-get download` the .debs, unpack them with
# `dpkg -x` into $QEMU_PREFIX (default /opt/qemu-extract) and install only their shared-library
# dependencies. Idempotent: a second run re-checks and re-uses what is there.
#
# Prints, last, lines `QEMU_SYSTEM_ARM=...` and `QEMU_SYSTEM_RISCV32=...`; the tests find the
# binaries through those env variables or, failing that, under /opt/qemu-extract.
set -euo pipefail

PREFIX="${QEMU_PREFIX:-/opt/qemu-extract}"
ARM="$PREFIX/usr/bin/qemu-system-arm"
RV32="$PREFIX/usr/bin/qemu-system-riscv32"

# Shared libraries qemu-system-{arm,misc,common} link against (from `apt-cache depends`).
LIBS=(libfdt1 libcapstone4 libpmem1 librdmacm1 libibverbs1 libslirp0 libvdeplug2
      libaio1 libasound2 libbpf1 libbrlapi0.8 libcacard0 libcap-ng0 libepoxy0 libfuse3-3 libgbm1
      libglib2.0-0 libgmp10 libgnutls30 libjpeg62-turbo libnuma1 libpixman-1-0 libpng16-16
      libsasl2-2 libseccomp2 libsndio7.0 libspice-server1 liburing2 libusb-1.0-0
      libusbredirparser1 libzstd1)

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if works "$ARM" && works "$RV32"; then
    echo "install-qemu: already installed under $PREFIX"
else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${LIBS[@]}" >/dev/null
    work="$(mktemp -d)"
    chmod 755 "$work"  # apt-get download drops privileges to _apt when it can
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get download -qq qemu-system-arm qemu-system-misc qemu-system-common qemu-system-data)
    mkdir -p "$PREFIX"
    for deb in "$work"/*.deb; do
        dpkg -x "$deb" "$PREFIX"
    done
fi

# Fail loudly if a library is still missing (ldd prints "not found").
for bin in "$ARM" "$RV32"; do
    if ldd "$bin" | grep -q "not found"; then
        echo "install-qemu: $bin is missing libraries:" >&2
        ldd "$bin" | grep "not found" >&2
        exit 1
    fi
    "$bin" --version | head -1
done
# The firmware for QEMU needs the machine's data dir only for -bios defaults, which we do not use
# (-bios none on riscv; -kernel on arm), so no -L is needed.

# Rust targets of the emitted projects (thumbv7m: Cortex-M3 boards; thumbv8m.main: Cortex-M33).
if command -v rustup >/dev/null 2>&1; then
    rustup target add thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf \
        thumbv8m.main-none-eabihf riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf >/dev/null 2>&1 \
        || echo "install-qemu: warning: rustup target add failed" >&2
fi

echo "QEMU_SYSTEM_ARM=$ARM"
echo "QEMU_SYSTEM_RISCV32=$RV32"
