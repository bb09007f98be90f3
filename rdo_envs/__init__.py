"""rdo_envs: registered benchmark envs with exact reference optima (namespace `rdo/`).

Importing this package registers (idempotently):

* `rdo/TargetGrid-v0` ([`TargetGridEnv`][rdo_envs.target_grid.TargetGridEnv]): generate a target return,
`TargetReturn(g)`.
* `rdo/CVaRGrid-v0` ([`CVaRGridEnv`][rdo_envs.cvar_grid.CVaRGridEnv]): risky short cut or safe detour, `CVaR(alpha)`.
* `rdo/Homeostasis-v0` ([`HomeostasisEnv`][rdo_envs.homeostasis.HomeostasisEnv]): keep energy near a set point,
  `Homeostasis(setpoint, initial_level)`.
* `rdo/WealthGoal-v0` ([`WealthGoalEnv`][rdo_envs.wealth.WealthGoalEnv]): goal-based wealth management with a
  continuous action (the fraction held in equities), `prob:30` (reach the goal) and `cvar:alpha`; and its
  `Discrete` twin `rdo/WealthGoalDiscrete-v0` ([`WealthGoalDiscreteEnv`][rdo_envs.wealth.WealthGoalDiscreteEnv]).
  These two are listed in `WEALTH_ENV_IDS` (not in `ENV_IDS`, the grid benchmarks) and their documented
  optima in `WEALTH_REFERENCE_OPTIMA`; see [`rdo_envs.wealth`][rdo_envs.wealth].

`gym.make("rdo_envs:rdo/CVaRGrid-v0")` works without importing this package first. Every env
has integer rewards, gamma = 1, a fixed horizon (time left in the observation,
`terminated=True` at the horizon), its exact [`TabularMDP`][rdo_gym.dp.model.TabularMDP] as
`env.unwrapped.model`, the tabular state in `info["state"]` and the steps taken in
`info["t"]` (so `policy.action(info["state"], stock, info["t"])` of a DP solution can be
rolled out in the real env).

Helpers: [`make_stock_env`][rdo_envs.stock_env.make_stock_env] builds the stock-augmented env in one line,
[`benchmark_info`][rdo_envs.benchmarks.benchmark_info] gives an id's metadata (default objectives, gamma, training
range of initial stocks), [`reference`][rdo_envs.references.reference] the exact DP reference (an
[`ExactReference`][rdo_gym.dp.comparison.ExactReference], cached; the numbers are documented in `REFERENCE_OPTIMA`)
and [`preset`][rdo_envs.presets.preset] the tuned hyperparameters of an agent (a [`Preset`][rdo_gym.presets.Preset]).
[`rdo_envs.plots`][rdo_envs.plots] draws return distributions (matplotlib, optional).

Toy-text envs written by others (FrozenLake, CliffWalking, Taxi, Blackjack) in the same conventions:
`make_external_env` (stock-augmented in one line), `external_model` (their exact
tabular model) and `external_reference` (cached), see `rdo_envs.external`.
"""

from rdo_envs.benchmarks import ENV_IDS, WEALTH_ENV_IDS, BenchmarkInfo, benchmark_info, env_class, register_envs
from rdo_envs.cvar_grid import CVaRGridEnv
from rdo_envs.external import (
    EXTERNAL_ENV_IDS,
    external_info,
    external_model,
    external_reference,
    make_external_env,
)
from rdo_envs.gridworld import GridBenchmarkEnv
from rdo_envs.homeostasis import HomeostasisEnv
from rdo_envs.presets import preset, preset_env_ids
from rdo_envs.references import REFERENCE_OPTIMA, WEALTH_REFERENCE_OPTIMA, reference, reference_table
from rdo_envs.stock_env import make_stock_env
from rdo_envs.target_grid import TargetGridEnv
from rdo_envs.wealth import WealthEnv, WealthGoalDiscreteEnv, WealthGoalEnv

register_envs()

__all__ = [
    "ENV_IDS",
    "TargetGridEnv",
    "CVaRGridEnv",
    "HomeostasisEnv",
    "GridBenchmarkEnv",
    "BenchmarkInfo",
    "benchmark_info",
    "env_class",
    "make_stock_env",
    "register_envs",
    "reference",
    "reference_table",
    "REFERENCE_OPTIMA",
    "preset",
    "preset_env_ids",
    "EXTERNAL_ENV_IDS",
    "make_external_env",
    "external_model",
    "external_reference",
    "external_info",
    "WEALTH_ENV_IDS",
    "WEALTH_REFERENCE_OPTIMA",
    "WealthEnv",
    "WealthGoalEnv",
    "WealthGoalDiscreteEnv",
]
