"""Every Edge Veda path reproduces the numpy g2p-en decoder token for token.

These tests run the network on its own (`network_dir`: kind "seq2seq-gru"), since in the g2p-en
artifact (kind "g2p") dictionary words never reach it; tests/test_g2p_kind.py checks that the g2p
kind sends out-of-lexicon words through this same network."""
import subprocess
import sys

import pytest

from conftest import cap_words, cmudict_sample

N_WORDS = 2400


@pytest.fixture(scope="module")
def artifact_dir(network_dir):
    return network_dir


@pytest.fixture(scope="module")
def reference(network_reference):
    return network_reference


@pytest.fixture(scope="module")
def words(reference):
    caps = cap_words(reference)
    assert all(len(reference.predict_ids(w)) == 20 for w in caps)  # the cap is really reached
    unusual = ["", "café", "naïve", "ÆØÅ", "日本語", "x-ray", "o'neill", "123", "HELLO", "MiXeD",
               "a" * 60, "tab\there", "🙂"]
    return cmudict_sample(N_WORDS) + caps + unusual


@pytest.fixture(scope="module")
def expected(words, reference):
    return {w: reference.predict(w) for w in words}


def test_sample_covers_odd_characters_and_the_cap(words, reference):
    assert sum(1 for w in words if any(not ("a" <= c <= "z") for c in w)) >= 400
    assert sum(1 for w in words if len(reference.predict_ids(w)) == 20) >= 20


def test_model_generate_matches_reference(model, words, expected):
    mismatches = [(w, expected[w], got) for w in words if (got := model.generate(w)) != expected[w]]
    assert mismatches == []


def test_step_path_matches_reference(model, words, expected):
    """The pull stream drives the decoder step by step in C (the sampling path), not the fused
    greedy kernel that generate() uses: both must give the reference tokens."""
    mismatches = [(w, expected[w], got) for w in words if (got := " ".join(model.stream(w))) != expected[w]]
    assert mismatches == []


@pytest.mark.parametrize("threads", [1, 2])
def test_generate_batch_matches_reference(artifact_dir, words, expected, threads):
    import edge_veda

    with edge_veda.Model.load(artifact_dir, num_threads=threads) as m:
        got = []
        for i in range(0, len(words), 300):
            got += m.generate_batch(words[i:i + 300])
    mismatches = [(w, expected[w], g) for w, g in zip(words, got) if g != expected[w]]
    assert len(got) == len(words) and mismatches == []


def test_cli_stdin_matches_reference(artifact_dir, words, expected):
    # The CLI reads one word per line: words with tabs/newlines or empty ones cannot travel that way.
    line_words = [w for w in words if w and "\t" not in w and "\n" not in w]
    proc = subprocess.run(
        [sys.executable, "-m", "edge_veda", "g2p", "--model", artifact_dir, "-"],
        input="\n".join(line_words) + "\n", capture_output=True, text=True, check=True)
    lines = proc.stdout.split("\n")
    assert lines[-1] == ""
    got = dict(line.split("\t", 1) for line in lines[:-1])
    assert len(lines) - 1 == len(line_words)
    mismatches = [(w, expected[w], got.get(w)) for w in line_words if got.get(w) != expected[w]]
    assert mismatches == []


def test_cli_words_on_the_command_line(artifact_dir, reference):
    proc = subprocess.run(
        [sys.executable, "-m", "edge_veda", "g2p", "--model", artifact_dir, "hello", "world", "Café"],
        capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines() == [
        f"hello\t{reference.predict('hello')}", f"world\t{reference.predict('world')}",
        f"Café\t{reference.predict('Café')}"]
