"""rdo_sb3: the DηN agent (stock-augmented QR-DQN acting on an objective) for Stable-Baselines3.

Public API: [`DEtaN`][rdo_sb3.detan.DEtaN] (discrete actions) and [`DEtaTQC`][rdo_sb3.detatqc.DEtaTQC]
(continuous actions), DηN's policies (`MlpPolicy`, `CnnPolicy`, `MultiInputPolicy`),
[`Scorer`][rdo_sb3.scorers.Scorer] (how actions are scored: [`StockScorer`][rdo_sb3.scorers.StockScorer],
[`NaiveScorer`][rdo_sb3.scorers.NaiveScorer]), [`evaluate_objective`][rdo_sb3.evaluation.evaluate_objective] and
[`ObjectiveEvaluation`][rdo_sb3.evaluation.ObjectiveEvaluation],
[`search_initial_stock`][rdo_sb3.evaluation.search_initial_stock] (a searched `c0` chosen by Monte Carlo),
[`ObjectiveEvalCallback`][rdo_sb3.callbacks.ObjectiveEvalCallback] (the objective evaluated during training), and for
any SB3 model [`rollout_returns`][rdo_sb3.evaluation.rollout_returns] and
[`bootstrap_ci`][rdo_sb3.evaluation.bootstrap_ci]; [`make_model`][rdo_sb3.factory.make_model] builds the DηN,
QR-DQN, DηTQC or TQC model of a [`Preset`][rdo_gym.presets.Preset] (e.g. `rdo_envs.preset(env_id, agent)`).
"""

from rdo_sb3.callbacks import ObjectiveEvalCallback
from rdo_sb3.detan import DEtaN
from rdo_sb3.detatqc import DEtaTQC
from rdo_sb3.evaluation import (
    InitialStockSearch,
    ObjectiveEvaluation,
    bootstrap_ci,
    evaluate_objective,
    rollout_returns,
    search_initial_stock,
)
from rdo_sb3.factory import default_policy, make_model
from rdo_sb3.losses import FastQRDQN, FastTQC, quantile_huber_loss
from rdo_sb3.policies import CnnPolicy, DEtaNPolicy, MlpPolicy, MultiInputPolicy
from rdo_sb3.scorers import NaiveScorer, Scorer, StockScorer, greedy_with_random_ties, make_scorer
from rdo_sb3.stock_input import read_stock_layout

__all__ = [
    "DEtaN",
    "DEtaTQC",
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
    "search_initial_stock",
    "InitialStockSearch",
    "ObjectiveEvalCallback",
    "quantile_huber_loss",
    "FastQRDQN",
    "FastTQC",
    "make_model",
    "default_policy",
]
