"""Model from many threads: results identical to a serial run; close() races are safe."""
import threading

import edge_veda
from edge_veda import Model

from conftest import cmudict_sample

THREADS = 8
CALLS = 500


def run_threads(models, words):
    results = [None] * THREADS
    errors = []

    def worker(i):
        try:
            m = models[i % len(models)]
            results[i] = [m.generate(words[(i * 37 + k) % len(words)]) for k in range(CALLS)]
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def serial(model, words):
    return [[model.generate(words[(i * 37 + k) % len(words)]) for k in range(CALLS)] for i in range(THREADS)]


def test_8_threads_on_one_model_match_serial(artifact_dir):
    words = cmudict_sample(600, seed=11)
    with Model.load(artifact_dir) as m:
        expected = serial(m, words)
        assert run_threads([m], words) == expected


def test_8_threads_on_4_models_match_serial(artifact_dir):
    words = cmudict_sample(600, seed=12)
    models = [Model.load(artifact_dir) for _ in range(4)]
    try:
        expected = serial(models[0], words)
        assert run_threads(models, words) == expected
    finally:
        for m in models:
            m.close()


def test_sync_stream_matches_generate(model, reference):
    assert " ".join(model.stream("streaming")) == reference.predict("streaming")
    it = model.stream("abandoned")
    next(it)
    it.close()  # releases the native stream early
    assert model.generate("after") == reference.predict("after")


def test_close_while_other_threads_call(artifact_dir, reference):
    """close() from one thread while others are mid-call: they finish or raise a clean error
    (cancelled / closed); nothing crashes and every finished result is right."""
    m = Model.load(artifact_dir)
    started = threading.Barrier(5)
    outcomes = []

    def caller():
        started.wait()
        for _ in range(2000):
            try:
                outcomes.append(m.generate("race") == reference.predict("race"))
            except (edge_veda.CancelledError, edge_veda.InvalidStateError) as e:
                outcomes.append(type(e).__name__)
                if isinstance(e, edge_veda.InvalidStateError):
                    return

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    m.close()
    for t in threads:
        t.join()
    assert False not in outcomes
    assert outcomes.count("InvalidStateError") == 4
