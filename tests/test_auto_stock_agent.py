"""`stock_range="auto"` through the agents: the warm-up estimate, widening during training, what reaches the env
and the replay buffer, save/load, fixed-c0 objectives, discounting, constant returns, and DηTQC."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from toy_envs import RandomLength, RiskDial, ScriptedRewards

from rdo_gym import StockAugmentation, StockRange, TargetReturn
from rdo_sb3 import DEtaN, DEtaTQC, evaluate_objective
from rdo_sb3.stock_input import read_stock_layout
from rdo_sb3.stock_range import AutoStockRange

SMALL = dict(buffer_size=2000, batch_size=16, train_freq=4, policy_kwargs=dict(net_arch=[16], n_quantiles=5))


class GrowingReturns(gym.Env):
    """One-step episodes; the k-th episode since construction pays `start + k` (k = 0, 1, ...)."""

    def __init__(self, start: float = 1.0):
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.start, self.episodes = float(start), -1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episodes += 1
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.ones(1, np.float32), self.start + self.episodes, True, False, {}


def stock_env(env, gamma=1.0, initial_stock=0.0):
    return StockAugmentation(env, gamma=gamma, initial_stock=initial_stock, flatten=True)


def layout(model):
    """The stock layout of the model's training env, as the env describes it now."""
    return read_stock_layout(model.get_env())


def support(model):
    """The initial-stock support of the model's training env."""
    return layout(model).support


def test_detan_estimates_after_its_warm_up_then_widens_and_the_env_follows():
    model = DEtaN("MlpPolicy", stock_env(GrowingReturns()), objective="cvar:0.2", stock_range="auto",
                  learning_starts=20, seed=0, **SMALL)
    assert model.stock_range is None and not model.auto_stock_range.ready
    with pytest.raises(ValueError, match="has not estimated its stock range yet"):
        model.stock_candidates()
    model.learn(60)
    auto = model.auto_stock_range
    # the warm-up: the 20 one-step episodes of learning_starts pay 1..20, then 40 more widen it to 60
    assert auto.estimated_at == 20 and (auto.low, auto.high) == (1.0, 60.0) and auto.n_episodes == 60
    assert auto.widenings >= 1
    a, b = auto.covered
    assert a <= 1.0 and b >= 60.0
    # CVaR's initial stocks c0 = -VaR lie in [-b, -a]; the env samples there, the search reads the same range
    assert model.stock_range == StockRange(-b, -a) and support(model) == StockRange(-b, -a)
    assert model.stock_candidates(5)[0] == -b and model.stock_candidates(5)[-1] == -a
    # the scale was set once, at the warm-up's estimate (1..20 padded: 10^-2), and the env shows it
    assert auto.stock_scale == 0.01 and layout(model).scale == 0.01 and model.stock_layout.scale == 0.01


def test_stocks_stored_before_the_estimate_are_rescaled_to_the_new_scale():
    env = StockAugmentation(GrowingReturns(), gamma=1.0, initial_stock=-3.0, flatten=True, stock_scale=1.0)
    model = DEtaN("MlpPolicy", env, objective="cvar:0.2", stock_range="auto", learning_starts=10, seed=0, **SMALL)
    model.learn(10)
    scale = model.stock_layout.scale
    assert scale == 0.01  # returns 1..10 padded by a quarter of their spread: stocks up to 12.25, 10^-2
    stored = model.replay_buffer.observations[:10, 0, -1]
    # the first 10 transitions started at c0 = -3 with scale 1; stored now at the new scale
    np.testing.assert_allclose(stored, -3.0 * scale, rtol=1e-6)
    next_stored = model.replay_buffer.next_observations[:10, 0, -1]
    rewards = model.replay_buffer.rewards[:10, 0]
    np.testing.assert_allclose(next_stored, (-3.0 + rewards) * scale, rtol=1e-5)


def test_save_load_keeps_the_estimate_and_a_new_env_takes_it(tmp_path):
    model = DEtaN("MlpPolicy", stock_env(GrowingReturns()), objective="cvar:0.2", stock_range="auto",
                  learning_starts=20, seed=0, **SMALL).learn(30)
    model.save(tmp_path / "m")
    fresh = stock_env(GrowingReturns(start=100.0))  # its own sampler (c0 = 0) and scale (1) are replaced
    loaded = DEtaN.load(tmp_path / "m", env=fresh)
    assert loaded.auto_stock_range.covered == model.auto_stock_range.covered
    assert loaded.stock_range == model.stock_range and support(loaded) == model.stock_range
    assert loaded.stock_layout.scale == model.stock_layout.scale == fresh.stock_layout.scale
    before = loaded.auto_stock_range.widenings
    loaded.learn(10, reset_num_timesteps=False)  # returns of 100+ leave the range: it widens on
    assert loaded.auto_stock_range.widenings > before and loaded.auto_stock_range.high >= 100.0
    assert loaded.stock_range.low <= -loaded.auto_stock_range.high and loaded.auto_stock_range.estimated_at == 20


def test_a_fixed_c0_objective_trains_on_stocks_that_include_its_c0():
    objective = TargetReturn(50.0)  # c0 = -50, far outside minus the returns 1..5
    model = DEtaN("MlpPolicy", stock_env(RandomLength(), initial_stock=-50.0), objective=objective,
                  stock_range="auto", learning_starts=50, seed=0, **SMALL).learn(60)
    a, b = model.auto_stock_range.covered
    assert model.stock_range.low == objective.initial_stock == -50.0 and model.stock_range.high == -a
    assert -b > -50.0  # the returns alone would not reach it
    model.set_objective("target:2")  # another fixed c0 inside: the range follows the objective
    assert model.stock_range == StockRange(-b, -a)


def test_discounted_returns_set_the_range_with_gamma_below_one():
    gamma = 0.9
    model = DEtaN("MlpPolicy", stock_env(RandomLength(), gamma=gamma), objective="cvar:0.5", gamma=gamma,
                  stock_range="auto", learning_starts=200, seed=0, **SMALL).learn(200)
    auto = model.auto_stock_range
    assert auto.low == pytest.approx(1.0) and auto.high == pytest.approx((1 - gamma**5) / (1 - gamma))


@pytest.mark.filterwarnings("ignore:DEtaN chose the initial stock")  # an untrained net may pick an edge
def test_constant_returns_still_give_a_range_to_search_and_relabel():
    model = DEtaN("MlpPolicy", stock_env(ScriptedRewards((2.0,))), objective="cvar:0.1", stock_range="auto",
                  relabel_stocks=True, learning_starts=20, seed=0, **SMALL).learn(60)
    rng = model.stock_range
    assert model.auto_stock_range.low == model.auto_stock_range.high == 2.0
    assert rng.low < -2.0 < rng.high  # c0* = -2 lies inside a range of positive width
    c0, _ = model.choose_initial_stock(model._start_obs)
    assert rng.low <= c0 <= rng.high


def test_naive_refuses_the_automatic_range():
    with pytest.raises(ValueError, match="naive baseline ignores the stock"):
        DEtaN("MlpPolicy", RandomLength(), objective="cvar:0.1", naive=True, stock_range="auto")


def test_detatqc_uses_the_automatic_range_too(tmp_path):
    model = DEtaTQC("MlpPolicy", stock_env(RiskDial()), objective="cvar:0.25", stock_range=AutoStockRange(margin=0.5),
                    learning_starts=50, seed=0, buffer_size=500, batch_size=16,
                    policy_kwargs=dict(net_arch=[16], n_quantiles=5, n_critics=1)).learn(80)
    auto = model.auto_stock_range
    assert auto.ready and auto.margin == 0.5 and auto.estimated_at == 50
    # RiskDial's returns u -/+ 2u^2 lie in [-1, 3]; every one seen is covered
    assert -1.0 <= auto.low <= auto.high <= 3.0
    assert model.stock_range == StockRange(-auto.covered[1], -auto.covered[0]) and support(model) == model.stock_range
    with pytest.raises(ValueError, match="stock_scale=1.0 there"):  # a hand-built env must show the model's scale
        evaluate_objective(model, stock_env(RiskDial()), n_episodes=5, seed=0)
    test_env = StockAugmentation(RiskDial(), gamma=1.0, initial_stock=0.0, flatten=True,
                                 stock_scale=model.stock_layout.scale)
    report = evaluate_objective(model, test_env, n_episodes=5, seed=0)
    assert np.all((model.stock_range.low <= report.initial_stocks) & (report.initial_stocks <= model.stock_range.high))
    model.save(tmp_path / "tqc")
    loaded = DEtaTQC.load(tmp_path / "tqc", env=stock_env(RiskDial()))
    assert loaded.stock_range == model.stock_range and math.isclose(loaded.stock_layout.scale,
                                                                    model.stock_layout.scale)
