"""Means over time with independent partial sums (compile/kernels/time_mean.py): the kernel
against numpy per x86 target, and the Relax rewrite that puts it in place of relax.mean, built
and run through TVM's whole pipeline (which also reads the call for reshapes)."""
import numpy as np
import pytest

from test_int8_conv import GENERIC, HASWELL, ZNVER4, cpu_flags

tvm = pytest.importorskip("tvm")

# lengths below, at and around the 16 lanes, and Kokoro's last-stage length for ~5 s of audio
LENGTHS = [1, 5, 16, 17, 1000, 23437]


def inputs(channels: int, t: int, seed=0) -> np.ndarray:
    """An offset per channel far larger than its spread (what a mean over time must not lose)."""
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-50, 50, (1, channels, 1))
    return (offsets + rng.standard_normal((1, channels, t))).astype(np.float32)


def tolerance(x: np.ndarray) -> np.ndarray:
    """float32 summation's error bound per channel: ~(t/16 + 16) roundings of the running sums,
    each at most eps of the largest partial sum (|x| summed), divided by t."""
    t = x.shape[-1]
    eps = np.finfo(np.float32).eps
    return (t / 16 + 16) * eps * np.abs(x.astype(np.float64)).sum(axis=-1, keepdims=True) / t + 1e-30


@pytest.mark.parametrize("target,needs", [(HASWELL, {"avx2", "fma"}), (ZNVER4, {"avx512f"}), (GENERIC, set())],
                         ids=["haswell", "znver4", "x86-64"])
@pytest.mark.parametrize("t", LENGTHS)
def test_time_mean_matches_numpy(target, needs, t):
    from edge_veda.compile.kernels.time_mean import make_time_mean

    if not needs <= cpu_flags():
        pytest.skip(f"this CPU lacks {sorted(needs - cpu_flags())}")
    channels = 6
    x = inputs(channels, t)
    lib = tvm.compile(make_time_mean(channels), target=tvm.target.Target(target))
    dev = tvm.cpu()
    y = tvm.runtime.tensor(np.full((1, channels, 1), np.nan, np.float32), dev)
    lib(tvm.runtime.tensor(x, dev), y)
    exact = x.astype(np.float64).mean(axis=-1, keepdims=True)
    err = np.abs(y.numpy() - exact)
    assert np.all(err <= tolerance(x)), (err.ravel(), tolerance(x).ravel())


def mean_module(channels: int, *, symbolic: bool = True):
    """A Relax function "audio": x - mean over time of x[1, channels, t] (t symbolic or 40)."""
    from tvm import relax

    t = tvm.tirx.Var("t", "int64") if symbolic else 40
    x = relax.Var("x", relax.TensorType((1, channels, t), "float32"))
    bb = relax.BlockBuilder()
    with bb.function("audio", [x]):
        with bb.dataflow():
            m = bb.emit(relax.op.mean(x, axis=[2], keepdims=True))
            y = bb.emit_output(relax.op.subtract(x, m))
        bb.emit_func_output(y)
    return bb.get()


def calls_time_mean(mod) -> bool:
    return any(gv.name_hint.startswith("time_mean_") for gv in mod.functions)


def test_the_rewrite_replaces_means_over_a_symbolic_time_axis_and_runs():
    from tvm import relax

    from edge_veda.compile.kernels.time_mean import lane_time_means

    mod = lane_time_means()(mean_module(8))
    assert calls_time_mean(mod) and "relax.mean" not in mod["audio"].script()
    x = inputs(8, 333, seed=1)
    ex = tvm.compile(mod, target=tvm.target.Target(GENERIC))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    y = vm["audio"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    exact = x.astype(np.float64) - x.astype(np.float64).mean(axis=-1, keepdims=True)
    assert np.abs(y - exact).max() <= tolerance(x).max() + 1e-5 * np.abs(x).max()


def test_the_rewrite_leaves_other_means_alone():
    from edge_veda.compile.kernels.time_mean import lane_time_means

    assert not calls_time_mean(lane_time_means()(mean_module(8, symbolic=False)))  # a constant length
    assert not calls_time_mean(lane_time_means(lambda function: function != "audio")(mean_module(8)))
