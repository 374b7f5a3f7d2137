"""The Python Model: lifetime, errors, generation parameters."""
import gc

import pytest

import edge_veda
from edge_veda import Model


def test_import_does_not_load_tvm():
    import subprocess
    import sys

    code = "import sys, edge_veda; print('tvm' in sys.modules, 'tvm_ffi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_context_manager_closes(artifact_dir):
    with Model.load(artifact_dir) as m:
        assert m.generate("cat")
    assert m.closed
    with pytest.raises(edge_veda.InvalidStateError) as e:
        m.generate("cat")
    assert "closed" in e.value.message and e.value.hint
    m.close()  # twice is fine


def test_load_errors_carry_code_message_and_hint(tmp_path):
    with pytest.raises(edge_veda.ModelNotFoundError) as e:
        Model.load(str(tmp_path / "missing"))
    assert "g2p-en" in e.value.hint
    (tmp_path / "empty").mkdir()
    with pytest.raises(edge_veda.ModelNotFoundError) as e:
        Model.load(str(tmp_path / "empty"))
    assert e.value.code == edge_veda._lib.EV_ERR_MODEL_NOT_FOUND
    assert e.value.code_name == "EV_ERR_MODEL_NOT_FOUND"
    assert "manifest.json" in e.value.message


def test_unsupported_device(artifact_dir):
    with pytest.raises(edge_veda.UnsupportedDeviceError) as e:
        Model.load(artifact_dir, device="vulkan")
    assert '"cpu"' in e.value.hint


def test_status(model, artifact_dir):
    s = model.status()
    assert (s.initialized, s.weights_loaded, s.device, s.model_name, s.model_kind) == (
        True, True, "cpu", "g2p-en", "g2p")
    assert s.artifact_path == artifact_dir
    assert s.memory_used_bytes > 1_000_000 and s.num_threads >= 1


@pytest.mark.parametrize("use_mmap", [True, False])
def test_status_reports_the_kind_and_its_weights(artifact_dir, use_mmap):
    with Model.load(artifact_dir, use_mmap=use_mmap) as m:
        s = m.status()
    assert s.capabilities == frozenset({"generate", "generate_batch", "phonemize"})
    assert s.weights_mapped is use_mmap
    assert 1_000_000 < s.weights_bytes <= s.memory_used_bytes
    assert s.max_input_chars == 1024


def test_unsupported_operation_error_maps_its_code():
    from edge_veda._ffi import lib
    from edge_veda.errors import error_from_code

    e = error_from_code(lib.EV_ERR_UNSUPPORTED_OPERATION)
    assert isinstance(e, edge_veda.UnsupportedOperationError) and isinstance(e, edge_veda.EdgeVedaError)
    assert e.code_name == "EV_ERR_UNSUPPORTED_OPERATION"


def test_generate_rejects_bad_text(model):
    with pytest.raises(edge_veda.InvalidArgumentError):
        model.generate(b"bytes")
    with pytest.raises(edge_veda.InvalidArgumentError):
        model.generate("a\0b")
    assert model.generate("fine")


def test_invalid_params_raise_and_model_stays_usable(model, reference):
    for bad in (dict(temperature=-1), dict(top_p=0), dict(top_k=-3), dict(repeat_penalty=0)):
        with pytest.raises(edge_veda.InvalidArgumentError) as e:
            model.generate("phone", **bad)
        assert e.value.hint
        assert model.generate("phone") == reference.predict("phone")


def test_max_tokens_truncates_the_greedy_output(model, reference):
    full = reference.predict("international").split()
    assert model.generate("international", max_tokens=3).split() == full[:3]
    assert model.generate("international", max_tokens=0) == " ".join(full)  # 0 = model default


def test_stop_sequences(model, reference):
    full = reference.predict("international")
    third = full.split()[2]
    cut = full[: full.index(" " + third)] if " " + third in full else full
    assert model.generate("international", stop=[third]) == cut
    assert model.generate("international", stop="ZZZZ") == full


@pytest.fixture()
def network_model(network_dir):
    """The network alone (kind seq2seq-gru): in g2p-en (kind g2p) CMUdict words come from the
    lexicon, which sampling parameters do not touch (tests/test_g2p_kind.py tests that)."""
    with Model.load(network_dir) as m:
        yield m


def test_sampling_is_deterministic_for_a_seed(network_model, network_reference):
    model, reference = network_model, network_reference
    runs = {model.generate("probability", temperature=1.5, seed=s) for s in range(20)}
    assert len(runs) > 1  # sampling really samples at T=1.5
    a = [model.generate("probability", temperature=1.5, top_k=5, top_p=0.9, seed=42) for _ in range(5)]
    assert len(set(a)) == 1
    assert model.generate("probability", temperature=1e-4, seed=1) == reference.predict("probability")
    assert model.generate("probability", temperature=2.0, top_k=1, seed=3) == reference.predict("probability")


def test_context_seed_stream_is_reproducible(network_dir):
    def run():
        with Model.load(network_dir, seed=99) as m:
            return [m.generate("sampling", temperature=1.2) for _ in range(8)]
    first, second = run(), run()
    assert first == second and len(set(first)) > 1


def test_repeat_penalty_changes_only_sampling_inputs(network_model, network_reference):
    model, reference = network_model, network_reference
    # penalty 1 is a no-op; a strong one on a word with repeated phonemes changes the output
    assert model.generate("mississippi", repeat_penalty=1.0) == reference.predict("mississippi")
    assert model.generate("mississippi", repeat_penalty=50.0) != reference.predict("mississippi")


def test_warmup_and_repr(model):
    model.warmup()
    assert "g2p-en" in repr(model)


def test_garbage_collected_model_frees_its_context(artifact_dir):
    m = Model.load(artifact_dir)
    del m
    gc.collect()  # __del__ is a safety net; must not raise


def test_generate_batch_with_sampling_matches_single_calls(model):
    words = ["alpha", "beta", "gamma"]
    seeded = model.generate_batch(words, temperature=0.9, seed=5)
    assert seeded == [model.generate(w, temperature=0.9, seed=5) for w in words]
    assert model.generate_batch([]) == []
