"""Exact references for the command line: the DP optimum and the risk-neutral policy of a tabular env.

An env has an exact model when it is an ``rdo/`` benchmark (``env.unwrapped.model``) or a
Gymnasium toy-text env exposing its transition table ``P`` (FrozenLake, Taxi, CliffWalking...),
whose ``TimeLimit`` becomes the DP horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from rdo_gym import Objective
from rdo_gym.dp import Solution, TabularMDP, compare_with_baselines

__all__ = ["ExactReference", "tabular_model", "exact_reference", "normalized_score"]


@dataclass(frozen=True)
class ExactReference:
    """The optimum and baselines of one env and objective, with the exact laws of their returns.

    Values are as ``objective.value`` reports them; ``distributions`` maps a label ("DP optimum",
    "risk-neutral", "naive (no stock)") to ``(atoms, probs)`` of ``G``.
    """

    objective: Objective
    optimum: float
    risk_neutral: float
    naive: float | None
    initial_stock: float
    solution: Solution
    distributions: dict[str, tuple[np.ndarray, np.ndarray]]


def tabular_model(env: gym.Env, horizon: int | None = None) -> TabularMDP | None:
    """The exact model of ``env`` (see module doc), or ``None``.

    ``horizon`` overrides the env's ``max_episode_steps`` for a toy-text env.
    """
    base = env.unwrapped
    model = getattr(base, "model", None)
    if isinstance(model, TabularMDP):
        return model if horizon is None else model.with_horizon(horizon)
    if hasattr(base, "P"):
        if horizon is None and env.spec is not None:
            horizon = env.spec.max_episode_steps
        return TabularMDP.from_gymnasium(base, horizon=horizon)
    return None


def exact_reference(mdp: TabularMDP, objective: Objective) -> ExactReference:
    """Solve ``mdp`` for ``objective`` (gamma = 1) and evaluate the risk-neutral (and, for CVaR,
    the naive stock-free) policy exactly (:func:`rdo_gym.dp.compare_with_baselines`)."""
    cmp = compare_with_baselines(mdp, objective)
    naive = None if cmp.naive is None else float(cmp.naive.value)
    return ExactReference(objective, float(cmp.optimum.value), float(cmp.risk_neutral.value), naive,
                          float(cmp.optimum.initial_stock) + 0.0, cmp.optimum, cmp.distributions)


def normalized_score(value: float, ref: ExactReference) -> float | None:
    """``(value - risk-neutral) / (optimum - risk-neutral)``: 1 = optimal, 0 = risk-neutral.

    Direction-free (also for lower-is-better objectives). ``None`` when the optimum and the
    risk-neutral value agree to 1e-6 (relative): the score would only amplify noise.
    """
    gap = ref.optimum - ref.risk_neutral
    if abs(gap) <= 1e-6 * max(1.0, abs(ref.optimum)):
        return None
    return (value - ref.risk_neutral) / gap
