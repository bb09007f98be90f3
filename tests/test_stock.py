"""StockAugmentation: the stock identities, spaces, initial stocks, bad inputs, vector envs, pickling."""

from __future__ import annotations

import math
import pickle
import warnings

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.env_util import make_vec_env
from toy_envs import RandomLength, ScriptedRewards

from rdo_gym import ChoiceStock, StockAugmentation, UniformStock, find_stock_wrapper


class DictAndMultiDiscrete(gym.Env):
    """Dict observation holding a MultiDiscrete and a Box; 5-step episodes."""

    def __init__(self):
        self.observation_space = spaces.Dict({
            "cells": spaces.MultiDiscrete([3, 4]),
            "position": spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
        })
        self.action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        return {"cells": self.np_random.integers([0, 0], [3, 4]).astype(np.int64),
                "position": self.np_random.uniform(-1, 1, size=2).astype(np.float32)}

    def step(self, action):
        self.t += 1
        return self._obs(), float(action) - 1.0, self.t >= 5, False, {}


gym.register("rdo_test/RandomLength-v0", entry_point=RandomLength, max_episode_steps=50)


def run_script(rewards, gamma, c0, scale=1.0):
    env = StockAugmentation(ScriptedRewards(rewards), gamma=gamma, initial_stock=c0, stock_scale=scale)
    obs, info = env.reset(seed=0)
    stocks, observed, infos = [info["stock"]], [obs["stock"][0]], [info]
    for _ in rewards:
        obs, reward, terminated, truncated, info = env.step(0)
        stocks.append(info["stock"])
        observed.append(obs["stock"][0])
        infos.append(info)
    assert terminated
    return env, stocks, observed, infos


# ------------------------------------------------------------------------------------------------
# The stock recursion and its identities.


def test_stock_recursion_by_hand():
    # gamma = 0.5, c0 = 1, rewards 2, 4: C_1 = (1 + 2) / 0.5 = 6, C_2 = (6 + 4) / 0.5 = 20;
    # c0 + G = 1 + 2 + 0.5 * 4 = 5 = 0.25 * 20.
    env, stocks, observed, infos = run_script([2.0, 4.0], gamma=0.5, c0=1.0)
    assert stocks == [1.0, 6.0, 20.0]
    assert observed == [1.0, 6.0, 20.0]
    assert [i["discounted_return"] for i in infos] == [0.0, 2.0, 4.0]
    assert all(i["initial_stock"] == 1.0 for i in infos)
    assert env.stock_times_discount == 5.0 and env.stock == 20.0 and env.discounted_return == 4.0
    assert env.episode_initial_stock == 1.0


def test_undiscounted_stock_is_c0_plus_rewards_so_far():
    _, stocks, _, _ = run_script([1.0, -3.0, 0.5], gamma=1.0, c0=-2.0)
    assert stocks == [-2.0, -1.0, -4.0, -3.5]


finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(rewards=st.lists(finite, min_size=1, max_size=40), c0=finite,
       gamma=st.one_of(st.just(1.0), st.floats(0.05, 1.0)))
def test_stock_identities_hold_at_every_step(rewards, c0, gamma):
    env, stocks, observed, infos = run_script(rewards, gamma, c0, scale=0.5)
    T = len(rewards)
    returns_to_go = [sum(gamma**k * r for k, r in enumerate(rewards[t:])) for t in range(T + 1)]
    total = c0 + returns_to_go[0]
    tolerance = 1e-9 * (abs(c0) + sum(abs(r) for r in rewards) + 1.0)
    for t in range(T + 1):
        # c0 + G_0 = gamma^t (C_t + G_t)
        assert gamma**t * (stocks[t] + returns_to_go[t]) == pytest.approx(total, abs=tolerance)
        assert infos[t]["discounted_return"] == pytest.approx(
            sum(gamma**k * r for k, r in enumerate(rewards[:t])), abs=tolerance)
        expected_observed = np.float32(0.5 * stocks[t])
        if np.isfinite(expected_observed):
            assert observed[t] == expected_observed
    # at termination: c0 + G = gamma^T C_T
    assert gamma**T * stocks[T] == pytest.approx(total, abs=tolerance)
    assert env.stock_times_discount == pytest.approx(total, abs=tolerance)


def test_stock_scale_only_affects_the_observation():
    env, stocks, observed, infos = run_script([2.0, 4.0], gamma=0.5, c0=1.0, scale=0.1)
    assert stocks == [1.0, 6.0, 20.0]
    assert observed == pytest.approx([0.1, 0.6, 2.0])
    batch = {"stock": np.array([[0.6], [2.0]], np.float32)}
    assert env.stock_from_observation(batch) == pytest.approx([6, 20])


def test_long_discounted_episode_saturates_the_observation_instead_of_overflowing():
    # Regression: gamma^t underflowed to 0 and step() raised ZeroDivisionError; before that the
    # float32 observation became inf with a numpy overflow warning.
    n = 1200
    env = StockAugmentation(ScriptedRewards([0.0] * n), gamma=0.5, initial_stock=1.0)
    env.reset(seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(n):
            obs, _, _, _, info = env.step(0)
    assert np.isfinite(obs["stock"]).all() and obs["stock"][0] == np.finfo(np.float32).max
    assert info["stock"] == math.inf and env.stock_times_discount == 1.0
    messages = [str(w.message) for w in caught]
    assert sum("float32 range" in m for m in messages) == 1, messages
    assert not any("overflow" in m for m in messages), messages


def test_reward_passes_through_unchanged():
    for reward in [1.5, np.float32(2.5), np.float64(-1.0), 3, np.int64(4), True]:
        env = StockAugmentation(ScriptedRewards([reward]), gamma=1.0, initial_stock=0.0)
        env.reset()
        _, got, _, _, info = env.step(0)
        assert got is reward
        assert info["stock"] == float(reward)


# ------------------------------------------------------------------------------------------------
# Spaces, and the checkers of gymnasium and SB3.


def check_both(env):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "FrozenLake-v1", "Taxi-v4", "Blackjack-v1"])
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_checkers_pass_on_real_envs(env_id, gamma):
    env = StockAugmentation(gym.make(env_id), gamma=gamma, initial_stock=UniformStock(-1, 1))
    check_both(env)
    assert isinstance(env.observation_space, spaces.Dict)
    assert env.observation_space["observation"] == gym.make(env_id).observation_space


def test_checkers_pass_on_flat_cartpole_and_dict_env():
    flat = StockAugmentation(gym.make("CartPole-v1"), gamma=0.99, initial_stock=ChoiceStock([0, 1]),
                             flatten=True)
    check_both(flat)
    assert flat.observation_space.shape == (5,)
    dict_env = StockAugmentation(DictAndMultiDiscrete(), gamma=0.9, initial_stock=2.0)
    check_both(dict_env)
    assert set(dict_env.observation_space.spaces) == {"cells", "position", "stock"}


def test_observation_layouts():
    obs, _ = StockAugmentation(gym.make("Blackjack-v1"), initial_stock=3.0).reset(seed=1)
    assert isinstance(obs["observation"], tuple) and obs["stock"].tolist() == [3.0]
    obs, _ = StockAugmentation(gym.make("FrozenLake-v1"), initial_stock=-1.0).reset(seed=1)
    assert obs["observation"] == 0 and obs["stock"].dtype == np.float32
    flat_env = StockAugmentation(gym.make("CartPole-v1"), initial_stock=7.0, flatten=True)
    obs, _ = flat_env.reset(seed=3)
    raw, _ = gym.make("CartPole-v1").reset(seed=3)
    assert obs.dtype == np.float32 and obs[:-1].tolist() == raw.tolist() and obs[-1] == 7.0
    assert flat_env.stock_from_observation(np.stack([obs, obs])).tolist() == [7.0, 7.0]
    obs, _ = StockAugmentation(DictAndMultiDiscrete(), initial_stock=2.0).reset(seed=0)
    assert set(obs) == {"cells", "position", "stock"}


def test_flatten_refuses_non_box_and_double_augmentation_is_refused():
    with pytest.raises(ValueError, match=r"flatten=True.*Box.*MultiInputPolicy"):
        StockAugmentation(gym.make("FrozenLake-v1"), flatten=True)
    with pytest.raises(ValueError, match="already has a 'stock' key"):
        StockAugmentation(StockAugmentation(gym.make("FrozenLake-v1")))


# ------------------------------------------------------------------------------------------------
# Initial stocks.


def test_initial_stock_number_sampler_and_reset_option():
    env = StockAugmentation(gym.make("CartPole-v1"), initial_stock=UniformStock(-2, 3))
    seen = [env.reset(seed=None if i else 5)[1]["initial_stock"] for i in range(200)]
    assert all(-2 <= c <= 3 for c in seen) and len(set(seen)) == 200
    obs, info = env.reset(options={"initial_stock": 42})
    assert info["initial_stock"] == 42.0 and obs["stock"][0] == 42.0 and env.stock == 42.0
    assert env.reset()[1]["initial_stock"] != 42.0  # the override lasts one episode

    integer = StockAugmentation(gym.make("CartPole-v1"), initial_stock=UniformStock(-1, 1, integer=True))
    assert {integer.reset(seed=i)[1]["initial_stock"] for i in range(60)} == {-1.0, 0.0, 1.0}
    choice = StockAugmentation(gym.make("CartPole-v1"), initial_stock=ChoiceStock([0.5, 2.0], p=[0.0, 1.0]))
    assert {choice.reset(seed=i)[1]["initial_stock"] for i in range(20)} == {2.0}
    constant = StockAugmentation(gym.make("CartPole-v1"), initial_stock=-3)
    assert constant.reset(seed=0)[1]["initial_stock"] == -3.0


def test_sampled_stocks_are_reproducible_and_leave_the_inner_env_alone():
    def trajectory(env, seed):
        out = [env.reset(seed=seed)]
        out += [env.reset() for _ in range(5)]
        return out

    wrapped = StockAugmentation(gym.make("CartPole-v1"), initial_stock=UniformStock(-5, 5))
    first, second = trajectory(wrapped, 11), trajectory(wrapped, 11)
    assert [i["initial_stock"] for _, i in first] == [i["initial_stock"] for _, i in second]
    bare = trajectory(gym.make("CartPole-v1"), 11)
    assert all(np.array_equal(w["observation"], b) for (w, _), (b, _) in zip(first, bare, strict=True))


# ------------------------------------------------------------------------------------------------
# Bad inputs (DESIGN.md section 4).


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0]), [1.0], float("nan"), float("inf"), np.float32("-inf"),
                                 "1.0", 1 + 2j, None])
def test_bad_rewards_raise_naming_the_step(bad):
    env = StockAugmentation(ScriptedRewards([0.0, 0.0, bad]), gamma=0.9)
    env.reset()
    env.step(0)
    env.step(0)
    with pytest.raises(ValueError, match="step 3"):
        env.step(0)


@pytest.mark.parametrize("kwargs, match", [
    ({"gamma": 0.0}, "gamma"), ({"gamma": 1.5}, "gamma"), ({"gamma": float("nan")}, "gamma"),
    ({"initial_stock": float("nan")}, "initial stock"), ({"initial_stock": "3"}, "initial stock"),
    ({"initial_stock": [0, 1]}, "ChoiceStock"), ({"stock_scale": 0.0}, "stock_scale"),
    ({"stock_scale": -1.0}, "stock_scale"), ({"stock_scale": "big"}, "stock_scale"),
    ({"stock_scale": float("inf")}, "stock_scale"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StockAugmentation(gym.make("CartPole-v1"), **kwargs)


def test_bad_sampled_or_overridden_stock():
    env = StockAugmentation(gym.make("CartPole-v1"), initial_stock=lambda rng: float("nan"))
    with pytest.raises(ValueError, match="sampler"):
        env.reset(seed=0)
    env = StockAugmentation(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match=r"options=\{'initial_stock'"):
        env.reset(options={"initial_stock": "x"})


@pytest.mark.parametrize("make", [
    lambda: UniformStock(2, 1), lambda: UniformStock(0, float("inf")), lambda: UniformStock("a", 1),
    lambda: UniformStock(0.5, 2, integer=True), lambda: ChoiceStock([]), lambda: ChoiceStock([0, np.nan]),
    lambda: ChoiceStock([0, 1], p=[0.5, 0.6]), lambda: ChoiceStock([0, 1], p=[1.0]),
    lambda: ChoiceStock(["a"]),
])
def test_bad_samplers(make):
    with pytest.raises(ValueError, match="Stock"):
        make()


# ------------------------------------------------------------------------------------------------
# Vector envs (per sub-env stocks under both autoreset modes), re-creation and pickling.


def expected_stock(steps, c0, gamma):
    return (c0 + sum(gamma**k for k in range(int(steps)))) / gamma**steps


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("gamma", [1.0, 0.8])
def test_gymnasium_vector_env_resets_the_stock_per_sub_env(mode, gamma):
    envs = gym.make_vec("rdo_test/RandomLength-v0", num_envs=3, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": mode},
                        wrappers=[lambda e: StockAugmentation(e, gamma=gamma,
                                                              initial_stock=ChoiceStock([0, 10]))])
    obs, info = envs.reset(seed=0)
    episodes_done, initial_stocks = 0, set()
    for _ in range(60):
        initial_stocks.update(info["initial_stock"].tolist())
        for i in range(3):
            assert obs["stock"][i, 0] == pytest.approx(
                expected_stock(obs["observation"][i, 0], info["initial_stock"][i], gamma), rel=1e-6)
        obs, _, terminated, truncated, info = envs.step(envs.action_space.sample())
        done = terminated | truncated
        episodes_done += int(done.sum())
        if mode == AutoresetMode.SAME_STEP and done.any():
            i = int(np.flatnonzero(done)[0])
            final_obs, final_info = info["final_obs"][i], info["final_info"]
            assert final_obs["stock"][0] == pytest.approx(expected_stock(
                final_obs["observation"][0], final_info["initial_stock"][i], gamma), rel=1e-6)
            assert obs["observation"][i, 0] == 0.0  # already reset
    assert episodes_done >= 20
    assert initial_stocks == {0.0, 10.0}
    envs.close()


def test_sb3_make_vec_env_resets_the_stock_per_sub_env():
    vec = make_vec_env("rdo_test/RandomLength-v0", n_envs=2, seed=0, wrapper_class=StockAugmentation,
                       wrapper_kwargs={"gamma": 1.0, "initial_stock": UniformStock(0, 1), "flatten": True})
    obs = vec.reset()
    c0 = obs[:, -1].copy()
    ends = 0
    for _ in range(40):
        obs, _, dones, infos = vec.step(np.zeros(2, dtype=int))
        for i in range(2):
            if dones[i]:
                ends += 1
                terminal = infos[i]["terminal_observation"]
                assert terminal[-1] == pytest.approx(c0[i] + terminal[0], rel=1e-6)
                c0[i] = obs[i, -1]
                assert obs[i, 0] == 0.0 and infos[i]["initial_stock"] != terminal[-1]
            else:
                assert obs[i, -1] == pytest.approx(c0[i] + obs[i, 0], rel=1e-6)
    assert ends >= 10


@pytest.mark.parametrize("initial_stock", [2.5, UniformStock(-1, 1), ChoiceStock([1, 2], p=[0.25, 0.75])])
def test_recreate_from_spec_and_pickle(initial_stock):
    env = StockAugmentation(gym.make("CartPole-v1"), gamma=0.9, initial_stock=initial_stock,
                            flatten=True, stock_scale=0.5)
    assert env.spec.additional_wrappers[-1].kwargs == {
        "gamma": 0.9, "initial_stock": initial_stock, "flatten": True, "stock_scale": 0.5,
        "representation": env.representation}
    copies = [gym.make(env.spec), pickle.loads(pickle.dumps(env)), cloudpickle.loads(cloudpickle.dumps(env))]
    reference = [env.reset(seed=4)] + [env.step(1) for _ in range(3)]
    for copy in copies:
        stock = find_stock_wrapper(copy)
        assert (stock.gamma, stock.stock_scale, stock.flatten) == (0.9, 0.5, True)
        got = [copy.reset(seed=4)] + [copy.step(1) for _ in range(3)]
        for (o1, *rest1), (o2, *rest2) in zip(reference, got, strict=True):
            assert np.array_equal(o1, o2)
            assert rest1[-1]["stock"] == rest2[-1]["stock"]


def test_lambda_sampler_survives_cloudpickle_and_spec_recreation():
    env = StockAugmentation(gym.make("CartPole-v1"), initial_stock=lambda rng: float(rng.integers(3, 5)))
    for copy in [cloudpickle.loads(cloudpickle.dumps(env)), gym.make(env.spec)]:
        assert copy.reset(seed=0)[1]["initial_stock"] in (3.0, 4.0)


def test_find_stock_wrapper_looks_through_other_wrappers():
    stock = StockAugmentation(gym.make("CartPole-v1"))
    outer = gym.wrappers.RecordEpisodeStatistics(stock)
    assert find_stock_wrapper(outer) is stock
    assert find_stock_wrapper(gym.make("CartPole-v1")) is None


class FixedDraw:
    """A stand-in generator whose random() returns the given values in turn."""

    def __init__(self, *values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def test_samplers_follow_their_distributions():
    rng = np.random.default_rng(0)
    uniform = np.array([UniformStock(-2, 6)(rng) for _ in range(20000)])
    assert uniform.min() >= -2 and uniform.max() < 6
    assert np.histogram(uniform, bins=4, range=(-2, 6))[0] / 20000 == pytest.approx([0.25] * 4, abs=0.02)
    integers = [UniformStock(-1, 2, integer=True)(rng) for _ in range(20000)]
    counts = np.unique(integers, return_counts=True)
    assert counts[0].tolist() == [-1, 0, 1, 2] and counts[1] / 20000 == pytest.approx([0.25] * 4, abs=0.02)
    weighted = [ChoiceStock([5, 6, 7, 8], p=[0.1, 0.0, 0.6, 0.3])(rng) for _ in range(20000)]
    counts = np.unique(weighted, return_counts=True)
    assert counts[0].tolist() == [5, 7, 8] and counts[1] / 20000 == pytest.approx([0.1, 0.6, 0.3], abs=0.02)
    plain = [ChoiceStock([1.5, 2.5])(rng) for _ in range(20000)]
    assert np.mean(np.array(plain) == 1.5) == pytest.approx(0.5, abs=0.02)


def test_samplers_at_the_edges_of_the_unit_draw():
    top = 1.0 - 2.0**-53
    assert UniformStock(-1, 2, integer=True)(FixedDraw(top)) == 2.0
    assert UniformStock(-1, 2, integer=True)(FixedDraw(0.0)) == -1.0
    assert UniformStock(3, 3)(FixedDraw(0.7)) == 3.0
    # the cdf of seven 1/7 then a 0 ends at 1 - 2^-52, below a draw close to 1: the clamp must not
    # land on the zero-probability value
    sevenths = ChoiceStock(list(range(8)), p=[1 / 7] * 7 + [0.0])
    assert sevenths._cdf[-1] < top
    assert sevenths(FixedDraw(top)) == 6.0
    assert ChoiceStock([1, 2, 3], p=[0.0, 1.0, 0.0])(FixedDraw(0.0)) == 2.0
    assert ChoiceStock([4, 9])(FixedDraw(top)) == 9.0


# -- the stock layout: one description written by the wrapper ---------------------------------------
def test_stock_layout_flat_and_dict():
    from rdo_gym import StockLayout, StockRange

    flat = StockAugmentation(gym.make("CartPole-v1"), gamma=0.9, initial_stock=UniformStock(-3, 2, integer=True),
                             flatten=True, stock_scale=0.5)
    assert flat.stock_layout == StockLayout(0.9, 0.5, None, 4, StockRange(-3, 2, True))
    obs, _ = flat.reset(seed=0, options={"initial_stock": 1.5})
    assert flat.stock_layout.read(obs) == pytest.approx(1.5)
    batch = flat.stock_layout.with_stocks(obs, [4.0, -2.0])
    assert batch.shape == (2, 5) and flat.stock_layout.read(batch).tolist() == [4.0, -2.0]
    assert np.array_equal(batch[:, :4], np.stack([obs[:4], obs[:4]]))
    assert flat.stock_layout.same_stock(obs, batch[0]) and not flat.stock_layout.same_stock(obs, batch[0] + 1)

    d = StockAugmentation(gym.make("FrozenLake-v1"), initial_stock=ChoiceStock([0, 2, 5]))
    assert d.stock_layout == StockLayout(1.0, 1.0, "stock", None, StockRange(0, 5, True))
    obs, _ = d.reset(seed=0)
    batch = d.stock_layout.with_stocks(obs, [3.0])
    assert d.stock_layout.read(batch).tolist() == [3.0] and batch["observation"].tolist() == [obs["observation"]]
    fixed = StockAugmentation(gym.make("FrozenLake-v1"), initial_stock=-2.0).stock_layout.support
    assert fixed == StockRange(-2, -2)
    custom = StockAugmentation(gym.make("FrozenLake-v1"), initial_stock=lambda rng: 1.0).stock_layout.support
    assert custom is None


def test_stock_layout_check_matches_names_the_setting():
    base = StockAugmentation(gym.make("CartPole-v1"), gamma=1.0, flatten=True, stock_scale=0.1).stock_layout
    other = StockAugmentation(gym.make("CartPole-v1"), gamma=1.0, flatten=True, stock_scale=1.0).stock_layout
    base.check_matches(StockAugmentation(gym.make("CartPole-v1"), gamma=1.0, flatten=True, stock_scale=0.1,
                                         initial_stock=UniformStock(0, 9)).stock_layout)  # support may differ
    with pytest.raises(ValueError, match="stock_scale=1.0 there, stock_scale=0.1 for the model"):
        base.check_matches(other)
    with pytest.raises(ValueError, match="gamma=0.99 there"):
        base.check_matches(StockAugmentation(gym.make("CartPole-v1"), gamma=0.99, flatten=True,
                                             stock_scale=0.1).stock_layout)
    with pytest.raises(ValueError, match="stock key='stock' there"):
        base.check_matches(StockAugmentation(gym.make("CartPole-v1"), stock_scale=0.1).stock_layout)


def test_stock_range_candidates_and_errors():
    from rdo_gym import StockRange

    assert StockRange(-2, 2, integer=True).candidates().tolist() == [-2, -1, 0, 1, 2]
    assert StockRange(0, 1).candidates(5).tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert len(StockRange(0, 5000, integer=True).candidates(11)) == 11  # too many integers: a grid
    assert StockRange.of((1, 3)) == StockRange(1.0, 3.0, False)
    for bad in [(2, 1), (0, float("inf")), ("a", 1)]:
        with pytest.raises(ValueError, match="StockRange needs"):
            StockRange(*bad)
    with pytest.raises(ValueError, match="pair"):
        StockRange.of(3)
