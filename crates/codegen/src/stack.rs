//! The stack an emitted firmware keeps free: measured figures per target, in this one place.
//!
//! The firmware (templates/stack.rs, main_*.rs) paints the free RAM, runs the inference, scans,
//! paints again, prints the report, scans again, and prints
//! `stack: N bytes used (main M, runtime R, report P; reserve S)`:
//! - M: main's depth at the inference call (startup frames + main's own frame), from the top of RAM;
//! - R: the runtime's own high-water below that point (`infer()` and everything it calls);
//! - P: the high-water while the report prints (main + report + semihosting), from the top.
//!
//! tests/tests/emit_qemu.rs prints every measurement (`MEASURED ...` lines) and asserts that the
//! figures below cover it. The reserve is `round16(max(M + R, P)) + INTERRUPT_MARGIN`, with R
//! the most any tested plan of that target and mode used ([`TargetStack`]). A plan can use less
//! than the most (the runtime's depth depends on the ops and, fused, on the stages): the table
//! keeps the least too, so the tests can check that the figure exceeds each measurement by no
//! more than the margin + rounding + the table's recorded spread.

use crate::board::{Board, Family};

/// Stack kept for the user's interrupts on top of what the firmware measured: the emitted
/// firmware enables none, but a user who adds a timer, a UART or a USB handler needs its
/// exception frame (32 B on Cortex-M, 104 B with the FPU context; riscv-rt's trap frame is
/// 64 B) plus the handler's own frames, and nested priorities stack them. 1 KiB holds a few
/// nested handlers of the usual size (TFLite Micro's examples run with 1.0-1.4 kB of total
/// stack); a user with heavier handlers should raise it in memory.x.
pub const INTERRUPT_MARGIN: u64 = 1024;

/// The reserve is rounded up to this: the RISC-V psABI keeps `sp` 16-byte aligned (AAPCS: 8),
/// so the stack top and the reserve's bottom stay aligned. At most 15 B of rounding per figure.
pub const STACK_ALIGN: u64 = 16;

/// One measured quantity over the plans the QEMU tests ran on a target: the most and the least
/// any of them used (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Measured {
    pub most: u64,
    pub least: u64,
}

/// The measured stack of one target family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TargetStack {
    /// What the family covers, e.g. "Cortex-M4 (thumbv7em)".
    pub name: &'static str,
    /// main's depth at the inference call (M).
    pub main: u64,
    /// The report's high-water from the top (P).
    pub report: u64,
    /// The runtime's own depth below main (R), layer by layer.
    pub layer: Measured,
    /// The same, fused executor; `None`: not measured (the figure then borrows the largest
    /// measured fused figure of its architecture, see [`runtime_stack`]).
    pub fused: Option<Measured>,
    /// Where the figures come from.
    pub measured_on: &'static str,
}

/// The table. Every figure is a `MEASURED` line of tests/tests/emit_qemu.rs under QEMU 7.2
/// (release builds, opt-level 3, the rustc of this workspace), taken over every plan those
/// tests run (and, on Cortex-M4, the README table's corpus run, `ram_table_on_mps2_an386`).
/// Measured with the runtime whose per-stage and per-call steps are out of line (their
/// temporaries in short-lived frames) and whose kernels sum 32 channels at a time: layer by
/// layer 1.8-2.0 kB, fused 2.2-2.7 kB of the runtime's own frames (with 41bf00a's: 1.9-2.6 and
/// 3.1-3.7 kB; before it, with the stack patch: 3.7 and 30-42 kB). Refill it from
/// `MSF_STACK_MEASURE=1 cargo test --release -p msf-tests --test emit_qemu -- --include-ignored --nocapture`
/// when the runtime changes (the tests fail when a measurement leaves the table's range).
pub const TABLE: [TargetStack; 5] = [
    TargetStack {
        name: "Cortex-M0/M0+ (thumbv6m)",
        main: 56,
        report: 520,
        layer: Measured { most: 1812, least: 1812 },
        fused: Some(Measured { most: 2652, least: 2652 }),
        measured_on: "microbit",
    },
    TargetStack {
        name: "Cortex-M4 (thumbv7em)",
        main: 48,
        report: 496,
        layer: Measured { most: 1828, least: 1820 },
        fused: Some(Measured { most: 2408, least: 2332 }),
        measured_on: "mps2-an386",
    },
    TargetStack {
        name: "Cortex-M7 (thumbv7em)",
        main: 48,
        report: 488,
        layer: Measured { most: 1828, least: 1828 },
        fused: Some(Measured { most: 2392, least: 2384 }),
        measured_on: "mps2-an500",
    },
    TargetStack {
        name: "Cortex-M33 (thumbv8m.main)",
        main: 48,
        report: 496,
        layer: Measured { most: 1820, least: 1820 },
        fused: Some(Measured { most: 2408, least: 2400 }),
        measured_on: "mps2-an505",
    },
    TargetStack {
        name: "RV32 (riscv32imac, riscv32imc)",
        main: 64,
        report: 504,
        layer: Measured { most: 1960, least: 1960 },
        fused: Some(Measured { most: 2204, least: 2204 }),
        measured_on: "riscv32-virt (riscv32imac; the imc ESP32-C3 uses the same figures: the C extension and atomics do not change frame sizes)",
    },
];

/// The table row for `board`'s target (by triple and `target_cpu`). Xtensa (ESP32-S3) is not
/// measured (no QEMU for it here): it borrows the largest figures of the table, see [`xtensa`].
pub fn target_stack(board: &Board) -> TargetStack {
    let t = board.target.as_str();
    let cpu = board.target_cpu.as_deref().unwrap_or("");
    let i = if t.starts_with("thumbv6m") {
        0
    } else if t.starts_with("thumbv7em") && cpu == "cortex-m7" {
        2
    } else if t.starts_with("thumbv7em") || t.starts_with("thumbv7m") {
        1
    } else if t.starts_with("thumbv8m") {
        3
    } else if t.starts_with("riscv32") {
        4
    } else {
        return xtensa();
    };
    TABLE[i]
}

/// Xtensa: not measured; every figure is the largest of the measured table (its windowed ABI
/// spills register windows to the stack, so its frames are not smaller than the others').
pub fn xtensa() -> TargetStack {
    let most = |f: fn(&TargetStack) -> u64| TABLE.iter().map(f).max().unwrap_or(0);
    let fused = most(|t| t.fused.map_or(0, |m| m.most));
    TargetStack {
        name: "Xtensa (not measured: the table's largest figures)",
        main: most(|t| t.main),
        report: most(|t| t.report),
        layer: Measured { most: most(|t| t.layer.most), least: 0 },
        fused: Some(Measured { most: fused, least: 0 }),
        measured_on: "not measured",
    }
}

/// The runtime's own stack (R) on `board`: layer by layer, or with the fused executor. An
/// unmeasured fused figure (Cortex-M0) is the largest measured fused figure of the same
/// architecture (Cortex-M), and says so in [`StackBudget::runtime_measured`].
pub fn runtime_stack(board: &Board, fused: bool) -> (Measured, bool) {
    let t = target_stack(board);
    if !fused {
        return (t.layer, true);
    }
    match t.fused {
        Some(m) => (m, true),
        None => {
            let arm = board.family == Family::CortexM;
            let most = TABLE.iter().filter(|r| r.name.starts_with("Cortex-M") == arm).filter_map(|r| r.fused).map(|m| m.most).max().unwrap_or(0);
            (Measured { most, least: 0 }, false)
        }
    }
}

/// The stack reserve of a firmware, in its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StackBudget {
    /// The runtime's own stack (R, the most measured on this target and mode).
    pub runtime: u64,
    /// The template's share: main's depth at the call (M), or the report if deeper, and the
    /// alignment rounding: `total - runtime - margin`.
    pub template: u64,
    /// [`INTERRUPT_MARGIN`].
    pub margin: u64,
    /// The reserve the linker script keeps free.
    pub total: u64,
    /// The runtime figure was measured on this target (false: borrowed, see [`runtime_stack`]).
    pub runtime_measured: bool,
}

/// The stack reserve of a firmware on `board`, layer by layer or fused.
pub fn stack_budget(board: &Board, fused: bool) -> StackBudget {
    let t = target_stack(board);
    let (rt, runtime_measured) = runtime_stack(board, fused);
    let used = (t.main + rt.most).max(t.report).next_multiple_of(STACK_ALIGN);
    StackBudget { runtime: rt.most, template: used - rt.most, margin: INTERRUPT_MARGIN, total: used + INTERRUPT_MARGIN, runtime_measured }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{board, boards};

    #[test]
    fn every_board_has_a_row_and_the_reserve_is_its_parts() {
        for b in boards() {
            for fused in [false, true] {
                let s = stack_budget(b, fused);
                assert_eq!(s.total, s.runtime + s.template + s.margin, "{}", b.id);
                assert_eq!(s.total % STACK_ALIGN, INTERRUPT_MARGIN % STACK_ALIGN);
                let t = target_stack(b);
                assert!(s.template >= t.main && s.template < t.main.max(t.report.saturating_sub(s.runtime)) + STACK_ALIGN, "{}", b.id);
            }
        }
        assert_eq!(target_stack(board("microbit").unwrap()).name, TABLE[0].name);
        assert_eq!(target_stack(board("rp2040").unwrap()).name, TABLE[0].name);
        assert_eq!(target_stack(board("mps2-an386").unwrap()).name, TABLE[1].name);
        assert_eq!(target_stack(board("nucleo-f767zi").unwrap()).name, TABLE[2].name);
        assert_eq!(target_stack(board("rp2350").unwrap()).name, TABLE[3].name);
        assert_eq!(target_stack(board("esp32c3").unwrap()).name, TABLE[4].name);
        assert_eq!(target_stack(board("hifive1-revb").unwrap()).name, TABLE[4].name);
        assert_eq!(target_stack(board("esp32s3").unwrap()).measured_on, "not measured");
    }

    #[test]
    fn the_table_is_measured() {
        for t in TABLE {
            assert!(t.main > 0 && t.report > t.main && t.layer.most >= t.layer.least && t.layer.least > 0, "{t:?}");
            if let Some(f) = t.fused {
                assert!(f.most >= f.least && f.least > 0, "{t:?}");
            }
        }
    }
}
