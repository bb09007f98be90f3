"""The exact reference of one tabular MDP and objective: the optimum next to the baselines.

[`ExactReference`][rdo_gym.dp.comparison.ExactReference] is the one type for "how good can it get, and how good is the
obvious policy": the exact optimum ([`solve`][rdo_gym.dp.solver.solve]), the exact value of the risk-neutral
policy and, for CVaR, of the naive stock-free CVaR policy, the laws of their returns, and the
normalized score of any other value against them
([`ExactReference.normalized`][rdo_gym.dp.comparison.ExactReference.normalized], the only implementation of that
score). [`exact_reference`][rdo_gym.dp.comparison.exact_reference] computes it; `rdo_envs.reference` is its cached
form for the registered benchmarks. Only numpy is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rdo_gym.dp.baselines import naive_cvar_policy, risk_neutral_policy
from rdo_gym.dp.evaluation import evaluate
from rdo_gym.dp.model import TabularMDP
from rdo_gym.dp.solver import Solution, solve
from rdo_gym.objectives import CVaR, Objective, make_objective

__all__ = ["ExactReference", "exact_reference", "NORMALIZED_GAP_RTOL"]

NORMALIZED_GAP_RTOL = 1e-6
"""[`ExactReference.normalized`][rdo_gym.dp.comparison.ExactReference.normalized] is undefined (NaN) when
`|optimum - risk_neutral|` is at most this fraction of `max(1, |optimum|, |risk_neutral|)`: the
risk-neutral policy is then already optimal and a ratio would only amplify rounding noise.
"""

# The labels of ExactReference.distributions.
OPTIMUM_LABEL, RISK_NEUTRAL_LABEL, NAIVE_LABEL = "DP optimum", "risk-neutral", "naive (no stock)"


@dataclass(frozen=True)
class ExactReference:
    """The exact optimum and baselines of one MDP and objective (gamma = 1).

    Values are as `objective.value` reports them (check
    [`higher_is_better`][rdo_gym.dp.comparison.ExactReference.higher_is_better]).

    Attributes:
        objective: The objective the values are of.
        optimum: The optimal value (stock-augmented DP, [`solve`][rdo_gym.dp.solver.solve]).
        risk_neutral: The value of the policy maximizing `E[G]`.
        naive: The value of the naive stock-free CVaR policy (CVaR objectives only, else `None`).
        initial_stock: The optimum's `c0` (for CVaR the searched `c0* = -VaR_alpha`).
        distributions: Label (`"DP optimum"`, `"risk-neutral"`, `"naive (no stock)"`) ->
            `(atoms, probs)` of the law of `G`; empty for a table of documented numbers.
        solution: The optimum's [`Solution`][rdo_gym.dp.solver.Solution] (its policy), `None` for a table
            of documented numbers.
    """

    objective: Objective
    optimum: float
    risk_neutral: float
    naive: float | None
    initial_stock: float
    distributions: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, compare=False,
                                                                       repr=False)
    solution: Solution | None = field(default=None, compare=False, repr=False)

    @property
    def higher_is_better(self) -> bool:
        """The direction of the values (the objective's)."""
        return self.objective.higher_is_better

    @property
    def gap(self) -> float:
        """`optimum - risk_neutral` (negative for a lower-is-better objective)."""
        return self.optimum - self.risk_neutral

    def normalized(self, value: Any) -> Any:
        """`(value - risk_neutral) / (optimum - risk_neutral)`: 1 = optimal, 0 = risk-neutral.

        Direction-free (also for lower-is-better objectives). `NaN` ("undefined") when the
        optimum and the risk-neutral value coincide, i.e. `|optimum - risk_neutral| <=`
        `NORMALIZED_GAP_RTOL` `* max(1, |optimum|, |risk_neutral|)`.

        Args:
            value: A value of `objective` (a number, or an array of them; NaN stays NaN).

        Returns:
            A float for a number, else a float64 array of the shape of `value`.
        """
        scale = max(1.0, abs(self.optimum), abs(self.risk_neutral))
        defined = abs(self.gap) > NORMALIZED_GAP_RTOL * scale
        values = np.asarray(value, dtype=np.float64)
        out = (values - self.risk_neutral) / self.gap if defined else np.full(values.shape, math.nan)
        return float(out) if out.ndim == 0 else out


def exact_reference(mdp: TabularMDP, objective: Objective | str) -> ExactReference:
    """Solve `mdp` for `objective` (gamma = 1) and evaluate the baselines exactly on it.

    Args:
        mdp: The tabular MDP (with a horizon, or with bounded returns).
        objective: An [`Objective`][rdo_gym.objectives.Objective] or its spec string (`"cvar:0.1"`).

    Returns:
        The [`ExactReference`][rdo_gym.dp.comparison.ExactReference], with the three laws of `G` and the optimal
        solution.
    """
    obj = make_objective(objective)
    optimum = solve(mdp, obj)
    neutral = evaluate(mdp, risk_neutral_policy(mdp), obj)
    naive = evaluate(mdp, naive_cvar_policy(mdp, obj.alpha), obj) if isinstance(obj, CVaR) else None
    laws = {OPTIMUM_LABEL: optimum.return_distribution, RISK_NEUTRAL_LABEL: neutral.return_distribution}
    if naive is not None:
        laws[NAIVE_LABEL] = naive.return_distribution
    return ExactReference(obj, float(optimum.value), float(neutral.value),
                          None if naive is None else float(naive.value),
                          float(optimum.initial_stock) + 0.0, laws, optimum)
