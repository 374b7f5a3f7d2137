"""The int8 vocoder's convolution kernel (compile/kernels/int8_conv.py), per target, against numpy.

Two references for each case:
* the same quantization done exactly by numpy (per-tensor activation scale, per-output-channel
  weight scales, round half up, int64 sums): the kernel must match it to float rounding. Any
  indexing, packing, padding or overflow defect moves an output by a whole quantization step or
  more, far past the tolerance;
* the float64 convolution of the unquantized inputs: the kernel must stay within the analytic
  bound of the quantization (half a step of each operand per product).

Targets: AVX2 (`-mcpu=haswell`, pmaddwd on 256 bits), AVX-512BW (`-mcpu=znver4`, pmaddwd on 512
bits; run where the CPU has it, otherwise compiled and its instructions checked), the portable
int32 form on generic x86-64, and aarch64 (`+neon`) built with the cross compiler and run under
qemu-aarch64 against the aarch64 wheels' runtime.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, require_tools
from test_cross_aarch64 import CROSS_TOOLS, arm64_runtime  # noqa: F401 - a fixture

tvm = pytest.importorskip("tvm")

HASWELL = {"kind": "llvm", "mcpu": "haswell"}
SKYLAKE_X = {"kind": "llvm", "mcpu": "skylake-avx512"}
ZNVER4 = {"kind": "llvm", "mcpu": "znver4"}
GENERIC = {"kind": "llvm", "mcpu": "x86-64"}
AARCH64 = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}

# (c_in, c_out, taps, dilation, pad_left, t_in, bias): Kokoro's generator convs (256 and 128
# channels, 3/7/11 taps, dilations 1/3/5, "same" padding), plus a small odd one: 2-channel
# register blocks, a time length neither the tile nor the peak search divides, asymmetric padding.
CASES = [
    (256, 256, 7, 1, 3, 300, True),
    (128, 128, 11, 5, 25, 517, True),
    (128, 128, 3, 3, 3, 257, False),
    (6, 6, 5, 2, 3, 37, True),
]


def case_id(case):
    c_in, c_out, taps, dilation, pad, t_in, bias = case
    return f"{c_in}x{c_out}x{taps}d{dilation}p{pad}t{t_in}{'b' if bias else ''}"


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def t_out_of(case) -> int:
    c_in, c_out, taps, dilation, pad, t_in, _ = case
    return t_in + 2 * pad - dilation * (taps - 1)


def inputs(case, seed=0, x=None):
    """x [1, c_in, t_in], w [c_out, c_in, taps] with per-channel magnitudes that differ by 100x
    (so one scale per tensor would not do), bias [1, c_out, 1]."""
    c_in, c_out, taps, dilation, pad, t_in, _ = case
    rng = np.random.default_rng(seed)
    if x is None:
        x = (rng.standard_normal((1, c_in, t_in)) * rng.uniform(0.1, 3, (1, c_in, 1))).astype(np.float32)
    w = (rng.standard_normal((c_out, c_in, taps)) * np.geomspace(0.001, 0.1, c_out)[:, None, None]).astype(np.float32)
    b = rng.standard_normal((1, c_out, 1)).astype(np.float32)
    return x, w, b


def padded(a, pad, t_out, span):
    out = np.zeros(a.shape[:-1] + (t_out + span,), dtype=a.dtype)
    n = min(a.shape[-1], t_out + span - pad)
    out[..., pad:pad + n] = a[..., :n]
    return out


def exact_quantized(case, x, w, b):
    """The kernel's arithmetic in numpy: float32 scales and rounding, exact int64 sums."""
    from edge_veda.compile.kernels.int8_conv import WEIGHT_LEVELS, activation_levels

    c_in, c_out, taps, dilation, pad, t_in, bias = case
    t_out, span = t_out_of(case), dilation * (taps - 1)
    peak = np.float32(np.abs(x).max())
    sx = peak / np.float32(activation_levels(c_in, taps)) if peak > 0 else np.float32(1)
    xq = np.floor(x[0] * (np.float32(1) / sx) + np.float32(0.5)).astype(np.int64)
    wpeak = np.abs(w).max(axis=(1, 2)).astype(np.float32)
    sw = np.where(wpeak > 0, wpeak / np.float32(WEIGHT_LEVELS), np.float32(1)).astype(np.float32)
    wq = np.floor(w * (np.float32(1) / sw)[:, None, None] + np.float32(0.5)).astype(np.int64)
    assert np.abs(xq).max() <= 32767 and np.abs(wq).max() <= WEIGHT_LEVELS
    xp = padded(xq, pad, t_out, span)
    acc = np.zeros((c_out, t_out), dtype=np.int64)
    for k in range(taps):
        acc += wq[:, :, k] @ xp[:, k * dilation:k * dilation + t_out]
    assert np.abs(acc).max() < 2**31  # activation_levels' promise: the int32 sums cannot overflow
    y = acc.astype(np.float32) * (sx * sw)[:, None]
    if bias:
        y = y + b[0]
    return y, sx, sw


def float64_conv(case, x, w, b):
    c_in, c_out, taps, dilation, pad, t_in, bias = case
    t_out, span = t_out_of(case), dilation * (taps - 1)
    xp = padded(x[0].astype(np.float64), pad, t_out, span)
    y = np.zeros((c_out, t_out))
    for k in range(taps):
        y += w[:, :, k].astype(np.float64) @ xp[:, k * dilation:k * dilation + t_out]
    return y + b[0] if bias else y


def quantization_bound(case, x, w, sx, sw):
    """Per output channel: |sum w x - sum (wq sw)(xq sx)| <= sum |w| sx/2 + sum |x| sw/2 + n sx sw/4."""
    c_in, c_out, taps, *_ = case
    n = c_in * taps
    return (np.abs(w).sum(axis=(1, 2)) * sx / 2 + n * float(np.abs(x).max()) * sw / 2 + n * sx * sw / 4)[:, None]


def kernel_for(case, target):
    from edge_veda.compile.kernels.int8_conv import int8_tile, make_int8_kernel

    c_in, c_out, taps, dilation, pad, _, bias = case
    channels, time, intrinsic, lanes = int8_tile(tvm.target.Target(target), c_out)
    return make_int8_kernel(c_in, c_out, taps, dilation, pad, channels, time, bias, intrinsic, lanes), intrinsic


def run_here(case, target, x, w, b):
    func, _ = kernel_for(case, target)
    lib = tvm.compile(func, target=tvm.target.Target(target))
    dev = tvm.cpu()
    y = tvm.runtime.tensor(np.full((1, case[1], t_out_of(case)), np.nan, np.float32), dev)
    args = [x, w, b] if case[6] else [x, w]
    lib(*[tvm.runtime.tensor(a, dev) for a in args], y)
    return y.numpy()[0]


def check(case, got, x, w, b):
    exact, sx, sw = exact_quantized(case, x, w, b)
    ref = float64_conv(case, x, w, b)
    scale = float(np.abs(ref).max())
    assert np.all(np.isfinite(got))
    # float rounding only: the scale product and the bias add (a quantization step is ~1e-4 of
    # the output's range at 12+ bits of activation; one wrong sum moves it by that or more)
    assert float(np.abs(got - exact).max()) <= 2e-6 * scale + 1e-6
    err = np.abs(got - ref)
    bound = quantization_bound(case, x, w, sx, sw)
    assert np.all(err <= bound * 1.001 + 1e-6 * scale), float((err / bound).max())
    # and small in practice: with Gaussian weights the largest of c_in * taps is ~3.2 sigma, so a
    # weight step is ~0.025 sigma and its rounding noise ~0.7% rms of the signal per channel
    signal = ref - b[0] if case[6] else ref
    rel = np.sqrt((err ** 2).mean(axis=1) / np.maximum((signal ** 2).mean(axis=1), 1e-30))
    assert float(rel.max()) < 2e-2, float(rel.max())
    return float(rel.max())


# (target, CPU flags it needs to run, the intrinsic int8_tile picks)
X86_TARGETS = [pytest.param(HASWELL, ("avx2", "fma"), "llvm.x86.avx2.pmadd.wd", id="avx2-haswell"),
               pytest.param(SKYLAKE_X, ("avx512bw",), "llvm.x86.avx512.pmaddw.d.512", id="avx512-skylake"),
               pytest.param(ZNVER4, ("avx512bw", "avx512_vnni"), "llvm.x86.avx512.pmaddw.d.512", id="vnni-znver4"),
               pytest.param(GENERIC, (), None, id="portable-x86-64")]


@pytest.mark.parametrize("target, needs, intrinsic", X86_TARGETS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_int8_conv_on_x86_matches_numpy(case, target, needs, intrinsic):
    _, chosen = kernel_for(case, target)
    assert chosen == intrinsic  # the target takes the kernel form it is meant to
    missing = [flag for flag in needs if flag not in cpu_flags()]
    if missing:
        pytest.skip(f"this CPU has no {', '.join(missing)} (test_x86_kernels_multiply_on_the_widest_registers "
                    f"checks the code)")
    x, w, b = inputs(case)
    rel = check(case, run_here(case, target, x, w, b), x, w, b)
    print(f"{target.get('mcpu')} {case_id(case)}: int8 vs float64, worst channel's relative rms error {rel:.2e}")


def test_x86_kernels_multiply_on_the_widest_registers():
    """Where the CPU lacks AVX-512 its kernels cannot run here; their code must still multiply-add
    16-bit pairs on zmm registers, fused with the accumulation into VNNI's vpdpwssd by LLVM where
    the target has AVX512-VNNI (znver4), and on ymm with AVX2."""
    for target, instruction in ((HASWELL, "vpmaddwd\t%ymm"), (SKYLAKE_X, "vpmaddwd\t%zmm"),
                                (ZNVER4, "vpdpwssd\t%zmm")):
        func, _ = kernel_for(CASES[1], target)
        asm = tvm.compile(func, target=tvm.target.Target(target)).mod.inspect_source("asm")
        assert instruction in asm, (target, instruction)


@pytest.mark.parametrize("target", [HASWELL, GENERIC], ids=["avx2", "portable"])
def test_edge_cases(target):
    """Zeros (no scale to find: the bias, exactly), and the widest reduction Kokoro has (256
    channels x 11 taps) at full scale in both operands: the sums reach their bound without overflow."""
    if target is HASWELL and "avx2" not in cpu_flags():
        pytest.skip("this CPU has no avx2")
    case = (256, 8, 11, 1, 5, 64, True)
    x, w, b = inputs(case, x=np.zeros((1, 256, 64), np.float32))
    assert np.array_equal(run_here(case, target, x, w, b), np.broadcast_to(b[0], (8, 64)))
    x = np.ones((1, 256, 64), np.float32)
    w = np.ones((8, 256, 11), np.float32)
    w[1::2] *= -1
    got = run_here(case, target, x, w, b)
    check(case, got, x, w, b)
    assert abs(got[0, 32] - (256 * 11 + b[0, 0, 0])) < 1e-3  # an interior sample: every product counted
    assert abs(got[1, 32] - (-256 * 11 + b[0, 1, 0])) < 1e-3


HARNESS = r"""
// kernel.so c_in c_out taps t_in t_out bias(0/1) dir: reads dir/{x,w,b}.f32, writes dir/y.f32
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

static std::vector<float> load(const std::string& path, size_t n) {
    std::vector<float> v(n);
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f || std::fread(v.data(), sizeof(float), n, f) != n) { std::fprintf(stderr, "cannot read %s\n", path.c_str()); std::exit(2); }
    std::fclose(f);
    return v;
}

static DLTensor tensor(std::vector<float>& v, int64_t* shape) {
    DLTensor t{};
    t.data = v.data();
    t.device = DLDevice{kDLCPU, 0};
    t.ndim = 3;
    t.dtype = DLDataType{kDLFloat, 32, 1};
    t.shape = shape;
    return t;
}

int main(int argc, char** argv) {
    if (argc != 9) return 2;
    const int64_t c_in = std::atoll(argv[2]), c_out = std::atoll(argv[3]), taps = std::atoll(argv[4]),
                  t_in = std::atoll(argv[5]), t_out = std::atoll(argv[6]);
    const bool bias = argv[7][0] == '1';
    const std::string dir = argv[8];
    std::vector<float> x = load(dir + "/x.f32", c_in * t_in), w = load(dir + "/w.f32", c_out * c_in * taps),
                       b = load(dir + "/b.f32", c_out), y(c_out * t_out, 0.0f);
    int64_t xs[] = {1, c_in, t_in}, ws[] = {c_out, c_in, taps}, bs[] = {1, c_out, 1}, ys[] = {1, c_out, t_out};
    DLTensor xt = tensor(x, xs), wt = tensor(w, ws), bt = tensor(b, bs), yt = tensor(y, ys);
    try {
        tvm::ffi::Module m = tvm::ffi::Module::LoadFromFile(argv[1]);
        tvm::ffi::Function conv = m->GetFunction("conv").value();
        if (bias) conv(&xt, &wt, &bt, &yt);
        else conv(&xt, &wt, &yt);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    FILE* f = std::fopen((dir + "/y.f32").c_str(), "wb");
    if (!f || std::fwrite(y.data(), sizeof(float), y.size(), f) != y.size()) return 3;
    std::fclose(f);
    return 0;
}
"""


def test_int8_conv_on_aarch64_under_qemu_matches_numpy(arm64_runtime, tmp_path):  # noqa: F811
    require_tools(CROSS_TOOLS)
    from tvm.support import cc as tvm_cc

    paths = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tvm_paths.py")],
                           capture_output=True, text=True, check=True).stdout.split("\n")
    harness = tmp_path / "harness.cc"
    harness.write_text(HARNESS)
    exe = tmp_path / "harness"
    libdirs = [str(arm64_runtime / "tvm_ffi" / "lib"), str(arm64_runtime / "tvm" / "lib")]
    subprocess.run(["aarch64-linux-gnu-g++", "-std=c++17", "-O1", "-I", paths[0], str(harness), "-o", str(exe),
                    *[f"-L{d}" for d in libdirs], "-Wl,--no-as-needed", "-ltvm_ffi", "-ltvm_runtime"],
                   check=True, capture_output=True)
    env = dict(os.environ, QEMU_LD_PREFIX="/usr/aarch64-linux-gnu", LD_LIBRARY_PATH=os.pathsep.join(libdirs))
    for n, case in enumerate(CASES):
        func, intrinsic = kernel_for(case, AARCH64)
        assert intrinsic is None  # no pmaddwd: the portable int32 form (NEON by LLVM's vectorizer)
        lib = tvm.compile(tvm.IRModule({"conv": func.with_attr("global_symbol", "conv")}),
                          target=tvm.target.Target(AARCH64))
        so = tmp_path / f"kernel{n}.so"
        lib.export_library(str(so), fcompile=tvm_cc.cross_compiler("aarch64-linux-gnu-g++"))
        x, w, b = inputs(case, seed=n)
        work = tmp_path / f"case{n}"
        work.mkdir()
        for name, a in (("x", x), ("w", w), ("b", b)):
            a.tofile(work / f"{name}.f32")
        c_in, c_out, taps, _, _, t_in, bias = case
        proc = subprocess.run(["qemu-aarch64", str(exe), str(so), str(c_in), str(c_out), str(taps), str(t_in),
                               str(t_out_of(case)), "1" if bias else "0", str(work)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = np.fromfile(work / "y.f32", dtype=np.float32).reshape(c_out, t_out_of(case))
        rel = check(case, got, x, w, b)
        print(f"aarch64 {case_id(case)}: int8 vs float64, worst channel's relative rms error {rel:.2e}")


def test_a_precision_the_recipe_does_not_offer_is_refused_before_compiling(tmp_path):
    from edge_veda.compile import compile_model
    from edge_veda.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="precision"):
        compile_model("g2p-en", str(tmp_path / "g2p"), precision="int8")
    assert not (tmp_path / "g2p").exists()
    proc = subprocess.run([sys.executable, "-m", "edge_veda", "compile", "kokoro", "-o", str(tmp_path / "k"),
                           "--precision", "int4"], capture_output=True, text=True)
    assert proc.returncode == 2 and "int4" in proc.stderr, proc.stderr
    assert not (tmp_path / "k").exists()
