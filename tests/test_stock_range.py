"""Automatic stock range and scale: the warm-up estimate, widening, how it reaches the envs, bad values."""

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv
from toy_envs import RandomLength

from rdo_gym import CVaR, Expectation, StockAugmentation, StockRange, TargetReturn, UniformStock
from rdo_sb3.stock_range import AutoStockRange, check_stock_range


def stock_vec(n=2, gamma=0.9, vec_cls=DummyVecEnv, env_id=RandomLength):
    return make_vec_env(env_id, n_envs=n, seed=0, vec_env_cls=vec_cls, wrapper_class=StockAugmentation,
                        wrapper_kwargs=dict(gamma=gamma, initial_stock=0.0, flatten=True))


# -- the wrapper's setters --------------------------------------------------------------------------------
def test_set_initial_stock_and_scale_change_the_next_episodes_and_the_layout():
    env = StockAugmentation(gym.make("CartPole-v1"), gamma=0.9, initial_stock=0.0, flatten=True)
    layout = env.set_initial_stock(UniformStock(-30, -20))
    assert layout is env.stock_layout and layout.support == StockRange(-30, -20)
    assert env.set_stock_scale(0.01).scale == 0.01 and env.stock_layout.support == StockRange(-30, -20)
    obs, info = env.reset(seed=1)
    assert -30 <= info["initial_stock"] <= -20 and obs[-1] == np.float32(0.01 * info["initial_stock"])
    assert env.set_initial_stock(4.0).support == StockRange(4, 4)
    with pytest.raises(ValueError, match="stock_scale must be a positive number"):
        env.set_stock_scale(0.0)
    with pytest.raises(ValueError, match="unknown sampler 'uniformly'"):
        env.set_initial_stock("uniformly:0:1")


# -- the estimate -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_warm_up_covers_every_warm_up_return(gamma):
    vec = stock_vec(gamma=gamma)
    auto = AutoStockRange(warmup_steps=400, warmup_episodes=1000)
    returns = auto.warm_up(vec, gamma)
    possible = {round((1 - gamma**k) / (1 - gamma), 9) if gamma < 1 else float(k) for k in range(1, 6)}
    assert len(returns) > 100 and {round(g, 9) for g in returns} == possible  # exact discounted returns
    a, b = auto.covered
    assert a <= min(returns) and max(returns) <= b and auto.n_episodes == len(returns)
    assert auto.low == min(returns) and auto.high == max(returns)
    spread = max(returns) - min(returns)
    assert a <= min(returns) - 0.25 * spread + 1e-9 and b >= max(returns) + 0.25 * spread - 1e-9  # the margin
    # the initial stocks: c0 = -q for the covered return levels q (CVaR's c0 = -VaR lies there)
    stocks = auto.stock_range_for(CVaR(0.1))
    assert (stocks.low, stocks.high) == (-b, -a)
    assert auto.stock_scale_for(CVaR(0.1)) * max(abs(stocks.low), abs(stocks.high)) <= 1.0
    assert auto.stock_scale_for(CVaR(0.1)) * max(abs(stocks.low), abs(stocks.high)) > 0.1


def test_warm_up_stops_after_the_episodes_and_counts_unfinished_ones_when_none_ended():
    vec = stock_vec(n=1, gamma=1.0)
    auto = AutoStockRange(warmup_steps=10_000, warmup_episodes=3)
    assert len(auto.warm_up(vec, 1.0)) == 3
    long = make_vec_env("CartPole-v1", n_envs=1, seed=0, wrapper_class=StockAugmentation)
    partial = AutoStockRange(warmup_steps=1, warmup_episodes=1)
    assert partial.warm_up(long, 1.0) == [1.0] and partial.covered is not None  # one step: the return so far


def test_fixed_c0_objectives_take_in_their_own_c0():
    auto = AutoStockRange(margin=0.0)
    auto.observe([10.0, 20.0])
    assert auto.stock_range_for(CVaR(0.5)) == StockRange(-20, -10)
    assert auto.stock_range_for(TargetReturn(50)) == StockRange(-50, -10)
    assert auto.stock_range_for(Expectation()) == StockRange(-20, 0)


@settings(max_examples=80, deadline=None)
@given(batches=st.lists(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=5), min_size=1, max_size=8),
       margin=st.floats(0.0, 1.0))
@example(batches=[[5e-324]], margin=0.0)  # a subnormal width: rounding its bounds must not divide by zero
def test_widening_covers_every_return_seen_and_only_grows(batches, margin):
    auto = AutoStockRange(margin=margin)
    previous = None
    for batch in batches:
        changed = auto.observe(batch)
        a, b = auto.covered
        seen = [g for bt in batches[:batches.index(batch) + 1] for g in bt]
        assert a <= min(seen) and max(seen) <= b
        if previous is not None:
            assert a <= previous[0] and b >= previous[1]  # only wider
            outside = min(batch) < previous[0] or max(batch) > previous[1]
            assert changed == outside and ((a, b) != previous) <= changed
        previous = (a, b)


def test_all_equal_returns_still_give_a_range_of_width():
    auto = AutoStockRange()
    auto.observe([0.0, 0.0])
    a, b = auto.covered
    assert a < 0 < b
    auto = AutoStockRange()
    auto.observe([500.0])
    a, b = auto.covered
    assert a < 500 < b and b - a <= 0.1 * 500 + 1e-9 + 2 * 0.25 * 50


@pytest.mark.parametrize("vec_cls", [DummyVecEnv, SubprocVecEnv])
def test_update_widens_and_reaches_every_sub_env(vec_cls):
    vec = stock_vec(n=2, gamma=1.0, vec_cls=vec_cls)
    auto = AutoStockRange(margin=0.0)
    auto.observe([1.0, 2.0])
    assert auto.apply(vec, CVaR(0.1), scale=True) == StockRange(-2, -1)
    assert auto.stock_scale == 0.1  # the power of ten putting the stocks [-2, -1] within [-1, 1]
    layouts = vec.get_attr("stock_layout")
    assert all(layout.support == StockRange(-2, -1) and layout.scale == 0.1 for layout in layouts)
    # one step each, then env 1 ends an episode with return 7: outside [1, 2]
    assert auto.update(vec, [1.0, 3.0], [False, False], CVaR(0.1), 1.0) is None
    new = auto.update(vec, [0.5, 4.0], [True, True], CVaR(0.1), 1.0)  # returns 1.5 (inside) and 7 (outside)
    assert new == StockRange(-7, -1) and auto.widenings == 1
    assert all(layout.support == StockRange(-7, -1) for layout in vec.get_attr("stock_layout"))
    vec.reset()
    assert all(-7 <= c <= -1 for c in vec.env_method("get_wrapper_attr", "episode_initial_stock"))
    vec.close()


def test_auto_range_pickles_without_its_episode_bookkeeping():
    import cloudpickle

    vec = stock_vec()
    auto = AutoStockRange(warmup_steps=50)
    auto.warm_up(vec, 0.9)
    copy = cloudpickle.loads(cloudpickle.dumps(auto))
    assert copy.covered == auto.covered and copy._running is None
    assert copy.update(vec, [1.0, 1.0], [False, False], CVaR(0.1), 0.9) is None  # restarts its bookkeeping


# -- bad values ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, message", [
    ("aut", r"stock_range must be 'auto', a pair \(low, high\).*got the string 'aut'"),
    ((3, 1), r"stock_range must be a pair .* or 'auto'.*\(3, 1\)"),
    ([1, 2, 3], r"or 'auto'"),
])
def test_bad_stock_range_names_the_value_and_the_accepted_forms(value, message):
    with pytest.raises(ValueError, match=message):
        check_stock_range(value)


def test_good_stock_ranges():
    assert isinstance(check_stock_range("auto"), AutoStockRange) and isinstance(check_stock_range(" AUTO "),
                                                                             AutoStockRange)
    assert check_stock_range((-1, 2)) == StockRange(-1, 2) and check_stock_range(None) is None
    auto = AutoStockRange(margin=0.5)
    assert check_stock_range(auto) is auto


@pytest.mark.parametrize("kwargs, message", [
    (dict(margin=-0.1), "margin"), (dict(margin=math.nan), "margin"), (dict(warmup_steps=0), "warmup_steps"),
    (dict(warmup_episodes=2.5), "warmup_episodes"), (dict(warmup_steps=True), "warmup_steps"),
])
def test_bad_auto_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AutoStockRange(**kwargs)


def test_no_estimate_yet_is_a_clear_error():
    with pytest.raises(ValueError, match="has seen no episode return yet"):
        AutoStockRange().stock_range_for(CVaR(0.1))
