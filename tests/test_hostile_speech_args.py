"""Hostile arguments to the SpeechModel Python API: a speed no float holds, misspelled keywords,
WAV files that cannot be written, more threads than CPUs. Every one is an EdgeVedaError naming
the call and what is allowed (or the OSError of the file), never a bare OverflowError/TypeError,
and nothing printed by the garbage collector afterwards."""
import os
import subprocess
import sys
import textwrap

import pytest

import edge_veda
from edge_veda import SpeechModel
from edge_veda.errors import InvalidArgumentError, InvalidArgumentTypeError

PHONEMES = "həlˈO."


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@pytest.fixture(scope="module")
def tts(kokoro_dir):
    with SpeechModel.load(kokoro_dir, frontend=None, num_threads=2) as m:
        yield m


def calls(tts):
    """Each synthesis entry point, run to its first result. (stream() runs synthesize_with_callback
    on its worker thread: a bad value is reported under that name.)"""
    return {
        "synthesize": lambda **kw: tts.synthesize(phonemes=PHONEMES, **kw),
        "synthesize_with_callback": lambda **kw: tts.synthesize_with_callback(None, lambda c: None,
                                                                              phonemes=PHONEMES, **kw),
        "stream": lambda **kw: next(tts.stream(phonemes=PHONEMES, **kw)),
    }


@pytest.mark.parametrize("speed", [10**400, -10**400, 1e300, float("inf"), float("nan"), 0.2, 4.5, 0],
                         ids=["10**400", "-10**400", "1e300", "inf", "nan", "0.2", "4.5", "0"])
def test_speed_out_of_range_names_the_range(tts, speed):
    for name, call in calls(tts).items():
        with pytest.raises(InvalidArgumentError) as e:
            call(speed=speed)
        assert not isinstance(e.value, TypeError)
        reported = "synthesize_with_callback" if name == "stream" else name
        assert e.value.message.startswith(f"SpeechModel.{reported}: speed=") and "out of range" in e.value.message
        assert "0.25 to 4" in e.value.hint


@pytest.mark.parametrize("speed", [True, "1", None, 1j])
def test_speed_of_the_wrong_type(tts, speed):
    for name, call in calls(tts).items():
        reported = "synthesize_with_callback" if name == "stream" else name
        with pytest.raises(InvalidArgumentTypeError, match=f"SpeechModel.{reported}: speed must be a number"):
            call(speed=speed)


def test_the_edges_of_the_speed_range_are_accepted(tts):
    import numpy as np

    assert len(tts.synthesize(phonemes=PHONEMES, speed=4).samples) > 0
    assert len(tts.synthesize(phonemes=PHONEMES, speed=np.float32(0.25)).samples) > 0


def test_a_misspelled_keyword_suggests_the_right_one(tts):
    for name, call in calls(tts).items():
        with pytest.raises(InvalidArgumentTypeError) as e:
            call(spead=1)
        assert isinstance(e.value, TypeError)  # what Python itself raises for an unknown keyword
        assert e.value.message == f"SpeechModel.{name}() got an unexpected keyword argument 'spead' " \
                                  "(did you mean 'speed'?)"
        assert e.value.hint == "allowed keywords: phonemes, voice, speed"
        with pytest.raises(InvalidArgumentTypeError) as e:
            call(loudness=1)
        assert e.value.message.endswith("unexpected keyword argument 'loudness'")  # nothing close


def test_save_wav_into_a_missing_directory_leaves_nothing_for_the_gc(tmp_path):
    """wave.open(PATH) whose open() fails left a half-made Wave_write whose __del__ printed
    "Exception ignored ... AttributeError"."""
    script = textwrap.dedent(f"""
        import gc, numpy as np, edge_veda
        audio = edge_veda.Audio(np.zeros(240, np.float32), 24000)
        for path in ({str(tmp_path / "missing" / "x.wav")!r}, {str(tmp_path)!r}):
            try:
                audio.save_wav(path)
            except OSError as e:
                print(type(e).__name__)
        gc.collect()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["FileNotFoundError", "IsADirectoryError"]
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_save_wav_to_a_file_object_is_a_complete_wav(tmp_path):
    import io
    import wave

    import numpy as np

    audio = edge_veda.Audio(np.linspace(-1, 1, 4800, dtype=np.float32), 24000)
    buf = io.BytesIO()
    audio.save_wav(buf)
    audio.save_wav(tmp_path / "x.wav")
    assert buf.getvalue() == (tmp_path / "x.wav").read_bytes()
    with wave.open(io.BytesIO(buf.getvalue())) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 24000, 4800)
        assert np.array_equal(np.frombuffer(w.readframes(4800), "<i2"), audio.pcm16())


def test_num_threads_is_lowered_to_the_usable_cpus(artifact_dir, kokoro_dir):
    with edge_veda.Model.load(artifact_dir, num_threads=500) as m:  # batch workers: the library's cap
        assert m.status().num_threads == 64
    with SpeechModel.load(kokoro_dir, frontend=None, num_threads=500) as m:
        assert 1 <= m.status().num_threads <= usable_cpus()
    with edge_veda.Model.load(artifact_dir, num_threads=0) as m:  # 0 keeps meaning one per core
        assert m.status().num_threads >= 1
