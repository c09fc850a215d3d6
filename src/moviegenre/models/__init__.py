"""Genre models: the estimator contract, the registry, and the registered models."""

from moviegenre.models.base import GenreModel, load_model, load_run_model
from moviegenre.models.registry import create_model, list_models, register_model

__all__ = ["GenreModel", "create_model", "list_models", "load_model", "load_run_model", "register_model"]
