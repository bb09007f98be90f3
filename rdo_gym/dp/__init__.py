"""Exact distributional dynamic programming on stock-augmented tabular MDPs (gamma = 1).

`solve` computes the optimal stock-augmented policy, its value and return distribution for any
objective of [`rdo_gym.objectives`][rdo_gym.objectives] (CVaR with the exact outer search over the initial stock);
`evaluate` gives the exact return distribution and value of a given policy; the baselines are the
risk-neutral and the naive (stock-free) CVaR policies, and `exact_reference` puts the optimum
next to them (an [`ExactReference`][rdo_gym.dp.comparison.ExactReference], with the normalized score of any value).
Only numpy is used.

Modules: [`model`][rdo_gym.dp.model] (the MDP), [`lattice`][rdo_gym.dp.lattice] (reward lattice, stock
grid), [`kernel`][rdo_gym.dp.kernel] (the machinery every computation shares, and the conventions:
gamma = 1, the stock `C_{t+1} = C_t + R_{t+1}`, ties to the lowest action index),
[`solver`][rdo_gym.dp.solver], [`evaluation`][rdo_gym.dp.evaluation], [`baselines`][rdo_gym.dp.baselines],
[`policy`][rdo_gym.dp.policy] and [`comparison`][rdo_gym.dp.comparison].
"""

from rdo_gym.dp.baselines import naive_cvar_policy, risk_neutral_policy
from rdo_gym.dp.comparison import ExactReference, exact_reference
from rdo_gym.dp.evaluation import Evaluation, evaluate
from rdo_gym.dp.lattice import StockGrid
from rdo_gym.dp.model import TabularMDP
from rdo_gym.dp.policy import TabularPolicy
from rdo_gym.dp.solver import DEFAULT_MAX_MEMORY, Solution, solve

__all__ = [
    "TabularMDP",
    "solve",
    "evaluate",
    "risk_neutral_policy",
    "naive_cvar_policy",
    "exact_reference",
    "ExactReference",
    "Solution",
    "Evaluation",
    "TabularPolicy",
    "StockGrid",
    "DEFAULT_MAX_MEMORY",
]
