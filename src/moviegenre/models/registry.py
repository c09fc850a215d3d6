"""Models registered by name and built through one factory (as timm does)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from moviegenre.errors import ConfigError
from moviegenre.models.base import GenreModel


@dataclass(frozen=True)
class ModelSpec:
    name: str
    summary: str
    factory: Callable[..., GenreModel]


_REGISTRY: dict[str, ModelSpec] = {}
FINETUNED_SUFFIX = "-finetune"


def register_model(name: str, summary: str):
    """Decorator for a factory ``(**params) -> GenreModel`` under ``name``."""
    def decorate(factory: Callable[..., GenreModel]) -> Callable[..., GenreModel]:
        if name in _REGISTRY:
            raise ValueError(f"model '{name}' is registered twice")
        _REGISTRY[name] = ModelSpec(name, summary, factory)
        return factory
    return decorate


def create_model(name: str, **params) -> GenreModel:
    """Build a registered model; unknown names fail loudly with the list of known ones."""
    _load_builtin_models()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model '{name}' (known: {', '.join(sorted(_REGISTRY))}; see 'moviegenre models')")
    try:
        model = _REGISTRY[name].factory(**params)
    except TypeError as error:
        raise ConfigError(f"model '{name}': {error}") from None
    model.name = name
    return model


def finetuned_name(name: str) -> str:
    """The registered end-to-end twin of a model on frozen embeddings (``train --finetune``)."""
    _load_builtin_models()
    if name.endswith(FINETUNED_SUFFIX) and name in _REGISTRY:
        return name
    if name + FINETUNED_SUFFIX not in _REGISTRY:
        tunable = sorted(n.removesuffix(FINETUNED_SUFFIX) for n in _REGISTRY if n.endswith(FINETUNED_SUFFIX))
        raise ConfigError(f"model '{name}' cannot be fine-tuned (--finetune works with: {', '.join(tunable)})")
    return name + FINETUNED_SUFFIX


def list_models() -> list[ModelSpec]:
    _load_builtin_models()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


# Modules whose import registers models (their @register_model calls run on import).
BUILTIN_MODEL_MODULES = ("moviegenre.models.embedding", "moviegenre.models.finetune", "moviegenre.models.seed_cnn",
                         "moviegenre.models.seed_text", "moviegenre.models.tfidf")


def _load_builtin_models() -> None:
    for module in BUILTIN_MODEL_MODULES:
        importlib.import_module(module)
