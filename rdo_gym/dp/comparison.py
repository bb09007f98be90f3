"""The optimum next to the baselines: what a benchmark reports for one tabular MDP and objective."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rdo_gym.dp.baselines import naive_cvar_policy, risk_neutral_policy
from rdo_gym.dp.evaluation import Evaluation, evaluate
from rdo_gym.dp.model import TabularMDP
from rdo_gym.dp.solver import Solution, solve
from rdo_gym.objectives import CVaR, Objective, make_objective

__all__ = ["BaselineComparison", "compare_with_baselines"]


@dataclass(frozen=True)
class BaselineComparison:
    """The exact optimum (:func:`solve`) and the exact evaluation of the risk-neutral policy and,
    for CVaR, of the naive stock-free CVaR policy (``None`` otherwise), for one objective."""

    optimum: Solution
    risk_neutral: Evaluation
    naive: Evaluation | None

    @property
    def distributions(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Label (``"DP optimum"``, ``"risk-neutral"``, ``"naive (no stock)"``) -> ``(atoms, probs)`` of ``G``."""
        out = {"DP optimum": self.optimum.return_distribution, "risk-neutral": self.risk_neutral.return_distribution}
        if self.naive is not None:
            out["naive (no stock)"] = self.naive.return_distribution
        return out


def compare_with_baselines(mdp: TabularMDP, objective: Objective | str) -> BaselineComparison:
    """Solve ``mdp`` for ``objective`` (gamma = 1) and evaluate the baselines on the same objective."""
    obj = make_objective(objective)
    naive = evaluate(mdp, naive_cvar_policy(mdp, obj.alpha), obj) if isinstance(obj, CVaR) else None
    return BaselineComparison(solve(mdp, obj), evaluate(mdp, risk_neutral_policy(mdp), obj), naive)
