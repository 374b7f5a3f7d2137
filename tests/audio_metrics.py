"""Log-mel comparison of two waveforms (tests; numpy only).

log_mel(audio): 80 mel bands on the HTK mel scale (mel = 2595 log10(1 + f / 700)), triangular
filters from 0 Hz to the Nyquist frequency on the bins of a 1024-point real FFT, unnormalized
(peak 1); frames of 1024 samples every 256 (periodic Hann window, no centering padding; audio
shorter than one frame is zero-padded to it); power spectrum |X|^2; natural log of the band
energies floored at 1e-10.

log_mel_cosine(a, b): cosine similarity of the two log-mel matrices flattened, over the frames
both have (the shorter one's count); `centered=True` subtracts each matrix's mean first (the
plain cosine is inflated by the common negative offset of log energies, the centered one is not).

aligned_log_mel_cosine(a, b): the same cosine after aligning the frames of a and b by dynamic time
warping. Two models that differ in one predicted duration produce the same speech shifted by a
frame or more from that phoneme on, which the frame-by-frame cosine scores as different sounds;
the alignment compares each sound with the same sound. Cost of a frame pair: 1 - cosine of the
two frames' log-mel vectors. Steps (1,1), (1,2), (2,1) (symmetric, slopes between 1/2 and 2: no
frame may be skipped or stretched more than twofold; a (1,2) step pairs both skipped-over frames),
path from the first frames to the last frames of both. The cosine is then taken over the
flattened matrices of the paired frames (every pair once).

log_spectral_distance(a, b): the log-spectral distance in dB, the measure kokoro-pi used for
reduced-precision Kokoro: per frame, the root mean square over the 513 FFT bins of
10 log10(|A|^2) - 10 log10(|B|^2); the mean over the frames both have. Same frames as log_mel;
powers are floored 80 dB under the louder spectrogram's peak, so silence (where a tiny absolute
change is a huge ratio) cannot dominate. Waveform SNR is useless here: Kokoro's harmonic source
moves its phase under any change, and a phase change moves the frames' fine structure.

longest_pause(audio, sample_rate, around, radius): the longest run of silence (10 ms windows whose
RMS is under 1% of the loudest window's, -40 dB) that overlaps [around - radius, around + radius)
samples, in milliseconds: the pause a listener hears at a seam between two streamed parts.
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


def power_spectrogram(audio: np.ndarray) -> np.ndarray:
    """[frames, N_FFT // 2 + 1] |X|^2 on log_mel's frames."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    frames = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    return np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2


LSD_RANGE_DB = 80.0


def log_spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """dB (see the module docstring)."""
    pa, pb = power_spectrogram(a), power_spectrogram(b)
    n = min(len(pa), len(pb))
    pa, pb = pa[:n], pb[:n]
    floor = max(pa.max(), pb.max(), 1e-30) * 10 ** (-LSD_RANGE_DB / 10)
    diff = 10 * np.log10(np.maximum(pa, floor)) - 10 * np.log10(np.maximum(pb, floor))
    return float(np.mean(np.sqrt(np.mean(diff ** 2, axis=1))))


def log_mel_cosine(a: np.ndarray, b: np.ndarray, sample_rate: int, centered: bool = False) -> float:
    ma, mb = log_mel(a, sample_rate), log_mel(b, sample_rate)
    n = min(len(ma), len(mb))
    ma, mb = ma[:n].reshape(-1), mb[:n].reshape(-1)
    if centered:
        ma, mb = ma - ma.mean(), mb - mb.mean()
    return float(ma @ mb / (np.linalg.norm(ma) * np.linalg.norm(mb)))


def dtw_path(cost: np.ndarray) -> np.ndarray:
    """[pairs, 2] frame indices of the cheapest path through cost[n, m] with steps (1,1), (1,2),
    (2,1), from (0, 0) to (n - 1, m - 1). Each row depends only on the two rows before it, so a row
    is one vectorized numpy step (no per-cell Python loop)."""
    n, m = cost.shape
    total = np.full((n, m), np.inf)
    step = np.zeros((n, m), np.int8)
    total[0, 0] = cost[0, 0]
    for i in range(1, n):
        candidates = np.full((3, m), np.inf)
        candidates[0, 1:] = total[i - 1, :-1]          # (1,1)
        candidates[1, 2:] = total[i - 1, :-2]          # (1,2)
        if i >= 2:
            candidates[2, 1:] = total[i - 2, :-1]      # (2,1)
        step[i] = np.argmin(candidates, axis=0)
        total[i] = candidates[step[i], np.arange(m)] + cost[i]
    if not np.isfinite(total[-1, -1]):
        raise ValueError(f"no alignment of {n} and {m} frames within slopes 1/2..2")
    i, j, pairs = n - 1, m - 1, [(n - 1, m - 1)]
    while (i, j) != (0, 0):
        if step[i, j] == 0:
            i, j = i - 1, j - 1
        elif step[i, j] == 1:
            pairs.append((i, j - 1))
            i, j = i - 1, j - 2
        else:
            pairs.append((i - 1, j))
            i, j = i - 2, j - 1
        pairs.append((i, j))
    return np.array(pairs[::-1])


def aligned_log_mel_cosine(a: np.ndarray, b: np.ndarray, sample_rate: int) -> float:
    ma, mb = log_mel(a, sample_rate), log_mel(b, sample_rate)
    unit_a = ma / np.linalg.norm(ma, axis=1, keepdims=True)
    unit_b = mb / np.linalg.norm(mb, axis=1, keepdims=True)
    pairs = dtw_path(1.0 - unit_a @ unit_b.T)
    x, y = ma[pairs[:, 0]].reshape(-1), mb[pairs[:, 1]].reshape(-1)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def longest_pause(audio: np.ndarray, sample_rate: int, around: int, radius: int) -> float:
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    win = sample_rate // 100
    n = x.size // win
    rms = np.sqrt((x[:n * win].reshape(n, win) ** 2).mean(axis=1))
    silent = rms < 0.01 * rms.max()
    lo, hi = max(0, (around - radius) // win), min(n, (around + radius) // win + 1)
    best = 0
    i = 0
    while i < n:
        if not silent[i]:
            i += 1
            continue
        j = i
        while j < n and silent[j]:
            j += 1
        if i < hi and j > lo:  # the run [i, j) overlaps the neighbourhood
            best = max(best, j - i)
        i = j
    return best * 1000.0 * win / sample_rate
