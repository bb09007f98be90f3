"""RL Baselines3 Zoo hyperparameter files of the `rdo/` benchmarks (one per agent: `detan.yml`, `detatqc.yml`).

The Zoo reads them with `-conf`, as a file path or as the Python module of the same name, whose
`hyperparams` attribute is the file's content:

    python -m rdo_sb3.zoo train --algo detan --env rdo/CVaRGrid-v0 --gym-packages rdo_envs \\
        -conf rdo_envs.presets.zoo.detan

[`path`][rdo_envs.presets.zoo.path] gives a file's path (to copy and edit it).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

__all__ = ["AGENTS", "path", "load", "module_getattr"]

AGENTS = ("detan", "detatqc")
"""The agents with a Zoo hyperparameter file."""


def path(agent: str = "detan") -> str:
    """The path of the Zoo hyperparameter file of `agent` (`"detan"` or `"detatqc"`)."""
    if agent not in AGENTS:
        raise ValueError(f"no RL Zoo hyperparameter file for agent {agent!r}; expected one of {AGENTS}")
    return str(resources.files(__package__).joinpath(f"{agent}.yml"))


def load(agent: str = "detan") -> dict[str, dict[str, Any]]:
    """The content of `agent`'s Zoo hyperparameter file: env id -> hyperparameters (a fresh copy)."""
    import yaml

    if agent not in AGENTS:
        raise ValueError(f"no RL Zoo hyperparameter file for agent {agent!r}; expected one of {AGENTS}")
    return yaml.safe_load(resources.files(__package__).joinpath(f"{agent}.yml").read_text())


def module_getattr(agent: str, module: str) -> Any:
    """The module `__getattr__` of `module` (`rdo_envs.presets.zoo.AGENT`): its `hyperparams` attribute is
    `load(agent)`, a fresh copy at every access (the Zoo edits the mapping it is given)."""

    def __getattr__(name: str) -> Any:
        if name == "hyperparams":
            return load(agent)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
