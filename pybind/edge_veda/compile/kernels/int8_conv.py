"""The int8 vocoder's convolution: int8 weights (per output channel), 16-bit activations
(per tensor, per call), exact int32 accumulation, float32 output (`--precision int8`).

Why this shape of quantization (issue 23):

* Kokoro's vocoder convs are compute-bound (microkernels.py runs them within ~10-15% of the fp32
  FMA peak), so a faster conv needs cheaper multiply-adds. x86's `pmaddwd` (AVX2, AVX-512BW)
  multiplies 16-bit pairs and adds each pair into one int32 lane: 16 (AVX2) or 32 (AVX-512)
  multiply-adds per instruction where an fp32 FMA does 8 or 16.
* Weights are quantized per output channel to [-127, 127]: the accuracy loss kokoro-pi measured
  on this model for per-channel int8 weights (2.2 dB log-spectral distance, inaudible), while
  per-tensor int8 *activations* cost 4.8 dB. Activations therefore keep 16-bit integers with one
  scale per tensor, computed on every call from the tensor's largest magnitude (no calibration
  set: Kokoro's activations vary by voice and text).
* The int32 accumulator is exact: the activation range is chosen per conv so that no sum can
  overflow, |sum| <= c_in * taps * 127 * QX < 2^31 (`activation_levels`). For the vocoder's widest
  reduction (256 channels x 11 taps) that is QX = 6,004: ~12.5 bits, ~0.017% of the largest
  magnitude per step.
* Weights stay float32 in the weights file and are quantized inside each call: O(weights) work
  beside the conv's O(weights x samples), one file for both precisions.

Layout: the activation is written as int16 pairs of adjacent input channels, xq[c_in/2, 2*T]
(xq[r, 2j + p] = channel 2r + p at padded time j), so one vector load gives `lanes` time samples x
2 channels; a weight pair (channels 2r, 2r + 1 of one output channel and tap) is one int32,
broadcast to every lane and reinterpreted as 16-bit pairs. `pmaddwd` of the two is exactly the
two-channel step of the reduction for `lanes` samples. The padded copy is the quantization pass
itself (zeros outside the input), so every register block reads it in place.

Register blocks, job sizes and the time-major block order are microkernels.py's (same reasons).
On targets without AVX2/AVX-512BW (aarch64, 32-bit ARM, generic x86) the same kernel is written
with plain int32 arithmetic: exact and identical results, LLVM's own vectorization (NEON `smlal`).
"""
from __future__ import annotations

from .microkernels import BLOCKS_PER_JOB, register_tile

WEIGHT_LEVELS = 127  # weights in [-127, 127] (int8, symmetric)
INT32_MAX = 2**31 - 1
# Taps unrolled up to this many: LLVM reassociates the exact integer sums of a fully unrolled 7- or
# 11-tap step across taps and spills accumulators (the fp32 kernel's float sums it cannot reorder).
UNROLL_TAPS = 3
PEAK_LANES = 16  # independent running maxima per channel when finding the activation's scale


def activation_levels(c_in: int, taps: int) -> int:
    """QX: activations are quantized to [-QX, QX] with QX <= 32767 (int16) and small enough that
    c_in * taps products of |w| <= 127 and |x| <= QX cannot overflow the int32 accumulator."""
    return min(32767, INT32_MAX // (c_in * taps * WEIGHT_LEVELS))


def pmaddwd(target) -> tuple[str, int] | None:
    """(LLVM intrinsic, int32 lanes) of x86's pmaddwd at the target's vector width, or None."""
    from tvm.target import codegen

    def has(feature: str) -> bool:
        try:
            return bool(codegen.target_has_features(feature, target))
        except Exception:  # noqa: BLE001 - a target of another architecture
            return False

    if has("avx512bw"):
        return "llvm.x86.avx512.pmaddw.d.512", 16
    if has("avx2"):
        return "llvm.x86.avx2.pmadd.wd", 8
    return None


def make_int8_kernel(c_in: int, c_out: int, taps: int, dilation: int, pad_left: int, channels: int, time: int,
                     has_bias: bool, intrinsic: str | None, lanes: int):
    """The PrimFunc y[1, c_out, t_out] ~= conv1d(x[1, c_in, t_in], w[c_out, c_in, taps]) (+ bias)
    computed as described above (c_in even; `intrinsic` None: the portable form)."""
    from tvm.script import tirx as T

    assert c_in % 2 == 0 and time % lanes == 0
    pairs = c_in // 2
    span = dilation * (taps - 1)
    groups = c_out // channels
    qx = activation_levels(c_in, taps)

    @T.macro
    def tap(xq, wq, acc, r, t0, o0, k):
        """acc[o, :] += channels 2r, 2r+1 of tap k, for output channels o0..o0+channels."""
        for o in T.unroll(channels):
            if intrinsic is not None:  # a Python value: decided when the kernel is written
                for v in T.unroll(time // lanes):
                    acc[o, T.ramp(v * lanes, 1, lanes)] = acc[o, T.ramp(v * lanes, 1, lanes)] + \
                        T.call_llvm_pure_intrin(
                            T.llvm_lookup_intrinsic_id(intrinsic),
                            xq[r, T.ramp((t0 + k * dilation + v * lanes) * 2, 1, 2 * lanes)],
                            T.reinterpret(T.broadcast(wq[o0 + o, r, k], lanes), dtype=f"int16x{2 * lanes}"),
                            dtype=f"int32x{lanes}")
            else:
                for lane in T.vectorized(time):
                    acc[o, lane] = acc[o, lane] \
                        + T.Cast("int32", xq[r, (t0 + k * dilation + lane) * 2]) \
                        * T.shift_right(T.shift_left(wq[o0 + o, r, k], 16), 16) \
                        + T.Cast("int32", xq[r, (t0 + k * dilation + lane) * 2 + 1]) \
                        * T.shift_right(wq[o0 + o, r, k], 16)

    @T.macro
    def step(xq, wq, acc, r, t0, o0):
        """Every tap of input channels 2r, 2r+1."""
        if taps <= UNROLL_TAPS:  # a Python bool
            for k in T.unroll(taps):
                tap(xq, wq, acc, r, t0, o0, k)
        else:
            for k in range(taps):
                tap(xq, wq, acc, r, t0, o0, k)

    @T.macro
    def body(x, w, bias, y, t_in, t_out):
        blocks = T.meta_var((t_out + time - 1) // time)
        padded = T.meta_var(blocks * time + span)
        # The activation's scale: its largest magnitude. Per channel in parallel, each over PEAK_LANES
        # independent running maxima (one chain would wait on the max latency at every sample:
        # ~4 cycles per sample, as long as a 3-tap conv's own work at 128 channels), then across.
        peaks = T.alloc_buffer((c_in, PEAK_LANES), "float32")
        for rc in T.parallel(c_in):
            for lane in T.vectorized(PEAK_LANES):
                peaks[rc, lane] = T.float32(0)
            for j in range(t_in // PEAK_LANES):
                for lane in T.vectorized(PEAK_LANES):
                    peaks[rc, lane] = T.max(peaks[rc, lane], T.abs(x[0, rc, j * PEAK_LANES + lane]))
            for j in range(t_in % PEAK_LANES):
                peaks[rc, 0] = T.max(peaks[rc, 0], T.abs(x[0, rc, t_in // PEAK_LANES * PEAK_LANES + j]))
        scale = T.alloc_buffer((2,), "float32")  # [scale, 1 / scale]
        scale[0] = T.float32(0)
        for rc in range(c_in):
            for lane in range(PEAK_LANES):
                scale[0] = T.max(scale[0], peaks[rc, lane])
        scale[0] = T.Select(scale[0] > T.float32(0), scale[0] / T.float32(qx), T.float32(1))
        scale[1] = T.float32(1) / scale[0]
        # The padded pair-interleaved copy: zeros, the quantized input (a multiply by the
        # reciprocal, not a divide per sample), zeros.
        xq = T.alloc_buffer((pairs, padded * 2), "int16")
        for r in T.parallel(pairs):
            for j in range(pad_left * 2):
                xq[r, j] = T.int16(0)
            for j in range(t_in):
                for p in T.unroll(2):
                    xq[r, (pad_left + j) * 2 + p] = T.Cast(
                        "int16", T.floor(x[0, r * 2 + p, j] * scale[1] + T.float32(0.5)))
            for j in range((padded - pad_left - t_in) * 2):
                xq[r, (pad_left + t_in) * 2 + j] = T.int16(0)
        # Weights per output channel: scale wscale[o], pairs packed low (even channel) | high << 16.
        wscale = T.alloc_buffer((c_out, 2), "float32")  # [scale, 1 / scale]
        wpeaks = T.alloc_buffer((c_out, taps), "float32")
        wq = T.alloc_buffer((c_out, pairs, taps), "int32")
        for o in T.parallel(c_out):
            for k in range(taps):  # `taps` independent running maxima (see the activation's)
                wpeaks[o, k] = T.float32(0)
            for rc in range(c_in):
                for k in range(taps):
                    wpeaks[o, k] = T.max(wpeaks[o, k], T.abs(w[o, rc, k]))
            wscale[o, 0] = T.float32(0)
            for k in range(taps):
                wscale[o, 0] = T.max(wscale[o, 0], wpeaks[o, k])
            wscale[o, 0] = T.Select(wscale[o, 0] > T.float32(0), wscale[o, 0] / T.float32(WEIGHT_LEVELS), T.float32(1))
            wscale[o, 1] = T.float32(1) / wscale[o, 0]
            for r in range(pairs):
                for k in range(taps):
                    wq[o, r, k] = T.bitwise_or(
                        T.bitwise_and(T.Cast("int32", T.floor(w[o, r * 2, k] * wscale[o, 1] + T.float32(0.5))), 65535),
                        T.shift_left(T.Cast("int32", T.floor(w[o, r * 2 + 1, k] * wscale[o, 1] + T.float32(0.5))), 16))
        runs = T.meta_var((blocks + BLOCKS_PER_JOB - 1) // BLOCKS_PER_JOB)
        for job in T.parallel(groups * runs):
            o0 = T.meta_var(job % groups * channels)
            first = T.meta_var(job // groups * BLOCKS_PER_JOB)
            acc = T.alloc_buffer((channels, time), "int32", scope="local")  # once per job (microkernels.py)
            for block in range(T.min(BLOCKS_PER_JOB, blocks - first)):
                t0 = T.meta_var((first + block) * time)
                for o in T.unroll(channels):
                    for lane in T.vectorized(time):
                        acc[o, lane] = 0
                for r in range(pairs):
                    step(xq, wq, acc, r, t0, o0)
                for o in T.unroll(channels):
                    for lane in range(T.min(time, t_out - t0)):
                        if has_bias:  # a Python bool
                            y[0, o0 + o, t0 + lane] = T.Cast("float32", acc[o, lane]) * (scale[0] * wscale[o0 + o, 0]) \
                                + bias[0, o0 + o, 0]
                        else:
                            y[0, o0 + o, t0 + lane] = T.Cast("float32", acc[o, lane]) * (scale[0] * wscale[o0 + o, 0])

    if has_bias:
        @T.prim_func
        def conv1d_int8_bias(var_x: T.handle, w: T.Buffer((c_out, c_in, taps), "float32"),
                             bias: T.Buffer((T.int64(1), c_out, T.int64(1)), "float32"), var_y: T.handle):
            T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
            t_in = T.int64()
            t_out = T.int64()
            x = T.match_buffer(var_x, (T.int64(1), c_in, t_in), "float32")
            y = T.match_buffer(var_y, (T.int64(1), c_out, t_out), "float32")
            body(x, w, bias, y, t_in, t_out)

        return conv1d_int8_bias

    @T.prim_func
    def conv1d_int8(var_x: T.handle, w: T.Buffer((c_out, c_in, taps), "float32"), var_y: T.handle):
        T.func_attr({"tirx.is_scheduled": True, "tirx.noalias": True})
        t_in = T.int64()
        t_out = T.int64()
        x = T.match_buffer(var_x, (T.int64(1), c_in, t_in), "float32")
        y = T.match_buffer(var_y, (T.int64(1), c_out, t_out), "float32")
        body(x, w, None, y, t_in, t_out)

    return conv1d_int8


def int8_tile(target, c_out: int) -> tuple[int, int, str | None, int]:
    """(channels, time, intrinsic, lanes) for make_int8_kernel on `target`: microkernels.py's
    register tile (int32 accumulators are as wide as float32 ones)."""
    channels, time = register_tile(target, c_out)
    found = pmaddwd(target)
    if found is None:
        return channels, time, None, 1
    intrinsic, lanes = found
    return channels, max(time, lanes) // lanes * lanes, intrinsic, lanes
