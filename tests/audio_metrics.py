"""Log-mel comparison of two waveforms (tests; numpy only).

log_mel(audio): 80 mel bands on the HTK mel scale (mel = 2595 log10(1 + f / 700)), triangular
filters from 0 Hz to the Nyquist frequency on the bins of a 1024-point real FFT, unnormalized
(peak 1); frames of 1024 samples every 256 (periodic Hann window, no centering padding; audio
shorter than one frame is zero-padded to it); power spectrum |X|^2; natural log of the band
energies floored at 1e-10.

log_mel_cosine(a, b): cosine similarity of the two log-mel matrices flattened, over the frames
both have (the shorter one's count); `centered=True` subtracts each matrix's mean first (the
plain cosine is inflated by the common negative offset of log energies, the centered one is not).
"""
from __future__ import annotations

import numpy as np

N_FFT = 1024
HOP = 256
N_MELS = 80
FLOOR = 1e-10


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular HTK filters."""
    bins_hz = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    fb = np.zeros((n_mels, bins_hz.size))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        rise = (bins_hz - lo) / (mid - lo)
        fall = (hi - bins_hz) / (hi - mid)
        fb[m] = np.maximum(0.0, np.minimum(rise, fall))
    return fb


def log_mel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """[frames, 80] natural-log mel energies (see the module docstring)."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    frames = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    power = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2
    return np.log(np.maximum(power @ mel_filterbank(sample_rate).T, FLOOR))


def log_mel_cosine(a: np.ndarray, b: np.ndarray, sample_rate: int, centered: bool = False) -> float:
    ma, mb = log_mel(a, sample_rate), log_mel(b, sample_rate)
    n = min(len(ma), len(mb))
    ma, mb = ma[:n].reshape(-1), mb[:n].reshape(-1)
    if centered:
        ma, mb = ma - ma.mean(), mb - mb.mean()
    return float(ma @ mb / (np.linalg.norm(ma) * np.linalg.norm(mb)))
