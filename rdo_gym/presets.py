"""The type of a hyperparameter preset: plain data that any layer can hold (no torch, no SB3).

A [`Preset`][rdo_gym.presets.Preset] says how to train one agent on one env: which agent, for which objective, with
which discount and hyperparameters. The presets of the `rdo/` benchmarks live next to them
(`rdo_envs.preset(env_id, agent)`); `rdo_sb3.make_model` builds the model of a preset.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rdo_gym.objectives import Objective, check_gamma

__all__ = ["Preset", "AGENTS", "STOCK_AGENTS", "CONTINUOUS_AGENTS"]

AGENTS: tuple[str, ...] = ("detan", "qrdqn", "detatqc", "tqc")
"""The agents a preset can name: DηN (stock-augmented, acts on the objective, `Discrete` actions) and
its peer, plain sb3-contrib QR-DQN (no stock, maximizes the mean); DηTQC (stock-augmented, `Box`
actions) and its peer, plain sb3-contrib TQC.
"""

STOCK_AGENTS: tuple[str, ...] = ("detan", "detatqc")
"""The agents that read a stock in their observation and act on an objective."""

CONTINUOUS_AGENTS: tuple[str, ...] = ("detatqc", "tqc")
"""The agents of `Box` action spaces (the others need `Discrete` actions)."""


@dataclass(frozen=True)
class Preset:
    """How to train one agent on one env.

    Attributes:
        agent: One of `AGENTS` (`"detan"`, `"qrdqn"`, `"detatqc"`, `"tqc"`).
        env_id: The Gymnasium id the preset is for (`None`: any env, the agent's defaults).
        objective: The objective spec the preset was tuned for (the stock agent's default objective;
            `"mean"` for the stock-free peers). An [`Objective`][rdo_gym.objectives.Objective] is stored as its
            spec; the spec is not parsed here (the agent parses it, or the caller passes an Objective to the factory).
        gamma: The discount of the agent (and of the stock recursion): always explicit.
        n_timesteps: The training budget in env steps.
        policy: The SB3 policy name (`None`: chosen from the observation space).
        hyperparameters: Other keyword arguments of the agent (`policy_kwargs` is a mapping);
            read through [`kwargs`][rdo_gym.presets.Preset.kwargs], which copies them.
    """

    agent: str
    env_id: str | None
    objective: str
    gamma: float
    n_timesteps: int
    policy: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; expected one of {AGENTS}")
        object.__setattr__(self, "gamma", check_gamma(self.gamma))
        if not isinstance(self.objective, str | Objective):
            raise ValueError(f"objective must be a spec string or an Objective, got {self.objective!r}")
        object.__setattr__(self, "objective", str(self.objective))
        steps = float(self.n_timesteps)
        if not steps >= 1 or steps != int(steps):
            raise ValueError(f"n_timesteps must be a positive integer, got {self.n_timesteps!r}")
        object.__setattr__(self, "n_timesteps", int(steps))
        if "gamma" in self.hyperparameters:
            raise ValueError("a preset's gamma is its own field, not a hyperparameter")
        if not isinstance(self.hyperparameters.get("policy_kwargs", {}), Mapping):
            raise ValueError("policy_kwargs must be a mapping such as {net_arch: [64, 64]} (code strings like "
                             "dict(...) are not evaluated)")
        object.__setattr__(self, "hyperparameters", copy.deepcopy(dict(self.hyperparameters)))

    @classmethod
    def defaults(cls, agent: str, objective: str = "mean", *, gamma: float = 1.0, env_id: str | None = None,
                 n_timesteps: int = 100_000) -> Preset:
        """No tuned hyperparameters: the agent's own defaults, with an explicit gamma.

        Args:
            agent: One of `AGENTS`.
            objective: The objective spec.
            gamma: The discount.
            env_id: The env (informative only).
            n_timesteps: The training budget.
        """
        return cls(agent, env_id, objective, gamma, n_timesteps)

    def kwargs(self) -> dict[str, Any]:
        """A fresh (deep) copy of [`hyperparameters`][rdo_gym.hyperparameters], to pass to the agent."""
        return copy.deepcopy(dict(self.hyperparameters))

    def with_overrides(self, **overrides: Any) -> Preset:
        """This preset with fields (`gamma`, `n_timesteps`, `policy`, `objective`...) or
        hyperparameters replaced; `None` values of fields are ignored.

        Args:
            **overrides: Field names replace the field, any other name a hyperparameter.
        """
        fields = {k: v for k, v in overrides.items() if k in _FIELDS}
        params = self.kwargs()
        params.update({k: v for k, v in overrides.items() if k not in _FIELDS})
        return replace(self, **{k: v for k, v in fields.items() if v is not None}, hyperparameters=params)


_FIELDS = ("agent", "env_id", "objective", "gamma", "n_timesteps", "policy")
