"""The estimator contract every genre model follows (scikit-learn style).

``__init__`` only stores parameters; ``fit`` learns, sets state ending in ``_`` and returns ``self``;
``predict_proba`` maps a :class:`MovieTable` to an (n_movies, n_genres) array of probabilities. ``fit``
also tunes per-genre ``thresholds_`` on the validation rows, so every model predicts the same way.
A model saves to a folder as ``model.json`` (name, parameters, small learned state) and
``model.safetensors`` (arrays), and ``load_model`` brings it back.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from safetensors.numpy import load_file, save

from moviegenre.data.readers import read_json
from moviegenre.data.table import MovieTable, atomic_write_bytes, atomic_write_text
from moviegenre.errors import ConfigError, DataError, first_line
from moviegenre.params import Range

# The model shipped inside the package: what `predict` uses when no run folder is given.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "default_model"
MODEL_JSON = "model.json"
MODEL_WEIGHTS = "model.safetensors"
MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024  # far above any saved model's vocabularies (the packaged model's: 0.2 MB)
INPUTS = ("poster", "description")
PRECISIONS = ("float32", "float16", "int8")
INT8_SCALE = ".int8_scale"  # the suffix of an int8 matrix's per-row scales
INT8_MIN_SIZE = 4096  # smaller arrays (biases, standardisation statistics) stay float16: they are a few kB in all


class NotFittedError(ConfigError, ValueError, AttributeError):
    """A model used before ``fit`` (or ``load_model``). Its bases are scikit-learn's ``NotFittedError``'s, whose
    import (the whole of scikit-learn, seconds) every command would pay: ``except AttributeError`` holds alike."""


class GenreModel:
    """Base class. Subclasses implement ``_fit``, ``predict_proba`` and the two state hooks."""

    #: the registry name, set by ``create_model``
    name: str = ""
    #: which inputs the model reads; ``evaluate --use`` checks against it
    inputs: tuple[str, ...] = INPUTS
    #: the values each numeric parameter may take, checked before any fit; a subclass's add to its parents'
    param_ranges: ClassVar[dict[str, Range]] = {}
    #: whether ``fit`` shows progress bars (embedding the inputs) where no training config says: the run's --progress,
    #: set by ``training.config.configure`` (for train and audit alike); not a parameter, never saved
    progress: bool = True

    def __init_subclass__(cls, **kwargs) -> None:
        # Each model defines its own predict_proba: wrapped here, every one (and predict, through it) fails before
        # fit with one clear error, not on the first learned attribute it happens to read (an embedding model's
        # only after embedding every input).
        super().__init_subclass__(**kwargs)
        if "predict_proba" in vars(cls):
            predict_proba = cls.predict_proba

            @functools.wraps(predict_proba)
            def checked(self, movies, *args, **kwargs):
                self._check_fitted()
                return predict_proba(self, movies, *args, **kwargs)
            cls.predict_proba = checked

    def _check_fitted(self) -> None:
        # Not scikit-learn's rule (any attribute ending in "_"): a fit that failed midway leaves some. fit and
        # load_model set thresholds_ last; fit's own threshold tuning predicts just before it.
        if "thresholds_" not in vars(self) and not vars(self).get("_tuning_thresholds"):
            raise NotFittedError(f"model '{self.name or type(self).__name__}' is not fitted: call fit first "
                                 "(or load a trained run)")

    def __sklearn_clone__(self) -> GenreModel:
        """scikit-learn's ``clone`` (1.3+): the same parameters, deep-copied, and registry name, no learned state. Its
        default rebuilds from parameters alone: the clone would have no name, and its save no loadable folder."""
        twin = type(self)(**copy.deepcopy(self.get_params()))
        twin.name = self.name
        return twin

    def __repr__(self) -> str:
        # As scikit-learn's, the parameters that differ from the defaults: here the registry's preset, so the text
        # rebuilds the model (an unregistered one's: its class defaults, as scikit-learn's).
        from moviegenre.models.registry import preset

        registered = preset(self.name)
        defaults = registered if registered is not None else \
            {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items()
                            if key not in defaults or defaults[key] != value)
        if registered is None:
            return f"{type(self).__name__}({changed})"
        return f"create_model({self.name!r}{', ' if changed else ''}{changed})"

    def _validate_params(self) -> None:
        """Every parameter of its type and in its range, and the rules across them (TypeError, ValueError)."""
        check_param_types(self, self.get_params())
        self._check_param_rules()

    def _check_param_rules(self) -> None:
        """What types and ranges cannot say, checked with them: rules that tie parameters together, and a parameter
        holding another model's settings (``check_settings``); a TypeError or ValueError naming them."""

    def fit(self, movies: MovieTable, labels: np.ndarray, *, validation: tuple[MovieTable, np.ndarray] | None = None,
            genres: list[str] | None = None, run_dir: str | Path | None = None, resume: bool = False) -> GenreModel:
        """Learn from ``movies``/``labels`` (0/1 matrix); early-stop and tune thresholds on ``validation``."""
        self._validate_params()  # as scikit-learn does in fit: the Python API builds models without the CLI's checks
        labels = _checked_labels(labels, len(movies), "labels")
        if validation is not None:
            _checked_labels(validation[1], len(validation[0]), "validation labels", labels.shape[1])
        if genres is not None and len(genres) != labels.shape[1]:
            # Accepted, the saved model failed only at predict time, on a broadcast of thresholds and probabilities.
            raise DataError("genres", f"{len(genres)} names for {labels.shape[1]} label columns")
        vars(self).pop("thresholds_", None)  # an earlier fit's must not vouch for the mixed state a failed refit leaves
        self.genres_ = list(genres) if genres is not None else [f"genre_{i}" for i in range(labels.shape[1])]
        if not self.readable(movies).any():  # it would learn the genres' rates from blanks, and train without a word
            raise self.unread_error(movies.source)
        self._fit(movies, labels, validation, run_dir=run_dir, resume=resume)
        self._tuning_thresholds = True
        try:
            self._tune_thresholds(validation)
        finally:
            del self._tuning_thresholds
        return self

    def _tune_thresholds(self, validation, tuning: tuple[np.ndarray, np.ndarray] | None = None
                         ) -> tuple[np.ndarray, np.ndarray] | None:
        """Set ``thresholds_`` from ``tuning``, (labels, probabilities) of rows the model did not learn from: by
        default the validation rows' (none: 0.5 for every genre). Returns those rows."""
        from moviegenre.evaluation.metrics import tune_thresholds  # scikit-learn: only when fitting

        if tuning is None and validation is not None and len(validation[0]):
            tuning = validation[1], self.predict_proba(validation[0])
        self.thresholds_ = tune_thresholds(*tuning) if tuning is not None \
            else np.full(len(self.genres_), 0.5, dtype=np.float32)
        return tuning

    def predict_proba(self, movies: MovieTable) -> np.ndarray:
        raise NotImplementedError

    def readable(self, movies: MovieTable) -> np.ndarray:
        """Rows with at least one input this model reads (the others give it nothing to judge)."""
        return (movies.has_poster & ("poster" in self.inputs)) | (movies.has_description & ("description" in self.inputs))

    def unread_error(self, source: str) -> DataError:
        """What a fit says that has no training movie it can read."""
        return DataError(source, f"no training movie has a {' or a '.join(self.inputs)}, what model "
                                 f"'{self.name or type(self).__name__}' reads",
                         hint="give movies with one, or train another model")

    def predict(self, movies: MovieTable) -> np.ndarray:
        """0/1 matrix using the tuned per-genre thresholds."""
        return (self.predict_proba(movies) >= self.thresholds_[None, :]).astype(np.int8)

    def _fit(self, movies: MovieTable, labels: np.ndarray, validation, *, run_dir, resume) -> None:
        raise NotImplementedError

    # -- parameters (scikit-learn's get_params) --------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        # ``deep`` (scikit-learn's clone passes it) changes nothing: no parameter holds an estimator.
        # As scikit-learn's: a model with no __init__ of its own (object's *args, **kwargs) has no parameters.
        parameters = inspect.signature(type(self).__init__).parameters.values()
        names = [p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params) -> GenreModel:
        known = self.get_params()
        for key, value in params.items():
            if key not in known:
                raise ConfigError(f"model '{self.name}' has no parameter '{key}' (has: {', '.join(known)})")
            setattr(self, key, value)
        return self

    # -- persistence ---------------------------------------------------------------------------------
    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Learned state beyond genres_/thresholds_: (JSON-able dict, named arrays)."""
        return {}, {}

    def _set_state(self, state: dict, arrays: dict[str, np.ndarray]) -> None:
        pass

    def save(self, directory: str | Path, *, precision: str = "float32") -> Path:
        """Write the model. ``precision`` "float16" halves the float arrays; "int8" (the packaged model's) also stores
        each weight matrix as int8 with one float32 scale per row (absmax), a quarter of float32's size."""
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision '{precision}' (known: {', '.join(PRECISIONS)})")
        from moviegenre.models.registry import is_registered

        if not is_registered(self.name):  # load_model builds by this name: the folder would be "damaged" for ever
            raise ConfigError(f"model {type(self).__name__} has no registry name ('{self.name}'): build it with "
                              "create_model(NAME), or clone one so built, to save it")
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state, arrays = self._get_state()
        arrays = {name: np.ascontiguousarray(array) for key, value in arrays.items()
                  for name, array in _stored(key, value, precision).items()}
        arrays["thresholds_"] = np.asarray(self.thresholds_, dtype=np.float32)
        # An earlier model's model.json goes first: a save interrupted between the two files then leaves a folder
        # that plainly holds no model, never these weights under the earlier model's name and parameters.
        (directory / MODEL_JSON).unlink(missing_ok=True)
        atomic_write_bytes(directory / MODEL_WEIGHTS, save(arrays))
        meta = {"name": self.name, "params": _jsonable(self.get_params()), "genres": self.genres_, "state": state}
        atomic_write_text(directory / MODEL_JSON, json.dumps(meta, indent=2) + "\n")
        return directory


def load_model(directory: str | Path) -> GenreModel:
    """A fitted model back from ``save``'s folder (a run folder, or the packaged default model)."""
    from moviegenre.models.registry import create_model

    directory = Path(directory)
    meta = model_meta(directory)
    weights = directory / MODEL_WEIGHTS
    try:
        if not weights.is_file():  # a pipe or device would make the reading wait for ever
            raise ValueError("not a regular file")
        arrays = _restored(load_file(str(weights)))
    except Exception as error:  # noqa: BLE001 - safetensors' own error type, OSError, ...: all mean a damaged file
        raise _damaged(weights, error) from None
    try:
        model = create_model(meta["name"], **meta["params"])
        # A parameter added since the run was saved takes its class default (off), not the registry's preset: the run
        # was trained without it.
        signature = inspect.signature(type(model).__init__).parameters
        model.set_params(**{name: signature[name].default for name in model.get_params()
                            if name not in meta["params"] and signature[name].default is not inspect.Parameter.empty})
        model._validate_params()
    except (ConfigError, TypeError, ValueError) as error:
        raise _damaged(directory / MODEL_JSON, error) from None
    try:
        model.genres_ = meta["genres"]
        model.thresholds_ = arrays.pop("thresholds_")
        if model.thresholds_.shape != (len(model.genres_),):
            raise ValueError(f"{len(model.thresholds_)} thresholds for {len(model.genres_)} genres")
        if not ((model.thresholds_ >= 0) & (model.thresholds_ <= 1)).all():  # NaN fails too
            raise ValueError("thresholds outside [0, 1]")
        model._set_state(meta.get("state", {}), arrays)
    except (ConfigError, KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        # Both files parse but do not make this model: state of the wrong shape, or weights of other shapes.
        raise _damaged(directory, error) from None
    return model


def _checked_labels(labels, rows: int, what: str, columns: int | None = None) -> np.ndarray:
    """``labels`` as a float32 (rows, columns) 0/1 matrix, or a DataError naming ``what`` and the mismatch."""
    try:
        labels = np.asarray(labels, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataError(what, "not a matrix of numbers") from None
    if labels.ndim != 2:
        raise DataError(what, f"{labels.ndim}-D, expected a (movies, genres) matrix of 0 and 1")
    if len(labels) != rows:
        raise DataError(what, f"{len(labels)} rows for {rows} movies")
    if columns is not None and labels.shape[1] != columns:
        raise DataError(what, f"{labels.shape[1]} columns for {columns} genres")
    wrong = labels[(labels != 0) & (labels != 1)]  # NaN included
    if wrong.size:
        raise DataError(what, f"values other than 0 and 1 (first: {wrong[0]:g})")
    return labels


def _stored(key: str, array: np.ndarray, precision: str) -> dict[str, np.ndarray]:
    """``array`` as saved at ``precision``: int8 rows and their scales (``key`` + INT8_SCALE) for a weight matrix."""
    if array.dtype != np.float32 or precision == "float32":
        return {key: array}
    if precision == "int8" and array.ndim == 2 and array.size >= INT8_MIN_SIZE:
        scale = np.abs(array).max(axis=1, keepdims=True) / 127
        scale[scale == 0] = 1
        return {key: np.round(array / scale).astype(np.int8), key + INT8_SCALE: scale.astype(np.float32)}
    return {key: array.astype(np.float16)}


def load_network(build, weights: dict[str, np.ndarray]):
    """The network ``build()`` makes (sized by model.json), holding ``weights`` (from model.safetensors). It is built
    on PyTorch's meta device (shapes, no memory) and then given the arrays, checked for their shapes and types:
    sizes in a damaged or hostile model.json far beyond its weights fail on the shapes, never being allocated."""
    import torch

    with torch.device("meta"):
        net = build()
    tensors = {k: torch.as_tensor(v) for k, v in weights.items()}
    expected = net.state_dict()
    wrong = next((k for k, v in tensors.items() if k in expected and v.dtype != expected[k].dtype), None)
    if wrong is not None:
        raise ValueError(f"array '{wrong}' is {tensors[wrong].dtype}, expected {expected[wrong].dtype}")
    net.load_state_dict(tensors, assign=True)
    return net.eval()


def _restored(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float32 arrays back from ``_stored``'s."""
    scales = {k.removesuffix(INT8_SCALE): arrays[k] for k in arrays if k.endswith(INT8_SCALE)}
    restored = {}
    for key, array in arrays.items():
        if key.endswith(INT8_SCALE):
            continue
        if key in scales:
            if array.dtype != np.int8 or scales[key].shape != (len(array), 1):
                raise ValueError(f"array '{key}' and its scale do not match")
            with np.errstate(over="ignore", invalid="ignore"):  # an infinite scale is refused below, not warned of
                array = array.astype(np.float32) * scales[key]
        restored[key] = array.astype(np.float32) if array.dtype == np.float16 else array
        if restored[key].dtype.kind == "f" and not np.isfinite(restored[key]).all():  # every probability would be NaN
            raise ValueError(f"array '{key}' holds NaN or infinite values")
    return restored


def _damaged(path: Path, error: Exception) -> ConfigError:
    return ConfigError(f"{path}: damaged model files ({first_line(error)}); retrain or restore the run")


def check_param_types(model: GenreModel, params: dict) -> None:
    """Each parameter has its default's type (None only where the signature allows it) and lies in its range
    (``param_ranges``), so that bad values fail here, by name (TypeError, ValueError), rather than deep inside a fit."""
    signature = inspect.signature(type(model).__init__).parameters
    defaults = {name: p.default for name, p in signature.items()}
    ranges = _ranges(type(model))
    for key, value in params.items():
        if key == "config" and key in defaults and value is not None:
            _check_config(value)
            continue
        default = defaults.get(key)
        if value is None:
            if key in signature and not _allows_none(signature[key]):
                raise TypeError(f"parameter '{key}' is None, expected {type(default).__name__}")
            continue
        if default is not None and default is not inspect.Parameter.empty:
            expected = (int, float) if type(default) is float else type(default)
            if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, expected):
                raise TypeError(f"parameter '{key}' is {value!r}, expected {type(default).__name__}")
        if key in ranges and value not in ranges[key]:
            finite = "a finite number " if isinstance(value, float) and math.isinf(value) else ""
            raise ValueError(f"parameter '{key}' is {value!r}, expected {finite}{ranges[key]}")


def _allows_none(parameter: inspect.Parameter) -> bool:
    """Whether a parameter may be None: its default is None or its annotation ("int | None") names None."""
    return (parameter.default is None or parameter.default is inspect.Parameter.empty
            or "None" in str(parameter.annotation))


def check_params(model: GenreModel, option: str) -> None:
    """A model built with the user's parameters (``option``: how they were given) checked as one-line ConfigError:
    a bad value would otherwise fail deep inside a fit, after the inputs are embedded."""
    try:
        model._validate_params()
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{option}: {error} (model '{model.name}')") from None


def _ranges(cls: type) -> dict[str, Range]:
    """The ``param_ranges`` of ``cls`` and of every class it derives from (the nearest declaration wins)."""
    return {name: interval for klass in reversed(cls.__mro__)
            for name, interval in vars(klass).get("param_ranges", {}).items()}


def check_settings(settings, name: str, of: type, what: str, chosen: tuple[str, ...] = ()) -> None:
    """A parameter ``name`` that holds ``of``'s parameters (an object of ``what``; its default, None, says nothing of
    its type): each a parameter of ``of`` (but not one of ``chosen``, which the model sets itself), of its type and
    range, as TypeError or ValueError naming ``name``."""
    if not isinstance(settings, dict):
        raise TypeError(f"parameter '{name}' is {settings!r}, expected an object of {what}")
    known = set(inspect.signature(of.__init__).parameters) - {"self", *chosen}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"parameter '{name}' has no field '{unknown[0]}' (has: {', '.join(sorted(known))})")
    try:
        check_param_types(of(), settings)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{name}: {error}") from None


def _check_config(config) -> None:
    """A ``config`` parameter: a TrainConfig (``configure``'s, from the command line's options), or its fields as
    model.json stores them."""
    from moviegenre.training.config import TrainConfig

    check_settings(asdict(config) if isinstance(config, TrainConfig) else config, "config", TrainConfig,
                   "training settings")


def model_meta(directory: Path) -> dict:
    """A model folder's ``model.json`` (name, parameters, genres, small state), without loading the weights."""
    if not (directory / MODEL_JSON).exists() or not (directory / MODEL_WEIGHTS).exists():
        raise ConfigError(f"{directory}: not a model folder (no {MODEL_JSON} + {MODEL_WEIGHTS}; "
                          "give a run folder made by 'moviegenre train')")
    path = directory / MODEL_JSON
    try:
        meta = read_json(path, MAX_MODEL_JSON_BYTES)
    except DataError as error:
        raise _damaged(path, ValueError(error.problem)) from None
    shape = {"name": str, "params": dict, "genres": list, "state": dict}
    wrong = [key for key, kind in shape.items()
             if not isinstance(meta, dict) or not isinstance(meta.get(key, {} if key == "state" else None), kind)]
    if wrong or not meta["genres"] or not all(isinstance(g, str) for g in meta["genres"]):
        field = wrong[0] if wrong else "genres"
        raise _damaged(path, ValueError(f"field '{field}' missing or of the wrong type" if isinstance(meta, dict)
                                        else f"a JSON {type(meta).__name__}, not an object"))
    return meta


def run_model_dir(run_dir: str | Path | None) -> Path:
    """The model folder of a run, or the packaged default model's when ``run_dir`` is None."""
    directory = Path(run_dir) if run_dir is not None else DEFAULT_MODEL_DIR
    if run_dir is not None and not directory.is_dir():
        raise ConfigError(f"{directory}: no such run folder (make one with 'moviegenre train')")
    return directory


def load_run_model(run_dir: str | Path | None) -> tuple[GenreModel, Path]:
    """The model of a run folder, or the packaged default model when ``run_dir`` is None."""
    directory = run_model_dir(run_dir)
    return load_model(directory), directory


def _jsonable(params: dict) -> dict:
    out = {}
    for key, value in params.items():
        if is_dataclass(value):
            value = asdict(value)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out
