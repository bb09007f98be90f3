"""`detan.yml` as a Python module for the RL Zoo's `-conf rdo_envs.presets.zoo.detan`: its
`hyperparams` attribute is the file's content (a fresh copy at every access, since the Zoo edits
the mapping it is given)."""

from __future__ import annotations

from typing import Any

from rdo_envs.presets.zoo import load

__all__ = ["hyperparams"]  # noqa: F822 (a module __getattr__ provides it)


def __getattr__(name: str) -> Any:
    if name == "hyperparams":
        return load("detan")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
