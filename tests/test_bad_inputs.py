"""A catalogue of bad or borderline inputs across rdo_gym and rdo_sb3: each gives its clear error
(naming the argument, the value and what is accepted) or, where the input is valid, the right
answer. The DP's catalogue is tests/test_dp_inputs.py; the command line's is in tests/test_cli.py."""

from __future__ import annotations

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from sb3_contrib import QRDQN
from toy_envs import CoinEnv

from rdo_gym import CVaR, StockAugmentation, TerminalObjectiveReward, UniformStock, make_objective
from rdo_sb3 import DEtaN, evaluate_objective

SMALL = dict(policy_kwargs=dict(n_quantiles=8, net_arch=[16]), learning_starts=20, batch_size=16,
             buffer_size=2000, train_freq=1, target_update_interval=50)




def coin(**kwargs):
    kwargs = {"initial_stock": UniformStock(-4, 0, integer=True), "flatten": True, **kwargs}
    return StockAugmentation(CoinEnv(4), **kwargs)


class HugeRewards(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, reward: float = 1e308):
        self.reward = reward

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), self.reward, False, False, {}


# -- silent wrong answers that are now right ---------------------------------------------------------
def test_cvar_of_a_tiny_alpha_is_the_minimum():
    assert CVaR(5e-324).value([0.5, 1.0]) == 0.5
    assert CVaR(1e-300).value(np.array([[3.0, -2.0, 7.0]]), axis=-1).tolist() == [-2.0]
    assert CVaR(0.5).value([1.0, 2.0, 3.0, 4.0]) == pytest.approx(1.5)  # the usual case unchanged


def test_uniform_stock_over_the_whole_float_range_draws_finite_stocks():
    sampler = UniformStock(-1e308, 1e308)
    rng = np.random.default_rng(0)
    draws = np.array([sampler(rng) for _ in range(1000)])
    assert np.all(np.isfinite(draws)) and draws.min() < -1e307 and draws.max() > 1e307


def test_a_running_total_that_overflows_float64_is_an_error_not_an_exact_infinity():
    env = StockAugmentation(HugeRewards(), gamma=1.0)
    env.reset(seed=0)
    env.step(0)
    with pytest.raises(OverflowError, match="at step 2 .* left the float64 range"):
        env.step(0)


@pytest.mark.parametrize("scale", [1e-300, 1e39, 0.0, -1.0, float("nan"), "x"])
def test_stock_scale_outside_float32_is_refused(scale):
    with pytest.raises(ValueError, match=r"stock_scale must be a positive number within float32's normal range"):
        StockAugmentation(CoinEnv(4), stock_scale=scale)


def test_float32_rounding_of_a_large_observed_stock_is_announced_once():
    env = StockAugmentation(HugeRewards(reward=1e7), gamma=1.0, flatten=True)
    env.reset(seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            env.step(0)
    rounding = [w for w in caught if "exceeds 2^24" in str(w.message)]
    assert len(rounding) == 1 and env.stock == 4e7


def test_a_sampler_without_the_rng_argument_is_refused_at_construction():
    with pytest.raises(ValueError, match=re.escape("sampler(rng)")):
        StockAugmentation(CoinEnv(4), initial_stock=lambda: 1.0)
    StockAugmentation(CoinEnv(4), initial_stock=lambda rng: 1.0)  # fine
    StockAugmentation(CoinEnv(4), initial_stock=lambda rng, extra=2: 1.0)  # fine


def test_a_look_alike_objective_name_is_shown_escaped():
    with pytest.raises(ValueError, match=re.escape(r"'cv\u0430r'")):
        make_objective("cv\u0430r:0.1")  # a Cyrillic a


def test_terminal_reward_warning_prints_no_negative_zero():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TerminalObjectiveReward(StockAugmentation(CoinEnv(4), initial_stock=3.0), "target:0")
    (message,) = [str(w.message) for w in caught if "prescribes" in str(w.message)]
    assert "-0 " not in message and "initial stock 0 " in message


# -- the agent: its inputs, its files and its evaluation ---------------------------------------------
def test_multi_input_policy_on_a_flat_stock_env_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"'MultiInputPolicy' needs a Dict observation.*'MlpPolicy'"):
        DEtaN("MultiInputPolicy", coin(), objective="target:2")


def test_mlp_policy_on_a_dict_stock_env_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"'MlpPolicy' needs a flat Box .*flatten=True"):
        DEtaN("MlpPolicy", coin(flatten=False), objective="target:2")


def test_evaluation_env_with_another_stock_scale_is_refused():
    model = DEtaN("MlpPolicy", coin(stock_scale=0.1), objective="target:2", **SMALL)
    with pytest.raises(ValueError, match="stock_scale=1.0 there, stock_scale=0.1 for the model"):
        evaluate_objective(model, coin(stock_scale=1.0), n_episodes=2)
    with pytest.raises(ValueError, match="gamma=0.5 there"):
        evaluate_objective(model, coin(stock_scale=0.1, gamma=0.5), n_episodes=2)


def test_evaluation_with_a_seed_is_reproducible_even_with_ties():
    # an untrained prob: agent: every action scores 0 or 1 alike, so ties are broken at random
    model = DEtaN("MlpPolicy", coin(), objective="prob:1", seed=0, **SMALL)
    first = evaluate_objective(model, coin(), n_episodes=40, seed=3)
    np.random.random(5), th.rand(5)  # the global generators move on between the two calls
    second = evaluate_objective(model, coin(), n_episodes=40, seed=3)
    assert first.returns.tolist() == second.returns.tolist()
    # and the evaluation leaves the global generators where they were
    state = np.random.get_state()[1].copy()
    evaluate_objective(model, coin(), n_episodes=3, seed=1)
    assert np.array_equal(np.random.get_state()[1], state)


def test_load_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no saved DEtaN model at '.*nope.zip'$"):
        DEtaN.load(tmp_path / "nope.zip")
    with pytest.raises(FileNotFoundError, match=r"no saved DEtaN model at '.*nope'$"):
        DEtaN.load(str(tmp_path / "nope"))
    model = DEtaN("MlpPolicy", coin(), objective="target:2", **SMALL)
    model.save(tmp_path / "m.zip")
    assert DEtaN.load(tmp_path / "m").objective == make_objective("target:2")  # SB3's implicit .zip
    data = (tmp_path / "m.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a complete model zip written by DEtaN.save"):
        DEtaN.load(tmp_path / "cut.zip")
    QRDQN("MlpPolicy", CoinEnv(4), policy_kwargs=dict(n_quantiles=4)).save(tmp_path / "q.zip")
    with pytest.raises(ValueError, match=r"not a DEtaN model \(its policy comes from sb3_contrib.qrdqn"):
        DEtaN.load(tmp_path / "q.zip")


@pytest.mark.parametrize("override, match", [
    ({"batch_size": -5}, r"hyperparameter batch_size must be a positive integer, got -5"),
    ({"learning_rate": 0}, "hyperparameter learning_rate must be a positive number"),
    ({"exploration_fraction": 2}, r"exploration_fraction must be a number in \[0, 1\]"),
    ({"policy_kwargs": {"net_arch": [64, 0]}}, "net_arch"),
    ({"train_freq": (4, "steps")}, "train_freq"),
])
def test_make_model_names_a_hyperparameter_the_agent_cannot_use(override, match):
    import rdo_envs
    from rdo_sb3 import make_model

    preset = rdo_envs.preset("rdo/TargetGrid-v0", "detan")
    with pytest.raises(ValueError, match=match):
        make_model(preset, rdo_envs.make_stock_env("rdo/TargetGrid-v0"), **override)
    # a schedule is a valid learning rate
    make_model(preset, rdo_envs.make_stock_env("rdo/TargetGrid-v0"), learning_rate=lambda progress: 1e-3 * progress)
