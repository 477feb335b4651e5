"""The only reader of ``params.yaml``: turns it into frozen dataclasses.

Every field has a default, so the package also runs where there is no ``params.yaml``
(an installed ``urbansound`` outside the repository). A key that is not a field is a
:class:`~pipeline.core.errors.UserError`: a misspelt parameter must never be silently ignored.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import UserError
from pipeline.core.model_names import BASE_MODELS, MODEL_NAMES

DEFAULT_PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class PrepareParams:
    """Which dataset the pipeline runs on."""

    dataset: str = "synth"  # "synth" (the embedded generator) or a dataset folder
    test: str | None = None  # optional second folder whose test clips get predictions
    synth_clips: int = 1000  # generated training clips (official folds)
    synth_test_clips: int = 500  # size of the independent generated AV set (≈38 % test clips)


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of feature extraction (librosa names)."""

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mfcc: int = 40
    n_mels: int = 128
    fmin: float = 0.0  # mel filterbank range, Hz
    fmax: float | None = None  # None: sr / 2
    top_db: float = 80.0  # log-mel floor below the clip's maximum, dB
    delta_width: int = 9  # frames in the Savitzky-Golay window of Δ and ΔΔ
    roll_percent: float = 0.85
    contrast_fmin: float = 200.0
    contrast_bands: int = 6  # octave bands above contrast_fmin (plus one below)
    contrast_quantile: float = 0.02
    n_bands: int = 16  # log-spaced bands of the clip's mean spectrum
    band_fmin: float = 50.0
    band_fmax: float | None = None  # None: sr / 2
    silence_db: float = -60.0  # a frame is silent below this RMS, dB full scale


@dataclass(frozen=True)
class ParallelParams:
    """How Dask runs the batched stages: sync | threads | processes | tcp://HOST:PORT."""

    scheduler: str = "processes"
    workers: int = 2
    batch_size: int = 100
    dashboard: bool = False  # print the link of Dask's dashboard (local clusters need bokeh)


# One field per model name (pipeline/core/model_names.py, checked against the registry).
TrainParams = dataclasses.make_dataclass(
    "TrainParams",
    [("models", tuple[str, ...], field(default=BASE_MODELS)),
     *((name, dict, field(default_factory=dict)) for name in MODEL_NAMES)],
    frozen=True,
    namespace={
        "__module__": __name__,
        "__doc__": "Model hyper-parameters: ``models`` (what ``train`` and ``evaluate`` fit, "
                   "default every base model) and one mapping per registered model "
                   "(``train.logreg`` ...), the user's settings merged over the defaults of "
                   ":mod:`pipeline.models.registry`.",
    },
)


@dataclass(frozen=True)
class EvaluateParams:
    """Cross-validation settings (used when the dataset has no official folds)."""

    n_splits: int = 10


@dataclass(frozen=True)
class TuneParams:
    """Search spaces for ``urbansound tune``: model name → {parameter: [values]}."""

    spaces: dict = field(default_factory=dict)
    search: str = "grid"  # grid | random
    n_iter: int = 20  # candidates drawn by a random search
    heatmap: dict = field(default_factory=dict)  # model name → [param on y, param on x]
    nested: bool = True  # also estimate the whole search by nested CV (unbiased)
    inner_splits: int = 3  # inner folds in each outer training part of the nested CV


@dataclass(frozen=True)
class SubmitParams:
    """Which model writes the submission, and for which test clips."""

    model: str = "best"
    test: str = ""  # dataset with the test clips ("" = the prepared manifest, data/prepared)


@dataclass(frozen=True)
class DetectParams:
    """Sliding-window detection over long recordings (``urbansound detect``).

    Window starts are ``hop`` seconds apart, rounded to a whole number of feature hops
    (``features.hop_length``) so that windows share their STFT frames; each window is
    ``window`` seconds long (the last one may be shorter). ``block`` seconds of window
    starts make one parallel task.
    """

    model: str = "best"
    window: float = 4.0  # s, the length of the training clips
    hop: float = 1.0  # s, also the time resolution of the probability curves and events
    threshold: float = 0.5  # a class is active where its smoothed probability reaches this
    merge_gap: float = 1.0  # s, same-class events this close are joined into one
    min_duration: float = 0.0  # s, shorter events are dropped
    gate_db: float | None = None  # frames this far above the noise floor may hold events
    block: float = 60.0  # s of window starts per task

    def __post_init__(self) -> None:
        for name in ("window", "hop", "block"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise UserError(f"detect: {name} must be a positive number of seconds, "
                                f"got {value!r}")
        if self.hop > self.window:
            raise UserError(f"detect: hop ({self.hop} s) must not exceed window "
                            f"({self.window} s), or parts of the audio are never analysed")
        if self.block < self.hop:
            raise UserError(f"detect: block ({self.block} s) must be at least hop ({self.hop} s)")
        if not 0.0 < self.threshold <= 1.0:
            raise UserError(f"detect: threshold must lie in (0, 1], got {self.threshold!r}")
        for name in ("merge_gap", "min_duration", "gate_db"):
            value = getattr(self, name)
            if name == "gate_db" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise UserError(f"detect: {name} must be a number >= 0, got {value!r}")


@dataclass(frozen=True)
class Params:
    """All parameters; ``seed`` flows into every ``random_state``."""

    seed: int = 42
    prepare: PrepareParams = field(default_factory=PrepareParams)
    features: FeatureParams = field(default_factory=FeatureParams)
    parallel: ParallelParams = field(default_factory=ParallelParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    tune: TuneParams = field(default_factory=TuneParams)
    submit: SubmitParams = field(default_factory=SubmitParams)
    detect: DetectParams = field(default_factory=DetectParams)


#: Scalar type hints: (does a YAML value fit it, what the error says it must be). YAML's
#: true/false are not numbers here, and an integer is a fine float.
_SCALARS: dict[type, tuple[Any, str]] = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a simple type ``hint`` and convert lists to tuples."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"params: {where} must be a list, got {value!r}")
        return tuple(value)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"params: {where} must be a mapping, got {value!r}")
        return dict(value)
    if hint in _SCALARS:
        accepts, what = _SCALARS[hint]
        if not accepts(value):
            raise UserError(f"params: {where} must be {what}, got {value!r}")
        return float(value) if hint is float else value
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from mapping ``data``; unknown keys are an error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"params: {where or 'the file'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise UserError(
            f"params: unknown key(s) {', '.join(prefix + k for k in unknown)}; "
            f"known: {', '.join(sorted(names))}"
        )
    kwargs = {
        name: _coerce(value, hints[name], f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    return cls(**kwargs)


def load_params(path: str | Path | None = None) -> Params:
    """Read parameters from ``path``.

    With ``path=None``, ``./params.yaml`` is read if it exists, otherwise the defaults
    are used. A named file that does not exist is a :class:`UserError`.
    """
    if path is None:
        path = Path(DEFAULT_PARAMS_FILE)
        if not path.exists():
            return Params()
    path = Path(path)
    text = read_params_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise UserError(f"params file {path} is not valid YAML: {first}") from None
    return _build(Params, data, "")


def read_params_text(path: str | Path) -> str:
    """The text of params file ``path``; a missing or unreadable file is a :class:`UserError`."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"params file not found: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read params file {path}: {exc.strerror}") from None


def params_digest(params: Params) -> str:
    """A short digest of every parameter's value (12 hex digits), shown by the HTML report
    so two runs' settings can be told apart at a glance."""
    import hashlib
    import json

    text = json.dumps(dataclasses.asdict(params), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
