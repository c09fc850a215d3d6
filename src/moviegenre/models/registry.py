"""Models registered by name and built through one factory (as timm does).

The built-in models are declared here, name, summary and module, so that listing them imports none of the
libraries they train with (torch, Lightning, transformers): a model's module is imported, and its
``@register_model`` factory registered, only when ``create_model`` builds that model.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from moviegenre.errors import ConfigError

if TYPE_CHECKING:
    from moviegenre.models.base import GenreModel


@dataclass(frozen=True)
class ModelSpec:
    name: str
    summary: str
    module: str  # the module whose import registers the factory


FINETUNED_SUFFIX = "-finetune"
_EMBEDDING, _FINETUNE = "moviegenre.models.embedding", "moviegenre.models.finetune"
# The heads with a fine-tuned twin (NAME-finetune), and the fusion each twin puts on its encoders.
TUNABLE = {"fusion-gmu": "gmu", "fusion-concat": "concat", "poster-mlp": "poster", "description-mlp": "description"}
# The encoders each fine-tuned twin reads (finetune.py's defaults), by its fusion.
TUNED_ENCODERS = {"gmu": ("EfficientNet-Lite0", "MiniLM"), "concat": ("EfficientNet-Lite0", "MiniLM"),
                  "poster": ("EfficientNet-Lite0",), "description": ("MiniLM",)}
_SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in [
    ModelSpec("poster-mlp", "MLP head on frozen poster embeddings (EfficientNet-Lite0, poster + mirror image)",
              _EMBEDDING),
    ModelSpec("description-mlp", "MLP head on frozen description embeddings (all-mpnet-base-v2) + TF-IDF words",
              _EMBEDDING),
    ModelSpec("fusion-concat", "concatenation fusion of poster + description embeddings (+ TF-IDF words, title); "
              "any input", _EMBEDDING),
    ModelSpec("fusion-gmu", "gated multimodal unit fusion (Arevalo et al. 2017) of poster embeddings (EfficientNet-"
              "Lite0, Lite1 and Lite2, concatenated) and all-mpnet-base-v2 description embeddings (its layer 11; + TF-IDF "
              "words, title); where one input is given alone, a network for it (the poster's also reads the text on "
              "it, by OCR), the description's also blended in where both are given; a description given alone is "
              "judged by thresholds of its own; trained again on the training and validation rows once the "
              "validation rows chose its epochs and thresholds (cross-fitted where they are fewer than 1,300: "
              "thresholds tuned on every training and validation movie out of fold); any input; the default",
              _EMBEDDING),
    ModelSpec("fusion-gmu-no-cross-fit", "fusion-gmu tuning its thresholds on the validation rows however few they "
              "are: the default before", _EMBEDDING),
    ModelSpec("fusion-gmu-poster-text-0.3", "fusion-gmu-no-cross-fit blending the words read off a lone poster at "
              "0.3, not 0.4: the default before", _EMBEDDING),
    ModelSpec("fusion-gmu-label-smoothing", "fusion-gmu-poster-text-0.3 learning genre lists smoothed by 0.05 (a genre "
              "a list leaves out costs less): more micro-F1, less macro-F1 on a poster; not the default", _EMBEDDING),
    ModelSpec("fusion-gmu-no-refit", "fusion-gmu-poster-text-0.3 trained on the training rows alone (its networks and "
              "word models not trained again with the validation rows): the default before it", _EMBEDDING),
    ModelSpec("fusion-gmu-shared-thresholds", "fusion-gmu-no-refit with one set of thresholds for every input, a "
              "description given alone included: the default before it", _EMBEDDING),
    ModelSpec("fusion-gmu-lite02", "fusion-gmu reading posters with EfficientNet-Lite0 and Lite2 (no Lite1): the "
              "default before, and the packaged model's encoders", _EMBEDDING),
    ModelSpec("fusion-gmu-lite0", "fusion-gmu reading posters with EfficientNet-Lite0 alone: the default before "
              "fusion-gmu-lite02", _EMBEDDING),
    ModelSpec("fusion-gmu-description-net-alone", "fusion-gmu-lite0 with its description network blended in only "
              "where the description is given alone", _EMBEDDING),
    ModelSpec("fusion-gmu-full-mpnet", "fusion-gmu reading mpnet's last layer, no description network, positives "
              "weighted (n_neg/n_pos)^0.25: the default before mpnet's layer 11", _EMBEDDING),
    ModelSpec("fusion-gmu-ocr-chars", "fusion-gmu-full-mpnet reading the text on a lone poster only as character "
              "n-grams (no poster network)", _EMBEDDING),
    ModelSpec("fusion-gmu-no-ocr", "fusion-gmu-full-mpnet without the poster's text (no OCR, no poster network: "
              "~0.2 s less for a new poster given alone)", _EMBEDDING),
    ModelSpec("fusion-gmu-minilm", "fusion-gmu-no-ocr reading descriptions with all-MiniLM-L6-v2 (384-d, ~5x "
              "faster than mpnet): the default before mpnet", _EMBEDDING),
    ModelSpec("fusion-gmu-squash", "fusion-gmu-minilm as it was before: the poster squashed once (no mirror "
              "image), no title", _EMBEDDING),
    ModelSpec("embedding-logreg", "one-vs-rest logistic regression on frozen poster + description embeddings",
              _EMBEDDING),
    *(ModelSpec(name + FINETUNED_SUFFIX, f"{name}'s head on {' and '.join(TUNED_ENCODERS[fusion])}, fine-tuned end "
                f"to end with {'them' if len(TUNED_ENCODERS[fusion]) > 1 else 'it'} (GPU; train --finetune)", _FINETUNE)
      for name, fusion in TUNABLE.items()),
    ModelSpec("seed-poster-cnn", "the original design's 4-block poster CNN trained from scratch (224x224, 2.5M "
              "parameters)", "moviegenre.models.seed_cnn"),
    ModelSpec("seed-text-cnn-lstm", "the original design's description model: stemmed words, frozen GloVe, "
              "Conv1D + BiLSTM", "moviegenre.models.seed_text"),
    ModelSpec("tfidf-logreg", "TF-IDF word 1-2-grams + one-vs-rest logistic regression on the description",
              "moviegenre.models.tfidf"),
    ModelSpec("tfidf-nb-logreg", "TF-IDF word 1-2-grams and character 2-5-grams, naive-Bayes weighted (NB-LR), + "
              "logistic regression on the description: no encoder, thousands of descriptions a second",
              "moviegenre.models.tfidf"),
]}
_FACTORIES: dict[str, Callable[..., GenreModel]] = {}


def register_model(name: str, summary: str | None = None):
    """Decorator for a factory ``(**params) -> GenreModel`` under ``name``; a built-in name has its summary here."""
    def decorate(factory: Callable[..., GenreModel]) -> Callable[..., GenreModel]:
        if name in _FACTORIES:
            raise ValueError(f"model '{name}' is registered twice")
        if name not in _SPECS:
            if not summary:
                raise ValueError(f"model '{name}' needs a summary for 'moviegenre models'")
            _SPECS[name] = ModelSpec(name, summary, factory.__module__)
        _FACTORIES[name] = factory
        return factory
    return decorate


def create_model(name: str, **params) -> GenreModel:
    """Build a registered model; unknown names fail loudly with the list of known ones, and so do parameters the
    model does not have (with the list of those it has)."""
    check_param_names(name, params)
    try:
        model = _FACTORIES[name](**params)
    except TypeError as error:
        raise ConfigError(f"model '{name}': {error}") from None
    # A factory's preset values (a config dict) are one object shared by every model it builds: each model gets its
    # own copies, so that changing one model's never changes the next's (scikit-learn's clone copies alike).
    model.set_params(**copy.deepcopy(model.get_params()))
    model.name = name
    return model


def check_param_names(name: str, params, option: str = "") -> None:
    """A ConfigError (prefixed with ``option``, how the parameters were given, and the first unknown one's name)
    unless ``name`` is a registered model and each of ``params`` one of its parameters: its factory would fail on
    Python's own words ("__init__() got an unexpected keyword argument")."""
    factory = _factory(name)
    if not params:
        return
    known = factory().get_params()  # built with its defaults: __init__ only stores them
    unknown = next((key for key in params if key not in known), None)
    if unknown is not None:
        where = f"{option} {unknown}: " if option else ""
        raise ConfigError(f"{where}model '{name}' has no parameter '{unknown}' (its parameters: "
                          f"{', '.join(known) or 'none'})")


def check_model_name(name: str) -> None:
    """A ConfigError naming the registered models unless ``name`` is one; imports nothing (a command checks the name
    before it reads a table)."""
    if name not in _SPECS:
        raise ConfigError(f"unknown model '{name}' (known: {', '.join(sorted(_SPECS))}; see 'moviegenre models')")


def _factory(name: str):
    """The registered factory of ``name`` (its module imported on first use); unknown names fail loudly."""
    check_model_name(name)
    if name not in _FACTORIES:
        importlib.import_module(_SPECS[name].module)
    return _FACTORIES[name]


def is_registered(name: str) -> bool:
    """Whether ``create_model`` (and so ``load_model``) can build ``name``."""
    return name in _SPECS


def preset(name: str) -> dict | None:
    """The parameters ``create_model(name)`` gives by default (its factory's); None for a name not registered."""
    return _factory(name)().get_params() if is_registered(name) else None


def finetuned_name(name: str) -> str:
    """The registered end-to-end twin of a model on frozen embeddings (``train --finetune``)."""
    if name.endswith(FINETUNED_SUFFIX) and name in _SPECS:
        return name
    if name + FINETUNED_SUFFIX not in _SPECS:
        tunable = sorted(n.removesuffix(FINETUNED_SUFFIX) for n in _SPECS if n.endswith(FINETUNED_SUFFIX))
        raise ConfigError(f"model '{name}' cannot be fine-tuned (--finetune works with: {', '.join(tunable)})")
    return name + FINETUNED_SUFFIX


def list_models() -> list[ModelSpec]:
    return [_SPECS[name] for name in sorted(_SPECS)]
