"""`detan.yml` as a Python module for the RL Zoo's `-conf rdo_envs.presets.zoo.detan`: its
`hyperparams` attribute is the file's content (a fresh copy at every access, since the Zoo edits
the mapping it is given)."""

from __future__ import annotations

from rdo_envs.presets.zoo import module_getattr

__all__ = ["hyperparams"]  # noqa: F822 (a module __getattr__ provides it)

__getattr__ = module_getattr("detan", __name__)
