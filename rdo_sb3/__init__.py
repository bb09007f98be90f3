"""rdo_sb3: the DηN agent (stock-augmented QR-DQN acting on an objective) for Stable-Baselines3.

Public API: :class:`DEtaN`, its policies (``MlpPolicy``, ``CnnPolicy``, ``MultiInputPolicy``),
:class:`ObjectiveHook`, :func:`evaluate_objective` and :class:`ObjectiveEvaluation`, and for any SB3 model
:func:`rollout_returns` and :func:`bootstrap_ci`; :func:`make_model` builds the DηN or QR-DQN model of a
:class:`~rdo_gym.presets.Preset` (e.g. ``rdo_envs.preset(env_id, agent)``).
"""

from rdo_sb3.detan import DEtaN
from rdo_sb3.evaluation import ObjectiveEvaluation, bootstrap_ci, evaluate_objective, objective_values, rollout_returns
from rdo_sb3.factory import default_policy, make_model
from rdo_sb3.objective_hook import ObjectiveHook, greedy_with_random_ties
from rdo_sb3.losses import FastQRDQN, FastTQC, quantile_huber_loss
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
    "rollout_returns",
    "bootstrap_ci",
    "ObjectiveEvaluation",
    "quantile_huber_loss",
    "FastQRDQN",
    "FastTQC",
    "objective_values",
    "make_model",
    "default_policy",
]
