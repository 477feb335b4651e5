"""The feature columns: their names and order, and the parameters that can give them.

:func:`feature_names` is the one definition of the columns :func:`pipeline.features.
extract_features` returns; asking for them checks the parameters first, so a user mistake
in ``params.yaml`` is one :class:`FeatureParamsError` before any clip is computed.
"""

from __future__ import annotations

from functools import lru_cache

from pipeline.core.config import FeatureParams
from pipeline.core.errors import InputError
from pipeline.features import bands
from pipeline.features.modulation import modulation_names
from pipeline.features.stats import STAT_NAMES


class FeatureParamsError(InputError):
    """Feature parameters that cannot give features; the message names the parameter as
    ``params: features.NAME`` (where the values come from in the pipeline)."""


# Families of frame-wise features, in column order: name -> what it is. Each family is one
# row of frames, except contrast (one per band) and the MFCC families (one per coefficient).
FRAMEWISE: dict[str, str] = {
    "rms": "frame root-mean-square amplitude",
    "zcr": "frame zero-crossing rate",
    "onset": "onset strength envelope",
    "centroid": "spectral centroid",
    "bandwidth": "spectral bandwidth",
    "rolloff": "spectral roll-off",
    "flatness": "spectral flatness",
    "flux": "spectral flux",
    "contrast": "spectral contrast per octave band",
    "mfcc": "MFCC",
    "dmfcc": "MFCC delta",
    "ddmfcc": "MFCC delta-delta",
}

CLIP_LEVEL: tuple[str, ...] = (
    "amp_mean_abs",
    "amp_std",
    "amp_skew",
    "amp_kurt",
    "amp_peak",
    "amp_crest",
    "silence_ratio",
    "duration",
    "dominant_freq",
)


def _indexed(prefix: str, n: int) -> list[str]:
    digits = max(2, len(str(n - 1)))
    return [f"{prefix}_{i:0{digits}d}" for i in range(n)]


def _refused(what: str) -> FeatureParamsError:
    """The error for ``params: features.WHAT`` (the parameter named first)."""
    return FeatureParamsError(f"params: features.{what}")


def _check(params: FeatureParams) -> None:
    """Reject parameters that cannot give features (a user mistake in params.yaml)."""
    positive = ("sr", "n_fft", "hop_length", "n_mfcc", "n_mels", "n_bands", "contrast_bands")
    for name in positive:
        value = getattr(params, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise _refused(f"{name} must be a positive integer, got {value!r}")
    if params.n_fft % 2 or params.n_fft < 4:
        raise _refused(f"n_fft must be an even integer >= 4, got {params.n_fft}")
    if params.n_mfcc > params.n_mels:
        raise _refused("n_mfcc must not exceed features.n_mels")
    if params.delta_width < 3 or params.delta_width % 2 == 0:
        raise _refused(f"delta_width must be an odd integer >= 3, got {params.delta_width}")
    if not 0 < params.roll_percent < 1 or not 0 < params.contrast_quantile < 1:
        raise _refused("roll_percent and contrast_quantile must lie in (0, 1)")
    for name in ("fmax", "band_fmax"):
        value = getattr(params, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _refused(f"{name} must be a number or null, got {value!r}")
    _check_frequencies(params)


def _check_frequencies(params: FeatureParams) -> None:
    """Reject frequency ranges the sample rate cannot hold, before any clip is computed
    (otherwise every clip would fail, e.g. contrast bands above Nyquist at 8 kHz)."""
    nyquist = params.sr / 2
    at = f"at features.sr {params.sr} Hz (Nyquist {nyquist:g} Hz)"
    fmax = nyquist if params.fmax is None else float(params.fmax)
    if not 0 <= params.fmin < fmax <= nyquist:
        raise _refused(f"fmin {params.fmin:g} and fmax {fmax:g} must satisfy "
                       f"0 <= fmin < fmax <= Nyquist {at}")
    band_fmax = nyquist if params.band_fmax is None else float(params.band_fmax)
    if not 0 < params.band_fmin < band_fmax <= nyquist:
        raise _refused(f"band_fmin {params.band_fmin:g} and band_fmax {band_fmax:g} must "
                       f"satisfy 0 < band_fmin < band_fmax <= Nyquist {at}")
    try:
        bands.contrast_bands(sr=params.sr, n_fft=params.n_fft, fmin=params.contrast_fmin,
                             n_bands=params.contrast_bands, quantile=params.contrast_quantile)
    except ValueError as exc:
        top = params.contrast_fmin * 2.0 ** params.contrast_bands
        raise _refused(f"contrast_fmin {params.contrast_fmin:g} and contrast_bands "
                       f"{params.contrast_bands} reach {top:g} Hz {at}: {exc}") from None


@lru_cache(maxsize=8)
def _names(params: FeatureParams) -> tuple[str, ...]:
    _check(params)
    per_family = {"contrast": params.contrast_bands + 1, "mfcc": params.n_mfcc,
                  "dmfcc": params.n_mfcc, "ddmfcc": params.n_mfcc}
    rows = []
    for family in FRAMEWISE:
        rows += _indexed(family, per_family[family]) if family in per_family else [family]
    names = [f"{row}_{stat}" for row in rows for stat in STAT_NAMES]
    names += CLIP_LEVEL
    names += [f"{band}_logenergy" for band in _indexed("band", params.n_bands)]
    names += modulation_names()
    return tuple(names)


def feature_names(params: FeatureParams) -> list[str]:
    """Column names of :func:`extract_features`, in its order (fixed for given params).

    Frame-wise rows (``rms, zcr, onset, centroid, bandwidth, rolloff, flatness, flux,
    contrast_NN, mfcc_NN, dmfcc_NN, ddmfcc_NN``) each give seven columns
    ``{row}_{min,max,median,mean,var,skew,kurt}``, followed by the clip-level columns
    :data:`CLIP_LEVEL`, ``band_NN_logenergy`` and the modulation spectrum's ``mod_*``
    (:func:`pipeline.features.modulation.modulation_names`).

    Raises
    ------
    FeatureParamsError
        If ``params`` cannot give features.
    """
    return list(_names(params))
