"""rdo_gym: objectives on the return distribution, stock augmentation for any Gymnasium env,
objective-specific terminal rewards, and exact distributional DP ([`rdo_gym.dp`][rdo_gym.dp]).

Importing this package never imports torch.
"""

from rdo_gym.objectives import (
    CVaR,
    Expectation,
    ExpectedUtility,
    Homeostasis,
    MeanCVaR,
    Objective,
    ProbabilityAtLeast,
    TargetReturn,
    check_gamma,
    make_objective,
)
from rdo_gym.stock import (
    REPRESENTATIONS,
    ChoiceStock,
    StockAugmentation,
    StockLayout,
    StockRange,
    UniformStock,
    find_stock_wrapper,
    make_initial_stock,
)
from rdo_gym.terminal_reward import TerminalObjectiveReward

__version__ = "0.1.0"

__all__ = [
    "Objective",
    "Expectation",
    "TargetReturn",
    "ProbabilityAtLeast",
    "CVaR",
    "MeanCVaR",
    "Homeostasis",
    "ExpectedUtility",
    "make_objective",
    "check_gamma",
    "StockAugmentation",
    "StockLayout",
    "REPRESENTATIONS",
    "StockRange",
    "UniformStock",
    "ChoiceStock",
    "make_initial_stock",
    "find_stock_wrapper",
    "TerminalObjectiveReward",
]
