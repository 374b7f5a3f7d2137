"""The int8 vocoder conv kernel beside the fp32 one on this CPU: GMAC/s of each, best of 7,
interleaved, same inputs (kernels/int8_conv.py vs kernels/microkernels.py, compiled for the
host CPU as `edge-veda compile` does).

    python tools/int8_conv_bench.py [C_IN,C_OUT,TAPS,DILATION,PAD,T_IN ...]

Default shapes: Kokoro's generator convs at their sample counts (128 channels at the last
stage's 43,200 samples with 11 and 3 taps, 256 channels x 7 taps at 7,200)."""
import sys
import time

import numpy as np
import tvm

from edge_veda.compile.build import host_target
from edge_veda.compile.kernels.int8_conv import int8_tile, make_int8_kernel
from edge_veda.compile.kernels.microkernels import make_kernel, register_tile

SHAPES = [(128, 128, 11, 1, 5, 43200), (128, 128, 3, 5, 5, 43200), (256, 256, 7, 1, 3, 7200)]


def main(argv):
    target = tvm.target.Target(host_target())
    print(f"target {target}")
    shapes = [tuple(int(v) for v in s.split(",")) for s in argv] or SHAPES
    for c_in, c_out, taps, dilation, pad, t_in in shapes:
        channels, time_, intrinsic, lanes = int8_tile(target, c_out)
        int8 = tvm.compile(make_int8_kernel(c_in, c_out, taps, dilation, pad, channels, time_, True, intrinsic, lanes),
                           target=target)
        fp32 = tvm.compile(make_kernel(c_in, c_out, taps, dilation, pad, *register_tile(target, c_out), True),
                           target=target)
        rng = np.random.default_rng(0)
        t_out = t_in + 2 * pad - dilation * (taps - 1)
        args = [tvm.runtime.tensor(a, tvm.cpu()) for a in (
            rng.standard_normal((1, c_in, t_in)).astype("float32"),
            rng.standard_normal((c_out, c_in, taps)).astype("float32"),
            rng.standard_normal((1, c_out, 1)).astype("float32"), np.zeros((1, c_out, t_out), "float32"))]
        best = {"int8": float("inf"), "fp32": float("inf")}
        for _ in range(7):
            for name, kernel in (("int8", int8), ("fp32", fp32)):
                start = time.perf_counter()
                kernel(*args)
                best[name] = min(best[name], time.perf_counter() - start)
        gmac = c_out * c_in * taps * t_out / 1e9
        print(f"{c_out}x{c_in}x{taps} dilation {dilation}, {t_in} samples: int8 {gmac / best['int8']:.1f}, "
              f"fp32 {gmac / best['fp32']:.1f} GMAC/s; int8 {best['fp32'] / best['int8']:.2f}x ({intrinsic or 'portable'})")


if __name__ == "__main__":
    main(sys.argv[1:])
