"""Hyperparameter presets per benchmark, in the RL Zoo's yml style (one file per algorithm).

``detan.yml`` holds DηN's presets and ``qrdqn.yml`` the sb3-contrib QR-DQN peer's (identical
hyperparameters, so that comparisons isolate the objective). Each top-level key is an env id;
its entries are ``n_timesteps``, ``policy`` and keyword arguments of the algorithm (``policy_kwargs``
is a mapping, never evaluated code).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

__all__ = ["ALGOS", "load_preset", "preset_env_ids"]

#: Algorithms that have a preset file.
ALGOS = ("detan", "qrdqn")


@cache
def _load(algo: str) -> dict[str, dict[str, Any]]:
    import yaml

    if algo not in ALGOS:
        raise ValueError(f"no presets for algorithm {algo!r}; expected one of {ALGOS}")
    text = resources.files(__package__).joinpath(f"{algo}.yml").read_text()
    return yaml.safe_load(text)


def preset_env_ids(algo: str = "detan") -> tuple[str, ...]:
    """The env ids that have a preset for ``algo``."""
    return tuple(_load(algo))


def load_preset(env_id: str, algo: str = "detan") -> dict[str, Any]:
    """A fresh copy of the preset of ``algo`` for ``env_id`` (``"rdo_envs:"`` prefix allowed).

    Returns a dict with ``n_timesteps`` (int), ``policy`` and the algorithm's keyword arguments.
    """
    name = env_id.split(":", 1)[-1]
    presets = _load(algo)
    if name not in presets:
        raise ValueError(f"no {algo} preset for env {env_id!r}; presets exist for {sorted(presets)}")
    preset = {k: (dict(v) if isinstance(v, dict) else v) for k, v in presets[name].items()}
    preset["n_timesteps"] = int(float(preset["n_timesteps"]))
    return preset
