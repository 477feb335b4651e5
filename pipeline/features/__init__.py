"""Feature extraction: a float32 mono signal in, a fixed list of named floats out.

One STFT per clip feeds every spectral feature and, through the mel filterbank, the MFCCs
and onset envelope. Frame-wise features are stacked into one (n_features, n_frames) matrix
and summarised by :func:`~pipeline.features.stats.summary_stats` in one pass; clip-level
features, band energies and the envelope's modulation spectrum
(:mod:`pipeline.features.modulation`) are appended after them. :func:`feature_names` gives
the column order.

The work is split in two: :func:`frame_part` computes what each frame gives on its own
(:class:`Frames`: power and mel spectra, spectral shape, RMS, zero crossings), and
:func:`window_part` everything that depends on the clip as a whole. A clip's features are
the window part of the frame part of the whole clip (:func:`extract_features`), so
overlapping windows of a long signal can share their frames
(:mod:`pipeline.features.sliding`).

The columns and the checks of the parameters live in :mod:`pipeline.features.names`.
Library code: nothing here knows about files, Dask or the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from pipeline.core.config import FeatureParams
from pipeline.features import bands, modulation, spectral, stft, time_domain
from pipeline.features import mfcc as _mfcc
from pipeline.features.names import (
    CLIP_LEVEL,
    FRAMEWISE,
    FeatureParamsError,
    _names,
    feature_names,
)
from pipeline.features.stats import summary_stats

__all__ = [
    "FeatureParamsError",
    "Frames",
    "extract_features",
    "frame_part",
    "frame_parts",
    "window_part",
    "feature_names",
    "FRAMEWISE",
    "CLIP_LEVEL",
    "MAX_AMPLITUDE",
    "REVISION",
]



# Raised whenever a change to this package changes any feature value, even in the last
# bits: it is part of the feature store's cache fingerprint, so stores recompute.
REVISION = 5

# Samples are clipped to this magnitude (120 dB above full scale) so that powers of
# any finite input stay inside float32; audio in [-1, 1] is never touched.
MAX_AMPLITUDE = 1e6


def _as_signal(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Validated float32 contiguous copy-or-view of ``y`` and its peak magnitude."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"expected a non-empty 1-D signal, got shape {y.shape}")
    peak = float(np.max(np.abs(y)))
    if not math.isfinite(peak):
        raise ValueError("signal holds NaN or infinite samples")
    if peak > MAX_AMPLITUDE:
        y = np.clip(y, -MAX_AMPLITUDE, MAX_AMPLITUDE)
    return y, peak


@dataclass(frozen=True)
class Frames:
    """The frame part of the features: what each centred frame gives on its own.

    Every value of a frame depends only on the samples that frame reads, so a frame of a
    long signal equals the same frame of any stretch of it that holds all those samples.
    Everything that depends on a clip as a whole (the dB floors relative to the clip's
    maximum, MFCCs, deltas, onsets, the first frame's flux, statistics) is left to
    :func:`window_part`. Every array has the frames along its last axis.

    Attributes
    ----------
    power : np.ndarray, shape (1 + n_fft // 2, n), float32
        Power spectrum (:func:`~pipeline.features.stft.power_spectrogram`).
    mel_db : np.ndarray, shape (n_mels, n), float32
        Mel power in dB before the ``top_db`` floor (:func:`~.mfcc.mel_db`).
    rms, zcr, centroid, bandwidth, rolloff, flatness : np.ndarray, shape (n,), float64
    flux : np.ndarray, shape (n,), float32
        Step from the frame before (:func:`~.spectral.flux_steps`); NaN for frame 0 of a
        signal, which has none.
    peak, valley : np.ndarray, shape (contrast_bands + 1, n), float64
        Spectral contrast extremes (:func:`~.bands.contrast_extremes`).
    """

    power: np.ndarray
    mel_db: np.ndarray
    rms: np.ndarray
    zcr: np.ndarray
    centroid: np.ndarray
    bandwidth: np.ndarray
    rolloff: np.ndarray
    flatness: np.ndarray
    flux: np.ndarray
    peak: np.ndarray
    valley: np.ndarray

    def __len__(self) -> int:
        return self.rms.shape[-1]

    def __getitem__(self, frames: slice) -> Frames:
        """Frames ``frames`` (a slice) of every array (views)."""
        return Frames(**{f.name: getattr(self, f.name)[..., frames] for f in fields(self)})

    @staticmethod
    def join(parts: list[Frames]) -> Frames:
        """Consecutive runs of frames as one (copies)."""
        return Frames(**{f.name: np.concatenate([getattr(p, f.name) for p in parts], axis=-1)
                         for f in fields(Frames)})


def _fmax(params: FeatureParams, sr: int) -> tuple[float, float]:
    """Upper ends of the mel filterbank and of the band energies, in Hz (None: Nyquist)."""
    nyquist = sr / 2
    return (nyquist if params.fmax is None else float(params.fmax),
            nyquist if params.band_fmax is None else float(params.band_fmax))


def frame_part(
    y: np.ndarray, *, sr: int, params: FeatureParams, first: int = 0, stop: int | None = None
) -> Frames:
    """The :class:`Frames` of frames ``first .. stop - 1`` of ``y``'s centred frame grid.

    Only the samples those frames read (and, for the flux, the frame before ``first``)
    are used, so a few frames of a long signal cost a few frames.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32
        A signal as :func:`extract_features` validates it (finite, clipped).
    sr : int
    params : FeatureParams
        Checked (:func:`feature_names` accepts them).
    first, stop : int
        ``0 <= first < stop <= 1 + n_samples // hop_length``; ``stop`` None: the last frame.

    Returns
    -------
    Frames
        ``stop - first`` frames.
    """
    return frame_parts([(y, first, stop)], sr=sr, params=params)[0]


def frame_parts(
    runs: list[tuple[np.ndarray, int, int | None]], *, sr: int, params: FeatureParams
) -> list[Frames]:
    """:func:`frame_part` of several runs ``(y, first, stop)`` of frames, in one pass.

    The spectra of all runs are computed together: for many short runs (the edge frames
    of many windows) that costs a fraction of one call each.

    Returns
    -------
    list of Frames
        One per run, in order.
    """
    n_fft, hop = params.n_fft, params.hop_length
    bounds, blocks = [], []
    for y, first, stop in runs:
        total = 1 + len(y) // hop
        stop = total if stop is None else stop
        if not 0 <= first < stop <= total:
            raise ValueError(f"frames {first}..{stop - 1} outside the {total} frames of the "
                             "signal")
        lo = max(first - 1, 0)  # the flux of frame `first` needs the frame before it
        bounds.append((lo, first, stop))
        blocks.append(stft.frame(y, n_fft=n_fft, hop_length=hop, first=lo, stop=stop).T)
    fmax, _ = _fmax(params, sr)
    power = stft.power_of_frames(blocks, n_fft=n_fft)
    magnitude = np.sqrt(power)
    basis = _mfcc.mel_basis(sr=sr, n_fft=n_fft, n_mels=params.n_mels, fmin=params.fmin, fmax=fmax)
    mel_db = _mfcc.mel_db(power, basis=basis)
    centroid, bandwidth = spectral.centroid_bandwidth(magnitude, sr=sr, n_fft=n_fft)
    rolloff = spectral.rolloff(magnitude, sr=sr, n_fft=n_fft, roll_percent=params.roll_percent)
    flatness = spectral.flatness(power)
    # steps[c]: from column c - 1 to column c (none for column 0); a step from one run
    # to the next is never used.
    steps = np.concatenate([np.full(1, np.nan, dtype=np.float32),
                            spectral.flux_steps(magnitude)])
    peak, valley = bands.contrast_extremes(magnitude, bands.contrast_bands(
        sr=sr, n_fft=n_fft, fmin=params.contrast_fmin, n_bands=params.contrast_bands,
        quantile=params.contrast_quantile))
    out, at = [], 0
    for (y, _, _), (lo, first, stop) in zip(runs, bounds, strict=True):
        own = slice(at + first - lo, at + stop - lo)
        flux = steps[own].copy()
        if first == 0:
            flux[0] = np.nan  # frame 0 of a signal has no predecessor
        out.append(Frames(
            power=power[:, own], mel_db=mel_db[:, own],
            rms=time_domain.frame_rms(y, frame_length=n_fft, hop_length=hop, first=first,
                                      stop=stop),
            zcr=time_domain.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop,
                                               first=first, stop=stop),
            centroid=centroid[own], bandwidth=bandwidth[own], rolloff=rolloff[own],
            flatness=flatness[own], flux=flux, peak=peak[:, own], valley=valley[:, own]))
        at += stop - lo
    return out


def window_part(frames: Frames, y: np.ndarray, *, sr: int, params: FeatureParams) -> np.ndarray:
    """The features of a clip from the :class:`Frames` of all its frames.

    Parameters
    ----------
    frames : Frames
        All ``1 + n_samples // hop_length`` frames of the clip ``y``.
    y : np.ndarray, shape (n_samples,), float32
        The clip, validated as by :func:`extract_features` (for the amplitude statistics
        and the duration).
    sr : int
    params : FeatureParams

    Returns
    -------
    np.ndarray, shape (len(feature_names(params)),), float64
        In the order of :func:`feature_names`.
    """
    n_fft, hop = params.n_fft, params.hop_length
    if len(frames) != 1 + len(y) // hop:
        raise ValueError(f"{len(frames)} frames for a clip of {1 + len(y) // hop}")
    _, band_fmax = _fmax(params, sr)
    log_mel = _mfcc.floor_db(frames.mel_db, top_db=params.top_db)
    cepstra = _mfcc.mfcc(log_mel, n_mfcc=params.n_mfcc)
    framewise = np.vstack(
        [
            frames.rms,
            frames.zcr,
            spectral.onset_strength(log_mel, n_fft=n_fft, hop_length=hop),
            frames.centroid,
            frames.bandwidth,
            frames.rolloff,
            frames.flatness,
            spectral.flux_of_steps(frames.flux[1:]),  # frame 0's step lies outside the clip
            bands.contrast_of_extremes(frames.peak, frames.valley),
            cepstra,
            *_mfcc.deltas(cepstra, width=params.delta_width, orders=(1, 2)),
        ]
    )
    values = [summary_stats(framewise).ravel()]

    amplitude = time_domain.amplitude_stats(y)
    power = frames.power
    mean_power = power.sum(axis=1).astype(np.float64) / power.shape[1]
    clip = [amplitude[key[len("amp_"):]] for key in CLIP_LEVEL[:6]]
    clip += [
        time_domain.silence_ratio(frames.rms, threshold_db=params.silence_db),
        len(y) / sr,
        spectral.dominant_frequency(mean_power, sr=sr, n_fft=n_fft),
    ]
    values.append(np.asarray(clip, dtype=np.float64))
    values.append(bands.band_log_energies(mean_power, sr=sr, n_fft=n_fft,
                                          n_bands=params.n_bands, fmin=params.band_fmin,
                                          fmax=band_fmax))
    values.append(modulation.modulation_features(y, sr=sr))
    return np.concatenate(values)


def extract_features(y: np.ndarray, *, sr: int, params: FeatureParams) -> dict[str, float]:
    """All features of one clip: :func:`window_part` over the :func:`frame_part` of all of it.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), n_samples >= 1
        Mono signal, finite (float32 or convertible), sampled at ``sr``.
    sr : int
        Sampling rate in Hz (the loader resamples to ``params.sr``).
    params : FeatureParams

    Returns
    -------
    dict[str, float]
        ``len(feature_names(params))`` finite values keyed and ordered as
        :func:`feature_names`.

    Raises
    ------
    ValueError
        If ``y`` is empty, not 1-D or not finite.
    """
    names = _names(params)
    y, _ = _as_signal(y)
    values = window_part(frame_part(y, sr=sr, params=params), y, sr=sr, params=params)
    return dict(zip(names, values.tolist(), strict=True))
