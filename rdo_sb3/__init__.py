"""rdo_sb3: the DηN agent (stock-augmented QR-DQN acting on an objective) for Stable-Baselines3.

Public API: :class:`DEtaN`, its policies (``MlpPolicy``, ``CnnPolicy``, ``MultiInputPolicy``),
:class:`Scorer` (how actions are scored: :class:`StockScorer`, :class:`NaiveScorer`),
:func:`evaluate_objective` and :class:`ObjectiveEvaluation`, :class:`ObjectiveEvalCallback` (the objective
evaluated during training), and for any SB3 model
:func:`rollout_returns` and :func:`bootstrap_ci`; :func:`make_model` builds the DηN or QR-DQN model of a
:class:`~rdo_gym.presets.Preset` (e.g. ``rdo_envs.preset(env_id, agent)``).
"""

from rdo_sb3.callbacks import ObjectiveEvalCallback
from rdo_sb3.detan import DEtaN
from rdo_sb3.evaluation import ObjectiveEvaluation, bootstrap_ci, evaluate_objective, rollout_returns
from rdo_sb3.factory import default_policy, make_model
from rdo_sb3.losses import FastQRDQN, FastTQC, quantile_huber_loss
from rdo_sb3.policies import CnnPolicy, DEtaNPolicy, MlpPolicy, MultiInputPolicy
from rdo_sb3.scorers import NaiveScorer, Scorer, StockScorer, greedy_with_random_ties, make_scorer
from rdo_sb3.stock_input import read_stock_layout

__all__ = [
    "DEtaN",
    "DEtaNPolicy",
    "MlpPolicy",
    "CnnPolicy",
    "MultiInputPolicy",
    "Scorer",
    "StockScorer",
    "NaiveScorer",
    "make_scorer",
    "greedy_with_random_ties",
    "read_stock_layout",
    "evaluate_objective",
    "rollout_returns",
    "bootstrap_ci",
    "ObjectiveEvaluation",
    "ObjectiveEvalCallback",
    "quantile_huber_loss",
    "FastQRDQN",
    "FastTQC",
    "make_model",
    "default_policy",
]
