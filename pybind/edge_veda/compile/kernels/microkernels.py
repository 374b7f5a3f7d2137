"""A Relax pass that runs stride-1 1-D convolutions and matrix products with a weight matrix as
hand-written, register-blocked TIR kernels.

TVM 0.27 legalizes `relax.nn.conv1d` as one reduction block; cpu_schedule.py can reorder it so
the time axis vectorizes, but the output accumulates through memory (every input channel re-reads
and re-writes the output rows) and the symbolic time axis cannot be tiled without a predicate
that stops vectorization (TVM's `split` on a symbolic extent; `loop_partition` refuses it).
Kokoro's vocoder convs ran at 44-76 GMAC/s that way: 40-68% of this machine's measured fp32 peak
(112 GMAC/s, 2 cores, AVX-512 FMA).

The kernel here is written directly in TIR, the standard direct-convolution micro-kernel:

* the output is cut into blocks of `channels` output channels x `time` samples whose
  accumulators stay in vector registers for the whole reduction (input channels x taps): each
  step loads `time / lanes` input vectors, broadcasts `channels` weights and issues
  channels x time / lanes FMAs (4 x 4 on AVX-512: 16 of the 32 registers accumulate);
* the symbolic time axis needs no predicate: the input is copied once into a zero-padded buffer
  long enough for whole blocks (this is the convolution's padding too), and only the store of
  the last block is cut to the output length (a loop of variable trip count);
* blocks are ordered time-major so consecutive blocks on a thread reuse the same input tile from
  L1/L2 across all output channels; the blocks run in parallel (TVM's thread pool).

Measured (2 threads, 19 s of audio shapes): 11 taps x 128 channels 72 -> 101 GMAC/s, 7 taps x 256
channels 70 -> 100, 3 taps x 128 channels 48 -> 77. Wider register tiles (6 x 48, 8 x 48) spill
and run 3-4x slower; ordering blocks channel-major streams the input from L3 (3x slower).

A conv's bias (the ONNX importer's add(conv, reshape(bias, [1, C, 1]))) is folded into the kernel:
the accumulators start from it, so the biased output is written once instead of conv output +
a separate add pass (~3% of stage B; one full-size tensor fewer per conv).

Each parallel job runs BLOCKS_PER_JOB consecutive blocks: TVM lowers an allocation inside a host
function's parallel loop to TVMBackendAllocWorkspace/FreeWorkspace (its stack-allocation rule needs
a constant device type the packed-function lowering does not give it), so an accumulator tile
allocated per block cost a workspace round trip per 4 x 16 block: ~5% of a synthesis on a 2-core
AVX2 CPU (perf: GetAPI, FreeWorkspace, Pool::Free). Per job of 4 blocks it is a quarter of that, and
consecutive blocks of one job reuse the same weights from L1. (A matmul job is a whole column strip.)

Matrix products x[.., M, K] @ w[K, N] (ALBERT's projections and feed-forward in stage A, LSTM
input projections) are the same micro-kernel with 4 rows of x in place of output channels and 16
(AVX2) or 64 (AVX-512) columns of w in place of time samples. x is copied into a buffer of whole
row blocks; each parallel job is one column strip of w, which it first copies into a contiguous
panel and then runs every row block against. Read in place, a strip walks w with a stride of N
floats per k: at N = 2048 (8 KB, a multiple of 4 KB) every row of the strip falls in the same L1
and L2 sets, and the 768x2048 product ran at 24-26 GMAC/s against 55-65 for 768x768 (2-core Zen 3);
with the panel it runs at 43-55, and 2048x768 at 25-61 instead of 17-39 (M = 25 / 250 rows).
The panel costs one read of w per call, what any kernel without a persistent packed copy reads.

Applies to conv1d with groups 1, stride 1, batch 1, float32, NCW/OIW layouts and a static
weight shape, and to matmul of float32 x (rank 2 or 3, leading dims 1) by a static 2-D float32
w whose column count is a multiple of the vector width; everything else keeps the default
legalization. Sums run in a different order
than the reference loop (float rounding differs at the 1e-7 level).
"""
from __future__ import annotations


BLOCKS_PER_JOB = 4  # register blocks per parallel job (one accumulator allocation each)


def _ints(values) -> list[int]:
    return [int(v) for v in values]


def register_tile(target, c_out: int) -> tuple[int, int]:
    """(output channels, time samples) per register block for `target`: half of the vector
    registers accumulate (32 on AVX-512 and AArch64, 16 on AVX2 and 32-bit ARM)."""
    from tvm.target import codegen

    def has(feature: str) -> bool:
        try:
            return bool(codegen.target_has_features(feature, target))
        except Exception:  # noqa: BLE001 - a target of another architecture
            return False

    triple = str(target.attrs.get("mtriple", "")) if target.attrs else ""
    if has("avx512f"):
        lanes, registers = 16, 32
    elif has("avx2"):
        lanes, registers = 8, 16
    elif triple.startswith(("aarch64", "arm64")):
        lanes, registers = 4, 32
    else:
        lanes, registers = 4, 16
    channels = next(c for c in (4, 2, 1) if c_out % c == 0)
    vectors = max(1, registers // 2 // channels)
    return channels, vectors * lanes


def make_kernel(c_in: int, c_out: int, taps: int, dilation: int, pad_left: int, channels: int, time: int,
                has_bias: bool = False):
    """The PrimFunc y[1, c_out, t_out] = conv1d(x[1, c_in, t_in], w[c_out, c_in, taps]) (stride 1,
    zero padding `pad_left` on the left; t_out is the output buffer's length), plus
    bias[1, c_out, 1] when `has_bias` (the accumulators start from it: no separate pass)."""
    from tvm.script import tirx as T

    span = dilation * (taps - 1)
    groups = c_out // channels

    head = (pad_left + time - 1) // time  # blocks whose window starts in the left padding

    @T.macro
    def accumulate(src, row, start, w, acc, o0):
        """acc[o, lane] += sum over input channels and taps of src[row, rc, start + k*dilation + lane]
        * w[o0 + o, rc, k]: the register-blocked reduction, reading a window of `src` in place."""
        for rc in range(c_in):
            for k in T.unroll(taps):
                for o in T.unroll(channels):
                    for lane in T.vectorized(time):
                        acc[o, lane] = acc[o, lane] + src[row, rc, start + k * dilation + lane] * w[o0 + o, rc, k]

    @T.macro
    def direct(x, w, bias, y, t_in, t_out):
        blocks = T.meta_var((t_out + time - 1) // time)
        # Blocks whose window (time + span samples from t0 - pad_left) lies inside x read x in place;
        # the few others (`head` at the start, those from `tail` on at the end) read a zero-padded
        # copy of their own window, made once here: a padded copy of the whole input cost a pass
        # over memory per conv (up to a quarter of a 3-tap conv's time at 48 kHz-rate lengths).
        tail = T.meta_var(T.min(blocks, T.max(head, T.floordiv(t_in + pad_left - span, time))))
        edges = T.meta_var(head + blocks - tail)
        windows = T.alloc_buffer((edges, c_in, time + span), "float32")
        for slot in T.parallel(edges):
            for rc in range(c_in):
                for j in range(time + span):
                    windows[slot, rc, j] = T.if_then_else(
                        pad_left <= T.Select(slot < head, slot, slot - head + tail) * time + j
                        and T.Select(slot < head, slot, slot - head + tail) * time + j < t_in + pad_left,
                        x[0, rc, T.Select(slot < head, slot, slot - head + tail) * time + j - pad_left],
                        T.float32(0))
        runs = T.meta_var((blocks + BLOCKS_PER_JOB - 1) // BLOCKS_PER_JOB)
        for job in T.parallel(groups * runs):
            o0 = T.meta_var(job % groups * channels)
            first = T.meta_var(job // groups * BLOCKS_PER_JOB)
            acc = T.alloc_buffer((channels, time), "float32", scope="local")  # once per job: see above
            for block in range(T.min(BLOCKS_PER_JOB, blocks - first)):
                t0 = T.meta_var((first + block) * time)
                for o in T.unroll(channels):
                    for lane in T.vectorized(time):
                        if has_bias:  # a Python bool: decided when the kernel is written
                            acc[o, lane] = bias[0, o0 + o, 0]
                        else:
                            acc[o, lane] = T.float32(0)
                if first + block < head:
                    accumulate(windows, first + block, 0, w, acc, o0)
                elif first + block < tail:
                    accumulate(x, 0, t0 - pad_left, w, acc, o0)
                else:
                    accumulate(windows, first + block - tail + head, 0, w, acc, o0)
                for o in T.unroll(channels):
                    for lane in range(T.min(time, t_out - t0)):
                        y[0, o0 + o, t0 + lane] = acc[o, lane]

    if has_bias:
        @T.prim_func
        def conv1d_direct_bias(var_x: T.handle, w: T.Buffer((c_out, c_in, taps), "float32"),
                               bias: T.Buffer((T.int64(1), c_out, T.int64(1)), "float32"), var_y: T.handle):
            T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
            t_in = T.int64()
            t_out = T.int64()
            x = T.match_buffer(var_x, (T.int64(1), c_in, t_in), "float32")
            y = T.match_buffer(var_y, (T.int64(1), c_out, t_out), "float32")
            direct(x, w, bias, y, t_in, t_out)

        return conv1d_direct_bias

    @T.prim_func
    def conv1d_direct(var_x: T.handle, w: T.Buffer((c_out, c_in, taps), "float32"), var_y: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        t_in = T.int64()
        t_out = T.int64()
        x = T.match_buffer(var_x, (T.int64(1), c_in, t_in), "float32")
        y = T.match_buffer(var_y, (T.int64(1), c_out, t_out), "float32")
        direct(x, w, None, y, t_in, t_out)

    return conv1d_direct


def make_matmul_kernel(k_dim: int, n_dim: int, rank: int, rows: int, cols: int):
    """The PrimFunc y[.., m, n_dim] = x[.., m, k_dim] @ w[k_dim, n_dim] (leading dims 1, `rank` 2
    or 3; m is the buffers' length)."""
    from tvm.script import tirx as T

    groups = n_dim // cols
    lead = (T.int64(1),) * (rank - 2)
    zero = (T.int64(0),) * (rank - 2)

    @T.prim_func
    def matmul_blocked(var_x: T.handle, w: T.Buffer((k_dim, n_dim), "float32"), var_y: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        m = T.int64()
        x = T.match_buffer(var_x, (*lead, m, k_dim), "float32")
        y = T.match_buffer(var_y, (*lead, m, n_dim), "float32")
        blocks = T.meta_var((m + rows - 1) // rows)
        xp = T.alloc_buffer((blocks * rows, k_dim), "float32")
        for i in T.parallel(blocks * rows):
            for k in range(k_dim):
                xp[i, k] = T.if_then_else(i < m, x[(*zero, i, k)], T.float32(0))
        for strip in T.parallel(groups):
            c0 = T.meta_var(strip * cols)
            acc = T.alloc_buffer((rows, cols), "float32", scope="local")  # once per job: see above
            panel = T.alloc_buffer((k_dim, cols), "float32")  # the strip of w, contiguous: see above
            for k in range(k_dim):
                for lane in T.vectorized(cols):
                    panel[k, lane] = w[k, c0 + lane]
            for block in range(blocks):
                r0 = T.meta_var(block * rows)
                for o in T.unroll(rows):
                    for lane in T.vectorized(cols):
                        acc[o, lane] = T.float32(0)
                for k in range(k_dim):
                    for o in T.unroll(rows):
                        for lane in T.vectorized(cols):
                            acc[o, lane] = acc[o, lane] + xp[r0 + o, k] * panel[k, lane]
                for o in T.unroll(rows):
                    if r0 + o < m:
                        for lane in T.vectorized(cols):
                            y[(*zero, r0 + o, c0 + lane)] = acc[o, lane]

    return matmul_blocked


def register_blocked_kernels(target, int8_conv=None):
    """Module pass (before legalization): eligible conv1d and matmul -> call_tir of make_kernel /
    make_matmul_kernel, see above. An eligible conv with an even input channel count whose weight
    is a function parameter for which `int8_conv(function name, weight name)` is true runs
    int8_conv.make_int8_kernel instead (int8 weights, 16-bit activations: `edge-veda compile
    --precision int8`; the recipe names which convs)."""
    import tvm
    from tvm import relax

    from ..relax_passes.rewrite_pass import rewrite_pass
    from .int8_conv import int8_tile, make_int8_kernel

    op_conv = tvm.ir.Op.get("relax.nn.conv1d")
    op_add = tvm.ir.Op.get("relax.add")
    op_call_tir = tvm.ir.Op.get("relax.call_tir")
    op_matmul = tvm.ir.Op.get("relax.matmul")

    @relax.expr_functor.mutator
    class Rewriter(relax.PyExprMutator):
        def __init__(self, mod):
            super().__init__(mod)
            self.kernels = {}
            self.convs = {}  # conv kernel GlobalVar -> its key (for folding a following bias add)
            self.function = ""  # the Relax function being visited (rewrite_pass sets it)

        def visit_call_(self, call):  # noqa: N802 - TVM's visitor name
            call = super().visit_call_(call)
            if not isinstance(call.op, tvm.ir.Op):
                return call
            new = self._direct(call) if call.op.same_as(op_conv) else \
                self._matmul(call) if call.op.same_as(op_matmul) else \
                self._bias(call) if call.op.same_as(op_add) else None
            return call if new is None else new

        def _kernel(self, key, name, make):
            gv = self.kernels.get(key)
            if gv is None:
                gv = self.builder_.add_func(make(*key[1:]).with_attr("global_symbol", name), name)
                self.kernels[key] = gv
            return gv

        def _matmul(self, call):
            x, w = call.args
            xsi, wsi, osi = x.ty, w.ty, call.ty
            if str(call.attrs.out_dtype) not in ("", "None", "void", "float32"):
                return None
            if not all(isinstance(si, relax.TensorType) and si.shape is not None and str(si.dtype) == "float32"
                       for si in (xsi, wsi, osi)) or wsi.ndim != 2 or xsi.ndim not in (2, 3) or osi.ndim != xsi.ndim:
                return None
            try:
                k_dim, n_dim = _ints(wsi.shape.values)
                lead = _ints(xsi.shape.values[:-2])
            except (TypeError, ValueError):
                return None
            rows, cols = register_tile(target, 4)
            m = xsi.shape.values[-2]
            if any(d != 1 for d in lead) or (isinstance(m, tvm.tirx.IntImm) and int(m) < rows):
                return None  # batched, or a vector: left to the default
            while cols > 1 and n_dim % cols:
                cols //= 2
            if cols < 4:
                return None
            key = ("matmul", k_dim, n_dim, xsi.ndim, rows, cols)
            gv = self._kernel(key, f"matmul_blocked_{k_dim}x{n_dim}" + ("" if xsi.ndim == 3 else "_2d"), make_matmul_kernel)
            return relax.call_tir(gv, [x, w], osi)

        def _direct(self, call):
            a = call.attrs
            data, weight = call.args
            if int(a.groups) != 1 or _ints(a.strides) != [1] or a.data_layout != "NCW" or \
                    a.kernel_layout != "OIW" or a.out_layout != "NCW" or str(a.out_dtype) not in ("", "None", "void", "float32"):
                return None
            wsi, dsi, osi = weight.ty, data.ty, call.ty
            if not all(isinstance(si, relax.TensorType) and si.shape is not None and si.ndim == 3
                       and str(si.dtype) == "float32" for si in (wsi, dsi, osi)):
                return None
            try:
                c_out, c_in, taps = _ints(wsi.shape.values)
                batch = int(dsi.shape.values[0])
            except (TypeError, ValueError):
                return None  # symbolic weight shape or batch
            if batch != 1:
                return None
            (dilation,) = _ints(a.dilation)
            pad_left = _ints(a.padding)[0]
            if int8_conv is not None and c_in % 2 == 0 and isinstance(weight, relax.Var) and \
                    int8_conv(self.function, str(weight.name)):
                channels, time, intrinsic, lanes = int8_tile(target, c_out)
                key = ("conv1d_int8", c_in, c_out, taps, dilation, pad_left, channels, time, False, intrinsic, lanes)
                gv = self._kernel(key, f"conv1d_int8_{c_out}x{c_in}x{taps}_d{dilation}_p{pad_left}", make_int8_kernel)
                self.convs[gv] = key
                return relax.call_tir(gv, [data, weight], osi)
            channels, time = register_tile(target, c_out)
            key = ("conv1d", c_in, c_out, taps, dilation, pad_left, channels, time)
            gv = self._kernel(key, f"conv1d_direct_{c_out}x{c_in}x{taps}_d{dilation}_p{pad_left}", make_kernel)
            self.convs[gv] = key
            return relax.call_tir(gv, [data, weight], osi)

        def _bias(self, call):
            """add(conv, bias[1, c_out, 1]) of a conv made above -> the conv kernel with the bias
            as its accumulators' start (the unbiased conv is left unused and dropped)."""
            for conv_var, bias in (call.args, call.args[::-1]):
                if not isinstance(conv_var, relax.Var):
                    continue
                conv = self.lookup_binding(conv_var)
                if not (isinstance(conv, relax.Call) and conv.op.same_as(op_call_tir)
                        and conv.args[0] in self.convs):
                    continue
                key = self.convs[conv.args[0]]
                bsi = bias.ty
                if not (isinstance(bsi, relax.TensorType) and bsi.shape is not None and str(bsi.dtype) == "float32"):
                    continue
                try:
                    if _ints(bsi.shape.values) != [1, key[2], 1]:
                        continue  # (so the sum has the conv's shape)
                except (TypeError, ValueError):
                    continue
                name = conv.args[0].name_hint + "_bias"
                if key[0] == "conv1d_int8":  # (..., has_bias, intrinsic, lanes)
                    gv = self._kernel(key[:8] + (True,) + key[9:], name, make_int8_kernel)
                else:
                    gv = self._kernel(("conv1d_bias",) + key[1:] + (True,), name, make_kernel)
                data, weight = conv.args[1].fields
                return relax.call_tir(gv, [data, weight, bias], call.ty)
            return None

    return rewrite_pass("edge_veda_register_blocked_kernels", Rewriter, drop_unused=True)
