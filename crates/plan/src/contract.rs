//! The plan/executor contract: what a [`Plan`] promises, and what an executor must do to run
//! it in exactly `plan.arena_size` bytes.
//!
//! The planner (this crate: [`crate::net`], [`crate::fused`], [`crate::build`]) and the
//! executors (`msf_exec::compile_plan` lowering a Plan into a program blob, and the `no_std`
//! `msf_runtime::fused` walking it) are written against this page. Everything below is what
//! the code does today; the tests that hold it are named at the end.
//!
//! # What a Plan is
//!
//! A full-mode ([`Mode::Full`]) Plan is a list of [`Stage`]s that run one after the other,
//! covering the graph's ops in order (`stages[0].first_op == 0`, each stage starting at the
//! op after the previous stage's `last_op`, the last one ending at the last op), and a list of
//! [`Buffer`]s, each with a fixed byte `offset` in one arena of `arena_size` bytes.
//!
//! A paper-mode ([`Mode::Paper`]) Plan reproduces the msf-CNN reference's figures (1-pixel
//! tiles, symmetric padding, [`BufferRole::PaperCache`] buffers) and is not runnable:
//! `msf_exec::compile_plan` refuses it. The rest of this page is about full mode.
//!
//! ## Stages and [`StageKind`]
//!
//! - [`StageKind::Layer`] (`exec` = [`EdgeKind::Layer`]): one op (`first_op == last_op`), run
//!   whole: its inputs and outputs are whole tensors ([`BufferRole::Tensor`]). The executor
//!   runs it as the layer-by-layer executor would. In the plans of the fusion search a RESHAPE
//!   stage has an output buffer of its own, and the executor copies the bytes; in the
//!   layer-by-layer Plan ([`crate::layer_by_layer`]) a RESHAPE of an activation shares its
//!   input's bytes (its output is listed in the input buffer's `aliases`) and lowers to nothing.
//! - [`StageKind::Fused`]: ops `first_op..=last_op` (at least two) run together, `exec` saying
//!   how: [`EdgeKind::HCache`]` { rows: R }` (`band_rows == R`) or [`EdgeKind::LineBuffer`]
//!   (`band_rows == 1`). ([`EdgeKind::Paper`] only occurs in paper mode.)
//!
//! A fused stage (a *block*, [`crate::fused::Block`]) satisfies, by construction:
//!
//! - every op except the tail (below) is a sliding window (conv, depthwise conv, average/max
//!   pool: [`crate::net::Class::Window`]) or pointwise in space (ADD of same-shaped maps,
//!   activations, (de)quantise: [`crate::net::Class::Pointwise`]), with
//!   one output, a batch-1 NHWC map;
//! - only the last op's output leaves the stage: every other op's output (an *intermediate*)
//!   is read by ops of the stage only and is not a network output;
//! - inputs coming from outside the stage (the network input, earlier stages' outputs) are
//!   whole tensors already in the arena, read in place;
//! - where two paths join (a residual ADD) their strides agree, so one walk drives both.
//!
//! The **root** (`root_tensor`) is the map the walk runs over: the last op's output, or, for a
//! stage with an iterative tail, the tail's input.
//!
//! ## Buffers ([`Buffer`], [`BufferRole`])
//!
//! - [`BufferRole::Tensor`]: a whole tensor (`tensor`), `rows x cols x channels` = its NHWC
//!   height, width and channels (`1 x 1 x elements` for a vector), alive from `first_stage`
//!   (the stage of its producer; 0 for the network input) to `last_stage` (the stage of its
//!   last reader; the last stage for a network output). Network inputs, every layer stage's
//!   outputs and every fused stage's output get one. `io` marks network inputs and outputs.
//! - [`BufferRole::Ring`]: one per intermediate tensor of a fused stage (`tensor`; `op` its
//!   producer), alive in that stage only, `rows x cols x channels x elem_bytes` bytes. The
//!   addressing depends on the stage's `exec` (next section).
//! - [`BufferRole::Accumulator`]: 32-bit sums (int32 for int8 graphs, f32 for float ones), 4
//!   bytes per channel of a MEAN or per output of a FULLY_CONNECTED; `op` is the MEAN or the
//!   FC. Alive in its stage only.
//! - [`BufferRole::Scratch`]: the kernels' working memory of one stage (`op` its first op),
//!   alive in that stage only, sized by msf-runtime's own functions. A layer stage of a
//!   CONV_2D: the conv's im2col patch, `msf_runtime::spatial::conv_scratch_bytes(kh, kw, in_c,
//!   elem_bytes)` (none for a 1x1 conv or any other op). A fused stage: its walk state
//!   (`msf_runtime::fused::WALK_BYTES` per op the executor runs) then the largest im2col patch
//!   of its convs, `msf_runtime::fused::stage_scratch_bytes`. The executor keeps nothing that
//!   grows with the model on its stack: this buffer is where it went.
//!
//! Each `offset` is a multiple of `arena_align` (16, [`crate::arena::ARENA_ALIGN`]); two
//! buffers whose stage ranges `first_stage..=last_stage` intersect never share a byte (the
//! best of a few greedy placements, largest first among them: [`crate::arena::place_best`]). Buffers whose lifetimes do not
//! intersect may share bytes, so the executor must not expect a buffer's bytes to survive its
//! `last_stage`, nor write a buffer before its `first_stage`. `Stage::buffers` lists every
//! buffer alive during the stage.
//!
//! ## Rings
//!
//! Element `(y, x, c)` of an intermediate tensor lives in its ring at element index
//!
//! - H-cache stage: `((y - lo) * cols + x % cols) * channels + c`, where `lo` is the first row
//!   the current band needs of that tensor: `rows` covers the band's row span, `cols` is a
//!   window of columns that wraps around (the horizontal cache);
//! - line-buffer stage: `((y % rows) * cols + x) * channels + c`, `cols` the full width: a ring
//!   of full-width rows (the 2D cache).
//!
//! The sizes are the smallest that the schedule below needs, so they hold only for that
//! schedule: an executor that computes positions in another order, or keeps them longer, may
//! need more slots than the plan gave.
//!
//! ## The schedule the executor must follow
//!
//! Spans are inclusive and clipped to the map (padding is never stored). For a window op with
//! kernel `k`, stride `s`, dilation `d` and padding-before `p` along an axis, output positions
//! `lo..=hi` read input positions `max(lo*s - p, 0) ..= min(hi*s - p + (k-1)*d, len-1)`
//! ([`crate::fused::window_input_span`]); a pointwise op reads the positions it writes.
//!
//! **Pull.** `pull(op, lo, hi)` computes the op's positions `max(done[op] + 1, lo) ..= hi`
//! in increasing order; before computing position `q` it calls, input by input in the op's
//! input order, `pull(src, span)` for each input produced inside the stage, `span` being what
//! position `q` reads of it; then it computes `q` and sets `done[op] = q`. Inputs from outside
//! the stage are whole and need no pull. Nothing is computed that the root does not need.
//!
//! **H-cache, bands of R rows.** For each band of root rows `y0..=y1` (`y0 = 0, R, 2R, ...`,
//! `y1 = min(y0 + R, H) - 1`, `H` the root's height):
//! 1. row spans, backwards from the root: the root op's span is `y0..=y1`; going from the last
//!    op to the first, each in-stage input's span grows to the union of what its consumers'
//!    spans read of it. Each ring's `lo` is its tensor's span start; a span never has more
//!    rows than its ring (`rows` is the maximum over bands).
//! 2. `done[..] = -1`; for each root column `x` in `0..W`: `pull(root op, x, x)`, positions
//!    being columns; computing column `q` of an op computes it over the op's whole row span
//!    (the last op: the band) in one go. With an iterative tail, the band's rows of root
//!    column `x` are then fed to the tail.
//!
//! Rows shared by two bands are computed again in the next band (the recompute that F counts);
//! within a band nothing is computed twice.
//!
//! **Line buffer.** `done[..] = -1`; for each root row `y` in `0..H`: `pull(root op, y, y)`,
//! positions being rows, each computed over the full width. With an iterative tail, root row
//! `y` is then fed to the tail. Nothing is recomputed.
//!
//! The planner runs the same walk ([`crate::fused`]: `Block::walk` along columns for the
//! H-cache column windows and along rows for the line-buffer rings; `Block::hcache` for the
//! band spans) and sizes each ring to the most positions held at once, a position being
//! dropped once no consumer will read it again.
//!
//! ## Tails
//!
//! A fused stage may end in an *iterative tail* (`Stage::tail`, a [`Tail`] other than
//! [`Tail::None`]; `Stage::iterative_tail()`), fed as the root's elements arrive, so that the root never exists whole: it is held in a ring like any
//! intermediate.
//!
//! - **MEAN** ([`Tail::Mean`]) over height and width (the last op, one op): one accumulator per channel,
//!   zeroed when the stage starts; every root pixel is added as it is fed; at the end the sums
//!   give the output as the layer kernel computes it (int8: `(sum - in_zp * H * W)` times the
//!   MEAN's multiplier for `H * W` elements; f32: `sum / (H * W)`).
//! - **flatten + FC** ([`Tail::FlattenFc`]): a RESHAPE flattening the root (op `last_op - 1`) followed by a
//!   FULLY_CONNECTED (the last op). The flattened vector has no buffer and the RESHAPE no
//!   executor record; the FC reads root pixel `(y, x)` as elements `(y * W + x) * C ..+ C` of
//!   its input (row-major NHWC), adding `W[o, idx] * v` into one accumulator per output. int8:
//!   the accumulators start at the folded bias and are requantised at the end; integer sums
//!   do not depend on the order, so the result is byte-identical to the layer FC. f32: bias
//!   added at the end.
//!
//! The tail's output (the stage output) is a whole [`BufferRole::Tensor`]. Float tails fed by
//! H-cache bands of more than one row add the root column by column within a band, not row
//! by row: float sums may then differ from layer by layer in the last bits.
//!
//! A single-layer MEAN stage has no accumulator buffer: the layer kernel sums 64 channels at a
//! time in a few words of stack.
//!
//! ## Joins
//!
//! An op with two in-stage inputs (a residual ADD whose skip branch is produced in the stage)
//! pulls input 0 then input 1 for each position. A tensor read by several ops of the stage has
//! one ring holding the union of what they need (rows in an H-cache band, positions still to be
//! read in the walk): only the rows or columns still needed, never the whole skip tensor. An
//! ADD whose other operand comes from outside the stage reads it whole, in place.
//!
//! # RAM: arena size, peak, I/O included and excluded
//!
//! - `Stage::ram_bytes`: the sum of the buffers alive during the stage, each rounded up to 16
//!   bytes; `Stage::ram_bytes_io_excluded` the same without network input and output buffers.
//!   (These are the DAG edge's predictions; the tests check they equal the buffers listed.)
//! - `arena_size`: the end of the highest placed buffer, `max(offset + size)` (the
//!   layer-by-layer Plan rounds it up to a multiple of 16). The executor
//!   holds **every** buffer of the plan in one arena of exactly this many bytes, network input
//!   and output included; nothing else is allocated. Windows that wrap around their ring are
//!   read through the ring's own addressing (the runtime's views wrap), so no patch exists.
//! - `peak_ram_bytes == arena_size`: what the firmware reserves. `peak_stage_bytes` (the
//!   largest stage sum) is a lower bound of it; placement may leave gaps above it.
//! - `peak_ram_bytes_io_excluded`: the largest stage sum without the network input and output
//!   (the paper's convention; in paper mode, the reference's analytical figure). The optimiser
//!   bounds or minimises the figure `metric` ([`RamMetric`]) names.
//!
//! **High-water mark == plan peak.** The fused executor reports `Stats::high_water`, one past
//! the highest arena byte it writes or holds: a layer record's output offset plus its output
//! bytes, the last element written into a ring or a stage output, the accumulators, the tail
//! output, and the end of every scratch buffer of a stage it runs (held for the stage).
//! Every access is a bounds-checked slice of its own planned buffer, so the mark never exceeds
//! `arena_size`. With the network input counted (the caller writes it at its offset before the
//! run), the tests require the mark to **equal** `arena_size` (`== peak_ram_bytes`) on every
//! plan they run: the predicted peak is reached, not only bounded.
//!
//! # Worked example: a 2-op stage
//!
//! An 8x8x1 int8 input `t0`, a 3x3 stride-1 SAME conv to 8 channels (op 0, output `t1`), a
//! second 3x3 stride-1 SAME conv to 8 channels (op 1, output `t2`, the network output). Layer
//! MACs: op 0 `8*8*8 * 9 = 4608`, op 1 `8*8*8 * 72 = 36864`, vanilla 41472.
//!
//! Layer by layer: stage 0 holds `t0` (64 B) + `t1` (512) + op 0's im2col patch (3x3x1 = 9,
//! aligned 16) = 592 B; stage 1 holds `t1` + `t2` (512 + 512) + op 1's patch (3x3x8 = 72,
//! aligned 80) = 1104 B, the peak. Fused (ops 0..=1, root `t2`, one intermediate `t1`): op 1
//! reads 3 columns of `t1` per output column, so the H-cache ring of `t1` is 3 columns wide and
//! holds the band's rows plus one above and below, clipped; the stage scratch is the walk
//! state of 2 ops (2 x 16 = 32 B) plus the larger im2col patch (72, aligned 80) = 112 B:
//!
//! | exec | `t1` ring (rows x cols x ch) | ring bytes (aligned) | stage RAM | MACs | F |
//! |---|---|---:|---:|---:|---:|
//! | HCache { rows: 1 } | 3 x 3 x 8 | 72 (80) | 64 + 512 + 112 + 80 = 768 | 22 rows x 8 x 72 + 36864 = 49536 | 1.194 |
//! | HCache { rows: 2 } | 4 x 3 x 8 | 96 (96) | 784 | 14 x 8 x 72 + 36864 = 44928 | 1.083 |
//! | HCache { rows: 4 } | 5 x 3 x 8 | 120 (128) | 816 | 10 x 8 x 72 + 36864 = 42624 | 1.028 |
//! | HCache { rows: 8 } | 8 x 3 x 8 | 192 (192) | 880 | 41472 | 1.000 |
//! | LineBuffer | 3 x 8 x 8 | 192 (192) | 880 | 41472 | 1.000 |
//!
//! (64 = the input, 512 = `t2`, 112 = the scratch.) The line buffer ties with `HCache { rows: 8
//! }` and the first candidate is kept; all the others are on the front. The least-RAM plan is
//! one fused stage, `HCache { rows: 1 }`, with four buffers: the input `t0` (64 B, `io`), the
//! output `t2` (512 B, `io`), the scratch (112 B) and the ring of `t1` (72 B). Placed largest
//! first: `t2` at 0, the scratch at 512, the ring at 624, `t0` at 704; `arena_size =
//! peak_ram_bytes = peak_stage_bytes = ram_bytes = 768`, `peak_ram_bytes_io_excluded = 192`.
//!
//! The executor's walk: each band is one root row `y`, so `t1`'s span is rows `y-1..=y+1`
//! (clipped; `lo` its first). For root column `x = 0..8`: `pull(op 1, x, x)` first pulls `t1`
//! columns `x-1..=x+1` (clipped), i.e. op 0 computes the columns up to `x + 1` not done yet in
//! this band, each over the band's `t1` rows, into ring slots `x % 3`; then op 1 computes
//! column `x` of row `y` straight into `t2`, its input window a view of the ring that wraps
//! (slots `(x-1) % 3, x % 3, (x+1) % 3`). The pull's frames and the band spans are the walk
//! state in the scratch's first 32 bytes; op 1's kernel gathers its im2col patch into the
//! scratch's next 72. The top of the arena is the network input, written by the caller.
//!
//! ```
//! # use msf_plan::{plan, synth::Builder, BufferRole, Constraint, EdgeKind, Mode, Options, RamMetric, StageKind};
//! let mut b = Builder::new("two_convs", 8, 8, 1);
//! b.conv(8, 3, 1);
//! b.conv(8, 3, 1);
//! let g = b.finish();
//! let opts = Options { mode: Mode::Full, metric: RamMetric::IoIncluded, constraint: Constraint::MinRam, pareto: false };
//! let p = plan(&g, &opts).unwrap();
//! assert_eq!(p.stages.len(), 1);
//! let s = &p.stages[0];
//! assert_eq!((s.kind, s.exec, s.band_rows), (StageKind::Fused, EdgeKind::HCache { rows: 1 }, 1));
//! assert_eq!((s.ram_bytes, s.ram_bytes_io_excluded, s.macs), (768, 192, 49536));
//! let ring = p.buffers.iter().find(|b| b.role == BufferRole::Ring).unwrap();
//! assert_eq!((ring.rows, ring.cols, ring.channels, ring.size, ring.offset), (3, 3, 8, 72, 624));
//! let scratch = p.buffers.iter().find(|b| b.role == BufferRole::Scratch).unwrap();
//! assert_eq!((scratch.size, scratch.offset), (112, 512));
//! assert_eq!((p.arena_size, p.peak_ram_bytes, p.peak_stage_bytes, p.peak_ram_bytes_io_excluded), (768, 768, 768, 192));
//! assert_eq!(p.vanilla_peak_ram_bytes, 1104);
//! ```
//!
//! # What the executor reads, and what it refuses
//!
//! `msf_exec::compile_plan` reads the stages' `first_op`, `last_op`, `kind`, `exec`,
//! `root_tensor` and `tail`, and the buffers' `role`, `tensor`, `op`, `offset`, `size`, `rows`,
//! `cols`, `channels` and `elem_bytes`; the [`LayerTile`]s and stage RAM figures are for the
//! views. It refuses paper-mode plans, plans whose stages do not cover the graph's ops in order
//! or whose buffers leave the arena, fused stages of more than `msf_runtime::fused::MAX_OPS`
//! ops or with maps over `msf_runtime::fused::MAX_FUSED_DIM`, ops that do not lower to one
//! runtime record that can stream, and scratch buffers of another size than the runtime's.
//! The planner builds no such stage: what the executor cannot run is not in the search.
//!
//! # Tests that hold the contract
//!
//! - `crates/plan/tests/walk_sim.rs`: runs every fused edge of small graphs with this schedule
//!   on f64 data, slots tagged with the position they hold, rings of exactly the planned size:
//!   every read finds its position, outputs equal layer by layer, MACs equal the edge's.
//! - `tests/tests/plan.rs`: stage RAM equals the aligned sum of its buffers, offsets aligned and
//!   disjoint, `peak_ram_bytes == arena_size`.
//! - `tests/tests/fused.rs`: the runtime runs Pareto plans of the corpus, single fused edges,
//!   random DAG paths and synthetic plans in an arena of exactly `arena_size` bytes, high-water
//!   mark equal to it, int8 outputs byte-identical to layer by layer and to the reference.
//!
//! [`Plan`]: crate::Plan
//! [`Stage`]: crate::Stage
//! [`Buffer`]: crate::Buffer
//! [`BufferRole`]: crate::BufferRole
//! [`BufferRole::Tensor`]: crate::BufferRole::Tensor
//! [`BufferRole::Ring`]: crate::BufferRole::Ring
//! [`BufferRole::Accumulator`]: crate::BufferRole::Accumulator
//! [`BufferRole::PaperCache`]: crate::BufferRole::PaperCache
//! [`BufferRole::Scratch`]: crate::BufferRole::Scratch
//! [`StageKind`]: crate::StageKind
//! [`StageKind::Layer`]: crate::StageKind::Layer
//! [`StageKind::Fused`]: crate::StageKind::Fused
//! [`EdgeKind::Layer`]: crate::EdgeKind::Layer
//! [`EdgeKind::HCache`]: crate::EdgeKind::HCache
//! [`EdgeKind::LineBuffer`]: crate::EdgeKind::LineBuffer
//! [`EdgeKind::Paper`]: crate::EdgeKind::Paper
//! [`Mode::Full`]: crate::Mode::Full
//! [`Mode::Paper`]: crate::Mode::Paper
//! [`RamMetric`]: crate::RamMetric
//! [`LayerTile`]: crate::LayerTile
//! [`Tail`]: crate::Tail
//! [`Tail::None`]: crate::Tail::None
//! [`Tail::Mean`]: crate::Tail::Mean
//! [`Tail::FlattenFc`]: crate::Tail::FlattenFc
