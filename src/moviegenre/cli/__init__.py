"""Command-line interface: thin wrappers over the Python API. Each module registers its commands."""

from moviegenre.cli import data, models  # noqa: F401  (registers commands)
from moviegenre.cli import acquire  # noqa: F401
from moviegenre.cli.app import app, run

__all__ = ["app", "run"]
