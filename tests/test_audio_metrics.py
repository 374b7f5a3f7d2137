"""The log-mel metrics the TTS accuracy tests rely on score what they claim to: a shifted copy
of a sound is the same sound once aligned, a different sound is not."""
import numpy as np
import pytest
from audio_metrics import aligned_log_mel_cosine, dtw_path, log_mel_cosine, longest_pause

SR = 24000


def chirp(seconds: float, f0: float, f1: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    return (np.sin(2 * np.pi * (f0 + (f1 - f0) * t / seconds / 2) * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def syllables(gaps: list[float]) -> np.ndarray:
    """Three tones with silences of the given lengths between them."""
    parts = []
    for i, f in enumerate((300.0, 900.0, 2500.0)):
        parts.append(chirp(0.25, f, f * 1.5, seed=i))
        if i < len(gaps):
            parts.append(0.001 * np.random.default_rng(10 + i).standard_normal(int(gaps[i] * SR)).astype(np.float32))
    return np.concatenate(parts)


def test_identical_audio_scores_one():
    a = syllables([0.1, 0.1])
    assert log_mel_cosine(a, a, SR) == pytest.approx(1.0)
    assert aligned_log_mel_cosine(a, a, SR) == pytest.approx(1.0)


def test_a_longer_pause_is_aligned_but_a_different_sound_is_not():
    # the second and third tones of b start 5 hops (1280 samples) later than a's
    a, b = syllables([0.1, 0.1]), syllables([0.1 + 1280 / SR, 0.1])
    plain, aligned = log_mel_cosine(a, b, SR, centered=True), aligned_log_mel_cosine(a, b, SR)
    assert aligned > 0.99 and aligned > plain + 0.02, (plain, aligned)
    other = chirp(len(a) / SR, 5000.0, 6000.0, seed=7)
    assert aligned_log_mel_cosine(a, other, SR) < 0.9


def test_path_steps_and_ends():
    rng = np.random.default_rng(1)
    path = dtw_path(rng.random((40, 55)))
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (39, 54)
    steps = np.diff(path, axis=0)
    assert np.all(steps >= 0) and np.all(steps.sum(axis=1) >= 1) and np.all(steps <= 1)
    with pytest.raises(ValueError, match="slopes"):
        dtw_path(np.zeros((10, 30)))


def test_longest_pause_measures_the_silence_at_a_seam_only():
    sr = 24000
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr // 2) / sr)  # 500 ms
    gap = np.zeros(sr * 150 // 1000)  # 150 ms
    far_gap = np.zeros(sr * 400 // 1000)
    audio = np.concatenate([tone, gap, tone, far_gap, tone])
    seam = tone.size + gap.size // 2
    assert longest_pause(audio, sr, seam, sr // 20) == pytest.approx(150, abs=10)
    # the 400 ms pause 650 ms later is not at this seam; a seam inside sound has none
    assert longest_pause(audio, sr, tone.size // 2, sr // 20) == 0
    assert longest_pause(audio, sr, 2 * tone.size + gap.size + far_gap.size // 2, sr // 20) == pytest.approx(400, abs=10)
    # quiet is relative to the loudest window: a 30 dB softer tone is sound, not a pause
    soft = np.concatenate([tone, 0.03 * tone, tone])
    assert longest_pause(soft, sr, tone.size + tone.size // 2, sr // 20) == 0
