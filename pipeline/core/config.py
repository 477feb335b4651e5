"""The only reader of ``params.yaml``: turns it into frozen dataclasses.

Every field has a default, so the package also runs where there is no ``params.yaml``
(an installed ``urbansound`` outside the repository). A key that is not a field is a
:class:`~pipeline.core.errors.UserError`: a misspelt parameter must never be silently ignored.

Every number is checked against its range when its dataclass is built
(:func:`~pipeline.core.errors.check_range`), so values from the file and from command-line
flags (``dataclasses.replace``) meet the same bounds before any stage starts. The file itself
is read safely: a regular file of at most :data:`MAX_PARAMS_BYTES`, UTF-8 text, YAML
without aliases.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import UserError, check_range, shown
from pipeline.core.model_names import BASE_MODELS, MODEL_NAMES

DEFAULT_PARAMS_FILE = "params.yaml"
# A params file is a few kB; anything this large is not one (and is not read into memory).
MAX_PARAMS_BYTES = 1 << 20

#: Generated clips at most (prepare.synth_clips, synth --clips): 12x UrbanSound8K.
MAX_CLIPS = 100_000
#: Frames overlap at most this many times (n_fft / hop_length): the STFT of a clip costs
#: memory in proportion, 16x its samples at most.
MAX_OVERLAP = 16
#: Longest clip featurized whole, s (15x the longest UrbanSound8K clip). A clip's features
#: summarise all its frames at once, so its memory grows with its length (about 2 MB per
#: second); a longer file in a clip dataset is most likely a mistake and becomes an error
#: row, and ``detect`` analyses long recordings block by block in flat memory.
MAX_CLIP_SECONDS = 60.0
#: Longest analysis window of ``detect``, s: a window is a clip for the model.
MAX_WINDOW_SECONDS = MAX_CLIP_SECONDS
#: Longest recording ``detect`` analyses, s (48 h): its window probabilities, frame powers
#: and picture columns stay in memory (~100 MB a day); a header announcing more (a FLAC
#: may claim 2**36 samples) is a file error, not an out-of-memory crash.
MAX_RECORDING_SECONDS = 48 * 3600.0
#: Workers (processes or threads) of a local engine at most.
MAX_WORKERS = 64
#: Items per task at most.
MAX_BATCH_SIZE = 100_000

# features.NAME: (low, high, integer, low excluded). The STFT size is bounded by what one
# clip can use (65536 samples is 3 s at 22050 Hz), the filter banks by their FFT.
_FEATURE_RANGES = {
    "sr": (1000, 96_000, True, False),
    "n_fft": (16, 65_536, True, False),
    "hop_length": (1, 65_536, True, False),
    "n_mfcc": (1, 256, True, False),
    "n_mels": (1, 512, True, False),
    "fmin": (0.0, 192_000.0, False, False),
    "fmax": (0.0, 192_000.0, False, True),
    "top_db": (0.0, 300.0, False, True),
    "delta_width": (3, 99, True, False),
    "contrast_fmin": (0.0, 192_000.0, False, True),
    "contrast_bands": (1, 16, True, False),
    "n_bands": (1, 256, True, False),
    "band_fmin": (0.0, 192_000.0, False, True),
    "band_fmax": (0.0, 192_000.0, False, True),
    "silence_db": (-300.0, 0.0, False, False),
}


def _check_fields(obj: Any, where: str, ranges: dict[str, tuple], *,
                  numbers_only: frozenset[str] = frozenset()) -> None:
    """:func:`check_range` of fields ``ranges`` (name: ``(low, high, integer, above)``);
    fields in ``numbers_only`` are checked only when they hold a number (None, or a value
    of the wrong type, is left to the code that knows what it means)."""
    for name, (low, high, integer, above) in ranges.items():
        value = getattr(obj, name)
        if name in numbers_only and (isinstance(value, bool)
                                     or not isinstance(value, (int, float))):
            continue
        check_range(f"{where}{name}", value, low, high, integer=integer, above=above)


@dataclass(frozen=True)
class PrepareParams:
    """Which dataset the pipeline runs on."""

    dataset: str = "synth"  # "synth" (the embedded generator) or a dataset folder
    test: str | None = None  # optional second folder whose test clips get predictions
    synth_clips: int = 1000  # generated training clips (official folds)
    synth_test_clips: int = 500  # size of the independent generated AV set (≈38 % test clips)

    def __post_init__(self) -> None:
        _check_fields(self, "params: prepare.", {"synth_clips": (1, MAX_CLIPS, True, False),
                                                  "synth_test_clips": (0, MAX_CLIPS, True, False)})


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

    def __post_init__(self) -> None:
        # Ranges only; what depends on several values at once (n_fft even, n_mfcc <= n_mels,
        # frequencies below Nyquist) is checked by pipeline.features.feature_names.
        _check_fields(self, "params: features.", _FEATURE_RANGES,
                      numbers_only=frozenset({"fmax", "band_fmax"}))
        n_fft, hop = self.n_fft, self.hop_length
        if not n_fft // MAX_OVERLAP <= hop <= n_fft:
            raise UserError(f"params: features.hop_length must lie between n_fft / "
                            f"{MAX_OVERLAP} and n_fft ({n_fft // MAX_OVERLAP} and {n_fft} for "
                            f"n_fft {n_fft}), got {hop}: a longer hop skips audio, a shorter "
                            "one multiplies the memory of every clip")


@dataclass(frozen=True)
class ParallelParams:
    """How Dask runs the batched stages: sync | threads | processes | tcp://HOST:PORT."""

    scheduler: str = "processes"
    workers: int = 2
    batch_size: int = 100
    dashboard: bool = False  # print the link of Dask's dashboard (local clusters need bokeh)

    def __post_init__(self) -> None:
        _check_fields(self, "params: parallel.", {"workers": (1, MAX_WORKERS, True, False),
                                                   "batch_size": (1, MAX_BATCH_SIZE, True, False)})


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

    def __post_init__(self) -> None:
        _check_fields(self, "params: evaluate.", {"n_splits": (2, 100, True, False)})


@dataclass(frozen=True)
class TuneParams:
    """Search spaces for ``urbansound tune``: model name → {parameter: [values]}."""

    spaces: dict = field(default_factory=dict)
    search: str = "grid"  # grid | random
    n_iter: int = 20  # candidates drawn by a random search
    heatmap: dict = field(default_factory=dict)  # model name → [param on y, param on x]
    nested: bool = True  # also estimate the whole search by nested CV (unbiased)
    inner_splits: int = 3  # inner folds in each outer training part of the nested CV

    def __post_init__(self) -> None:
        _check_fields(self, "params: tune.", {"n_iter": (1, 10_000, True, False),
                                               "inner_splits": (2, 100, True, False)})


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
                                f"got {shown(value)}")
        for name, high in (("window", MAX_WINDOW_SECONDS), ("hop", MAX_WINDOW_SECONDS),
                           ("block", 3600.0)):
            check_range(f"detect: {name}", getattr(self, name), 0.0, high, above=True,
                        unit=" s")
        if self.hop > self.window:
            raise UserError(f"detect: hop ({self.hop} s) must not exceed window "
                            f"({self.window} s), or parts of the audio are never analysed")
        if self.block < self.hop:
            raise UserError(f"detect: block ({self.block} s) must be at least hop ({self.hop} s)")
        if not 0.0 < self.threshold <= 1.0:
            raise UserError(f"detect: threshold must lie in (0, 1], got {shown(self.threshold)}")
        for name in ("merge_gap", "min_duration", "gate_db"):
            value = getattr(self, name)
            if name == "gate_db" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise UserError(f"detect: {name} must be a number >= 0, got {shown(value)}")
            check_range(f"detect: {name}", value, 0.0, 200.0 if name == "gate_db" else 86_400.0)


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

    def __post_init__(self) -> None:
        # numpy's and scikit-learn's seeds: 0 <= seed < 2**32
        check_range("params: seed", self.seed, 0, 2**32 - 1, integer=True)


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
            raise UserError(f"params: {where} must be a list, got {shown(value)}")
        item = typing.get_args(hint)[0]  # tuple[X, ...]: every item an X
        if item in _SCALARS and not all(_SCALARS[item][0](v) for v in value):
            raise UserError(f"params: {where} must be a list, each item {_SCALARS[item][1]}, "
                            f"got {shown(value)}")
        return tuple(value)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"params: {where} must be a mapping, got {shown(value)}")
        return dict(value)
    if hint in _SCALARS:
        accepts, what = _SCALARS[hint]
        if not accepts(value):
            raise UserError(f"params: {where} must be {what}, got {shown(value)}")
        return float(value) if hint is float else value
    return value


def _key(key: Any) -> str:
    """A YAML key as a message shows it: a name as it is, anything else as a value."""
    return shown(key)[1:-1] if isinstance(key, str) else shown(key)


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from mapping ``data``; unknown keys are an error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"params: {where or 'the file'} must be a mapping, got {shown(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names, key=str)  # YAML keys may be numbers or null too
    if unknown:
        prefix = f"{where}." if where else ""
        raise UserError(
            f"params: unknown key(s) {', '.join(prefix + _key(k) for k in unknown[:5])}; "
            f"known: {', '.join(sorted(names))}"
        )
    kwargs = {
        name: _coerce(value, hints[name], f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    return cls(**kwargs)


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases: ``*name`` makes a value refer to another, and
    nested ones expand exponentially (a few lines can stand for gigabytes)."""

    def compose_node(self, parent, index):  # noqa: D102 (PyYAML's hook)
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _AliasFound(f"line {event.start_mark.line + 1}: YAML alias *{event.anchor} "
                              "(aliases are not allowed in a params file: write the value out)")
        return super().compose_node(parent, index)


class _AliasFound(yaml.YAMLError):
    pass


def parse_params_text(text: str, path: str | Path) -> Any:
    """The YAML document of params file ``path`` (its ``text``), without aliases.

    Raises
    ------
    UserError
        Not valid YAML, or a YAML alias.
    """
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader)
    except _AliasFound as exc:
        raise UserError(f"params file {path}: {exc}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise UserError(f"params file {path} nests lists or mappings too deeply") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise UserError(f"params file {path} is not valid YAML: {first[:200]}") from None


def load_params(path: str | Path | None = None) -> Params:
    """Read parameters from ``path``.

    With ``path=None``, ``./params.yaml`` is read if it exists, otherwise the defaults
    are used. A named file that does not exist is a :class:`UserError`, as are a file that
    is not UTF-8 text, uses YAML aliases, or holds a value out of its range.
    """
    if path is None:
        path = Path(DEFAULT_PARAMS_FILE)
        if not path.exists():
            return Params()
    path = Path(path)
    return _build(Params, parse_params_text(read_params_text(path), path), "")


def read_params_text(path: str | Path) -> str:
    """The text of params file ``path``.

    Raises
    ------
    UserError
        A missing or unreadable file, one that is not a regular file (a named pipe would
        block the read), larger than :data:`MAX_PARAMS_BYTES`, or not UTF-8 text.
    """
    path = Path(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"params file {path} is not a regular file")
        if info.st_size > MAX_PARAMS_BYTES:
            raise UserError(f"params file {path} is {info.st_size} bytes; a params file is a "
                            f"few kB (at most {MAX_PARAMS_BYTES} bytes)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"params file not found: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read params file {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(f"params file {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on "
                        f"line {line}); save it as UTF-8") from None


def params_digest(params: Params) -> str:
    """A short digest of every parameter's value (12 hex digits), shown by the HTML report
    so two runs' settings can be told apart at a glance."""
    import hashlib
    import json

    text = json.dumps(dataclasses.asdict(params), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
