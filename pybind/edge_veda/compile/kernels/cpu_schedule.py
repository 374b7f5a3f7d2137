"""A small CPU schedule for TVM 0.27's legalized convolutions and matrix products, applied to
every PrimFunc after FuseTIR (a module pass, `schedule_reductions()`).

The default pipeline leaves each reduction block as written by legalization: spatial loops,
then the reduction loops innermost, so every output element is a scalar dot product (nothing
vectorizes; Kokoro's part B runs ~35x slower than real time). For a reduction block whose
innermost spatial index is also the innermost index of an input it reads (conv1d over time,
matmul over output columns):

* the reduction loops move outside the innermost spatial loop, so that loop streams contiguous
  memory and LLVM vectorizes it (its trip count may be symbolic: no split, no predicate);
* conv-like blocks (spatial n, channel, time; reduction input channel, taps of constant extent)
  also get their taps unrolled inside the time loop and 4 output channels (16 for 2-3 taps)
  unrolled beside the taps, so each input load feeds channels x taps multiply-adds held in
  registers;
* the remaining outer spatial loops are fused and run in parallel (TVM's thread pool: the
  artifact sets module.kernel_threads).

Before that, elementwise chains are inlined into their (elementwise) consumers: the default
pipeline materializes every step of e.g. AdaIN + Snake (divide, multiply, add, sin, power...)
as a full-size intermediate. Blocks without the reduction form above (elementwise blocks,
reductions over the innermost axis: means, norms) get their outer loops run in parallel.
Functions that are already scheduled (hand-written TIR) are left as they are. The choices were
measured on Kokoro's vocoder (2 threads; BENCHMARKS.md, "Text to speech: Kokoro-82M"): tiling the
symbolic time axis for cache blocking made it slower (and a tail loop for it cannot be expressed
with TVM 0.27's schedule primitives on a symbolic length), and 8 channels per tile was slower
than 4.
"""
from __future__ import annotations

DATA_PAR = 0
COMM_REDUCE = 2
CHANNEL_TILE = 4
# Kernels with 2-3 taps over at most 256 input channels (Kokoro's vocoder: the 3-tap resblock
# convs at 128/256 channels, the 2-tap polyphase upsampling conv) do too few multiply-adds per
# loaded input with 4 channels: 16 output channels share each input load. Measured per kernel,
# 2 threads, 19 s of audio: 1.3-1.8x faster; 32 channels 3-5x slower; 16 channels slower for
# 7 and 11 taps and for the 512-1090 input-channel 2/3-tap convs (up to 1.25x slower).
WIDE_CHANNEL_TILE = 16
WIDE_TILE_MAX_TAPS = 3
WIDE_TILE_MAX_CIN = 256
MAX_UNROLLED_TAPS = 32


def _vars_in(expr) -> set:
    from tvm.tirx.analysis import undefined_vars

    return set(undefined_vars(expr))


def _const(extent):
    from tvm import tirx

    return int(extent.value) if isinstance(extent, tirx.IntImm) else None


def _channel_tile(taps: int, cout, cin) -> int | None:
    """Output channels unrolled beside the taps (None: no tiling)."""
    wide = 1 < taps <= WIDE_TILE_MAX_TAPS and cin is not None and cin <= WIDE_TILE_MAX_CIN
    for tile in ((WIDE_CHANNEL_TILE, CHANNEL_TILE) if wide else (CHANNEL_TILE,)):
        if cout is not None and cout % tile == 0 and cout > tile:
            return tile
    return None


def _schedule_block(sch, block) -> bool:
    b = sch.get(block)
    kinds = [int(iv.iter_type) for iv in b.iter_vars]
    if COMM_REDUCE not in kinds or any(k not in (DATA_PAR, COMM_REDUCE) for k in kinds):
        return False
    n_sp = kinds.index(COMM_REDUCE)
    if n_sp == 0 or any(k != COMM_REDUCE for k in kinds[n_sp:]):
        return False  # not "spatial..., reduction..."
    loops = sch.get_loops(block)
    if len(loops) != len(kinds):
        return False
    # (schedule primitives keep the semantics whatever the bindings are: a block whose iters
    # are not one loop each in order is at worst scheduled less well)
    inner = b.iter_vars[n_sp - 1].var
    if not any(inner in _vars_in(r.region[-1].min) for r in b.reads):
        return False  # the innermost spatial index does not stream any input
    if not any(inner in _vars_in(w.region[-1].min) for w in b.writes):
        return False
    spatial, reduction = list(loops[:n_sp]), list(loops[n_sp:])
    extents = [_const(sch.get(lp).extent) for lp in loops]
    taps = extents[-1]
    conv_like = n_sp == 3 and len(reduction) == 2 and taps is not None and taps <= MAX_UNROLLED_TAPS
    if conv_like:
        nn, ff, yy = spatial
        rc, ry = reduction
        cout = extents[1]
        tile = _channel_tile(taps, cout, extents[3])
        if tile:
            ffo, ffi = sch.split(ff, [None, tile])
            sch.reorder(nn, ffo, rc, yy, ffi, ry)
            sch.parallel(sch.fuse(nn, ffo))  # before decompose_reduction: parallel needs the init
            sch.unroll(ffi)
        else:
            sch.reorder(nn, ff, rc, yy, ry)
            sch.parallel(sch.fuse(nn, ff))
        sch.unroll(ry)
        sch.decompose_reduction(block, rc)
        return True
    sch.reorder(*spatial[:-1], *reduction, spatial[-1])
    outer = spatial[:-1]
    if outer:
        sch.parallel(sch.fuse(*outer) if len(outer) > 1 else outer[0])
    sch.decompose_reduction(block, reduction[0])
    return True


def _spatial(sch, block) -> bool:
    return all(int(iv.iter_type) == DATA_PAR for iv in sch.get(block).iter_vars)


def _inline_elementwise(sch, blocks) -> list:
    """Inlines spatial blocks whose consumers are all spatial blocks (elementwise chains such as
    AdaIN + Snake: mean -> sqrt -> divide -> multiply -> sin -> power -> add), so a chain is one
    pass over memory instead of one full-size intermediate per step. Producers of reductions
    (the conv's padded input) are kept: inlined, their bounds check would sit in the conv's inner
    loop. Returns the blocks left."""
    from tvm import s_tir

    left = []
    for block in blocks:
        consumers = sch.get_consumers(block)
        if _spatial(sch, block) and consumers and all(_spatial(sch, c) for c in consumers):
            try:
                sch.compute_inline(block)
                continue
            except s_tir.ScheduleError:
                pass
        left.append(block)
    return left


def _parallel_outer(sch, block) -> bool:
    """Runs the loops outside the innermost one in parallel (elementwise blocks and reductions
    over the innermost axis, e.g. means; they were single-threaded)."""
    loops = sch.get_loops(block)
    if len(loops) < 2 or len(loops) != len(sch.get(block).iter_vars):
        return False
    kinds = [int(iv.iter_type) for iv in sch.get(block).iter_vars]
    n_sp = kinds.index(COMM_REDUCE) if COMM_REDUCE in kinds else len(kinds) - 1
    outer = list(loops[:n_sp])
    if not outer or any(k != DATA_PAR for k in kinds[:n_sp]):
        return False
    fused = sch.fuse(*outer) if len(outer) > 1 else outer[0]
    if _const(sch.get(fused).extent) == 1:
        return False
    sch.parallel(fused)
    return True


def schedule_func(func):
    """`func` with its conv/matmul reduction blocks scheduled (unchanged if none qualify)."""
    from tvm import s_tir

    if func.attrs is not None and func.attrs.get("tirx.is_scheduled", False):
        return func, False
    try:
        sch = s_tir.Schedule(func)
        blocks = sch.get_child_blocks(sch.get_sblock("root"))
    except Exception:  # noqa: BLE001 - no root block: not a block-form function
        return func, False
    changed = False
    trial = sch.copy()
    try:
        left = _inline_elementwise(trial, trial.get_child_blocks(trial.get_sblock("root")))
        if len(left) < len(blocks):
            sch, blocks, changed = trial, left, True
    except s_tir.ScheduleError:
        pass
    for block in blocks:
        for step in (_schedule_block, _parallel_outer):
            trial = sch.copy()
            try:
                if step(trial, block):
                    sch = trial
                    changed = True
                    break
            except s_tir.ScheduleError:
                continue
    return sch.mod["main"], changed


def schedule_reductions():
    """Module pass: schedule_func on every PrimFunc."""
    import tvm

    @tvm.transform.module_pass(opt_level=0, name="edge_veda_schedule_reductions")
    def apply(mod, _ctx):
        updates = {}
        for gv, func in mod.functions.items():
            if isinstance(func, tvm.tirx.PrimFunc):
                new, changed = schedule_func(func)
                if changed:
                    updates[gv] = new
        for gv, func in updates.items():
            mod[gv] = func
        return mod

    return apply
