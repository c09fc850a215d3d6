"""Package attributes imported on first use (PEP 562): importing a package stays cheap, so commands start fast."""

from __future__ import annotations

import importlib


def lazy_attributes(package: str, where: dict[str, str]):
    """A module ``__getattr__`` that imports ``name`` from the module ``where[name]`` when first asked for."""
    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        return getattr(importlib.import_module(where[name]), name)
    return __getattr__
