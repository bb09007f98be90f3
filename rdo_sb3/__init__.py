"""rdo_sb3: the DηN agent (stock-augmented QR-DQN acting on an objective) for Stable-Baselines3.

Public API: :class:`DEtaN`, its policies (``MlpPolicy``, ``CnnPolicy``, ``MultiInputPolicy``),
:class:`ObjectiveHook`, :func:`evaluate_objective` and :class:`ObjectiveEvaluation`.
"""

from rdo_sb3.detan import DEtaN
from rdo_sb3.evaluation import ObjectiveEvaluation, evaluate_objective, objective_values
from rdo_sb3.objective_hook import ObjectiveHook, greedy_with_random_ties
from rdo_sb3.policies import CnnPolicy, DEtaNPolicy, MlpPolicy, MultiInputPolicy
from rdo_sb3.stock_input import StockLocation, StockSettings, read_stock_settings

__all__ = [
    "DEtaN",
    "DEtaNPolicy",
    "MlpPolicy",
    "CnnPolicy",
    "MultiInputPolicy",
    "ObjectiveHook",
    "greedy_with_random_ties",
    "StockLocation",
    "StockSettings",
    "read_stock_settings",
    "evaluate_objective",
    "ObjectiveEvaluation",
    "objective_values",
]
