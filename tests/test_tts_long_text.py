"""Text of any length is spoken: over the model's limits.max_input_chars (1,024 for Kokoro)
SpeechModel splits it at sentence ends (then phrases, then spaces) into parts the model takes,
one native stream each; `edge-veda say` writes the WAV as the chunks come."""
import io
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from edge_veda.speech import split_text

# 1,250 characters of ordinary sentences: two parts at Kokoro's 1,024
LONG = " ".join(f"Sentence number {i} is here." for i in range(45))


def test_split_text_keeps_sentences_whole_and_every_part_under_the_limit():
    text = "First one. Second one! A third? " + "Then a very long sentence, with phrases, " * 4 + "the end."
    parts = split_text(text, 60)
    assert all(0 < len(p) <= 60 for p in parts), parts
    assert parts[0] == "First one. Second one! A third?"
    assert " ".join(parts).split() == text.split()  # nothing lost, nothing added
    assert all(p.endswith((".", "!", "?", ",")) for p in parts), parts  # cut at sentence or phrase ends


def test_split_text_cuts_a_sentence_without_marks_at_spaces_then_anywhere():
    assert split_text("aaaa bbbb cccc dddd", 9) == ["aaaa bbbb", "cccc dddd"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_text("Short.  ", 10) == ["Short.  "]  # within the limit: as given
    assert split_text("", 10) == [""]
    assert split_text("A.\n\nB. C.", 0) == ["A.\n\nB. C."]  # no limit


@pytest.fixture(scope="module")
def tts(kokoro_dir, artifact_dir):
    import edge_veda

    with edge_veda.SpeechModel.load(kokoro_dir, frontend=artifact_dir, num_threads=2) as m:
        yield m


def test_stream_of_text_over_the_limit_is_one_utterance(tts):
    """With the limit lowered to 40 characters, three sentences are two native streams: the
    chunks are numbered, placed and measured as one stream's, and each sentence sounds as it
    does alone (its length exactly: a stream's parts share their sentence's durations)."""
    from audio_metrics import aligned_log_mel_cosine

    sentences = ["Good morning to you.", "It is a fine day.", "See you soon."]
    alone = [tts.synthesize(s, speed=2).samples for s in sentences]
    tts.__dict__["_max_chars"] = 40
    try:
        chunks = list(tts.stream(" ".join(sentences), speed=2))
        audio = tts.synthesize(" ".join(sentences), speed=2)
    finally:
        del tts.__dict__["_max_chars"]
    assert [c.index for c in chunks] == list(range(len(chunks))) and len(chunks) >= 3
    assert [c.is_final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert [c.start_sample for c in chunks] == np.cumsum([0] + [len(c.samples) for c in chunks[:-1]]).tolist()
    assert all(a.progress < b.progress for a, b in zip(chunks, chunks[1:])) and chunks[-1].progress == 1.0
    joined = np.concatenate([c.samples for c in chunks])
    bounds = np.cumsum([0] + [len(a) for a in alone])
    assert len(joined) == bounds[-1]
    for i, ref in enumerate(alone):
        assert aligned_log_mel_cosine(joined[bounds[i]:bounds[i + 1]], ref, 24000) >= 0.95, sentences[i]
    # synthesize: the parts' audio one after the other, word timings shifted to their place
    parts = split_text(" ".join(sentences), 40)
    assert len(parts) == 2
    whole = [tts.synthesize(p, speed=2).samples for p in parts]
    np.testing.assert_allclose(audio.samples, np.concatenate(whole), atol=1e-6)
    starts = [s for _, s, _ in audio.words]
    assert starts == sorted(starts) and audio.words[-1][2] <= len(audio.samples)
    assert [w for w, _, _ in audio.words][-2:] == ["you", "soon"]


@pytest.mark.slow
def test_say_speaks_text_over_1024_characters(kokoro_dir, artifact_dir, tmp_path):
    """Before: `input is longer than 1024 characters`, exit 1."""
    assert len(LONG) > 1024
    out = tmp_path / "long.wav"
    proc = subprocess.run([sys.executable, "-m", "edge_veda", "say", "-", "-o", str(out), "--threads", "2",
                           "--speed", "4", "--model", kokoro_dir, "--frontend", artifact_dir],
                          input=LONG.encode(), capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    data = out.read_bytes()
    with wave.open(io.BytesIO(data)) as w:
        frames = w.getnframes()
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
    assert len(data) == 44 + 2 * frames  # the header patched with the real sizes
    seconds = frames / 24000
    assert seconds > 30, seconds  # 45 sentences, each about a second at --speed 4
    assert f"{out}: {seconds:.2f} s at 24000 Hz" in proc.stderr.decode()
    assert os.listdir(tmp_path) == ["long.wav"]


@pytest.mark.slow
def test_say_streams_long_text_to_a_pipe_with_open_ended_sizes(kokoro_dir, artifact_dir):
    """-o - on a pipe: audio past the first ~22 s is not held; the header says 0xFFFFFFFF."""
    proc = subprocess.run([sys.executable, "-m", "edge_veda", "say", "-", "-o", "-", "--threads", "2",
                           "--speed", "4", "--model", kokoro_dir, "--frontend", artifact_dir],
                          input=LONG.encode(), capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    head, pcm = proc.stdout[:44], proc.stdout[44:]
    assert head[:4] == b"RIFF" and head[8:16] == b"WAVEfmt " and head[36:40] == b"data"
    assert head[4:8] == head[40:44] == b"\xff\xff\xff\xff"
    assert len(pcm) > 2 * 24000 * 30 and len(pcm) % 2 == 0


def test_voices_is_spelled_the_same_sync_and_async(tts, kokoro_dir):
    """Issue 25: SpeechModel.voices was a property, AsyncSpeechModel.voices() a method. Both now
    take the call form; the sync property form still works."""
    import asyncio

    import edge_veda

    assert tts.voices() == list(tts.voices) and type(tts.voices()) is list
    assert tts.voices()[0] == tts.voices[0]

    async def main():
        async with await edge_veda.AsyncSpeechModel.load(kokoro_dir, frontend=None, num_threads=1) as m:
            return await m.voices()

    assert asyncio.run(main()) == tts.voices()
