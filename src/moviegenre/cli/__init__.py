"""Command-line interface: thin wrappers over the Python API. Each module registers its commands."""

from moviegenre.cli import acquire, audit, batch, compare, data, models, serve  # noqa: F401  (importing registers the commands)
from moviegenre.cli.app import app, main, run

__all__ = ["app", "main", "run"]
