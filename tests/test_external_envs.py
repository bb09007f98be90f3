"""The toy-text envs of rdo_envs.external: exact models vs the real envs, the horizon convention, references."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import rdo_envs
from rdo_envs.external import (
    EXTERNAL_ENV_IDS,
    BlackjackTabularEnv,
    FickleTaxiEnv,
    PTableEnv,
    external_info,
    external_model,
    external_reference,
    make_external_base,
    make_external_env,
)
from rdo_gym import StockAugmentation, dp, make_objective

# (env id, env kwargs, horizon for the test) of every family and option
CASES = [
    ("FrozenLake-v1", {}, None),
    ("FrozenLake-v1", {"map_name": "8x8"}, None),
    ("CliffWalkingSlippery-v1", {}, None),
    ("Taxi-v4", {"is_rainy": True}, 30),
    ("Taxi-v4", {"fickle_passenger": True}, 30),
    ("Blackjack-v1", {}, None),
    ("Blackjack-v1", {"sab": False, "natural": True}, None),
]


def _ids(case):
    env_id, kwargs, _ = case
    return env_id + "".join(f"-{k}={v}" for k, v in kwargs.items())


def _check_outcomes(model, samples, min_count=150):
    """Every (state, action) seen ``min_count`` times has the model's law of (next state, reward, terminated)."""
    checked = 0
    for (s, a), seen in samples.items():
        n = sum(seen.values())
        if n < min_count:
            continue
        law: dict[tuple, float] = defaultdict(float)
        for p, s2, r, done in zip(model.prob[s, a], model.next_state[s, a], model.reward[s, a],
                                  model.terminated[s, a], strict=True):
            if p > 0:
                law[int(s2), float(r), bool(done)] += float(p)
        assert set(seen) <= set(law), (s, a, set(seen) - set(law))
        for key, p in law.items():
            freq = seen.get(key, 0) / n
            assert abs(freq - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-9, (s, a, key, freq, p, n)
        checked += 1
    assert checked >= 3
    return checked


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_model_transition_law_equals_the_envs(case):
    env_id, kwargs, horizon = case
    env = make_external_base(env_id, horizon=horizon, **kwargs)
    model = env.model
    assert model.horizon == (horizon or external_info(env_id, **kwargs).horizon or model.horizon)
    rng = np.random.default_rng(0)
    samples: dict[tuple[int, int], Counter] = defaultdict(Counter)
    starts = Counter()
    _, info = env.reset(seed=0)
    starts[info["state"]] += 1
    for _ in range(40_000 if env_id.startswith("Taxi") else 15_000):
        a = int(rng.integers(env.action_space.n))
        s, t = info["state"], info["t"]
        _, r, terminated, truncated, info = env.step(a)
        assert not truncated and info["t"] == t + 1
        at_horizon = env.horizon is not None and info["t"] >= env.horizon
        if not at_horizon:  # at the horizon the episode ends whatever the env says
            samples[s, a][info["state"], float(r), bool(terminated)] += 1
        if terminated:
            _, info = env.reset()
            starts[info["state"]] += 1
    _check_outcomes(model, samples, min_count=30 if env_id.startswith("Taxi") else 150)
    n = sum(starts.values())
    for s, count in starts.items():
        p = model.initial[s]
        assert p > 0 and abs(count / n - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-9


def test_fickle_passenger_law_from_states_with_the_passenger_aboard():
    env = make_external_base("Taxi-v4", horizon=30, fickle_passenger=True, fickle_probability=0.5)
    assert isinstance(env, FickleTaxiEnv)
    model, base = env.model, env.env
    start = base.encode(2, 2, 4, 1)  # passenger aboard, the taxi in the middle, destination 1
    samples: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for episode in range(4000):
        env.reset(seed=episode)
        base.s = start
        a = episode % 4  # the four moves
        _, r, terminated, _, info = env.step(a)
        samples[start, a][info["state"], float(r), bool(terminated)] += 1
    _check_outcomes(model, samples)
    # the first carried move consumed the fickleness: the observed bit is set
    assert env.observation_at(info["state"], 1)[500] == 1.0


def test_horizon_and_time_left_convention():
    env = make_external_base("FrozenLake-v1", horizon=5, is_slippery=False)
    obs, info = env.reset(seed=0)
    assert env.observation_space.shape == (17,) and obs[-1] == 1.0 and obs[info["state"]] == 1.0
    for t in range(1, 6):
        obs, r, terminated, truncated, info = env.step(0)  # left in the corner: stays
        assert info["t"] == t and obs[-1] == pytest.approx((5 - t) / 5) and not truncated
        assert terminated == (t == 5)
        np.testing.assert_array_equal(obs, env.observation_at(info["state"], t))
    with pytest.raises(RuntimeError):
        env.step(0)
    assert env.model.horizon == 5
    # the default horizon is the env's TimeLimit
    assert external_info("FrozenLake-v1").horizon == 100 and external_info("FrozenLake8x8-v1").horizon == 200
    assert external_info("Taxi-v4").horizon == 200 and external_info("CliffWalking-v1").horizon == 50
    assert external_info("FrozenLake-v1", max_episode_steps=7).horizon == 7
    assert external_info("Blackjack-v1").horizon is None
    with pytest.raises(ValueError, match="unsupported"):
        external_info("Taxi-v2")
    with pytest.raises(ValueError, match="no horizon"):
        make_external_base("Blackjack-v1", horizon=10)


def test_make_external_env_is_stock_augmented_like_make_stock_env():
    env = make_external_env("FrozenLake-v1", "prob:1")
    assert isinstance(env, StockAugmentation) and isinstance(env.unwrapped, PTableEnv)
    assert isinstance(env.observation_space, spaces.Box) and env.observation_space.shape == (18,)
    obs, info = env.reset(seed=0)
    assert info["initial_stock"] == -1.0 and obs[-1] == -1.0 and env.gamma == 1.0
    cvar = make_external_env("CliffWalkingSlippery-v1", "cvar:0.1")
    stocks = {cvar.reset(seed=i)[1]["initial_stock"] for i in range(50)}
    assert stocks <= set(range(13, 61)) and len(stocks) > 5  # the training range
    d = make_external_env("Blackjack-v1", "prob:1", flatten=False)
    assert isinstance(d.observation_space, spaces.Dict) and d.observation_space["observation"].shape == (45,)
    assert set(rdo_envs.EXTERNAL_ENV_IDS) == set(EXTERNAL_ENV_IDS) >= {"FrozenLake-v1", "Blackjack-v1", "Taxi-v4"}


def test_detan_trains_on_an_external_env_with_its_preset():
    from rdo_sb3 import DEtaN, make_model

    preset = rdo_envs.preset("FrozenLake-v1")
    assert preset.objective == "prob:1" and preset.gamma == 1.0 and "FrozenLake-v1" in \
        rdo_envs.preset_env_ids("detan", external=True)
    model = make_model(preset, make_external_env("FrozenLake-v1", "prob:1"), seed=0, learning_starts=50,
                       buffer_size=500)
    assert isinstance(model, DEtaN) and model.scorer.tie_break == "mean" and model.scorer.return_step == 1.0
    model.learn(200)
    assert rdo_envs.preset("CliffWalkingSlippery-v1").kwargs().get("return_step") is None


REFERENCE_CASES = [
    ("FrozenLake-v1", {}, None, ("mean", "prob:1")),
    ("FrozenLake-v1", {"map_name": "8x8"}, None, ("mean", "prob:1")),
    ("FrozenLake8x8-v1", {}, None, ("mean", "prob:1")),
    ("CliffWalking-v1", {}, 20, ("mean", "cvar:0.1")),
    ("CliffWalkingSlippery-v1", {}, 20, ("mean", "cvar:0.25")),
    ("Taxi-v4", {}, 20, ("mean",)),
    ("Taxi-v4", {"is_rainy": True, "fickle_passenger": True}, 20, ("mean",)),
    ("Blackjack-v1", {}, None, ("mean", "prob:1", "prob:0")),
]


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=lambda c: c[0] + str(c[1]) + str(c[2]))
def test_references_are_finite_and_the_optimum_beats_risk_neutral(case):
    env_id, kwargs, horizon, objectives = case
    for spec in objectives:
        ref = external_reference(env_id, spec, horizon=horizon, **kwargs)
        assert math.isfinite(ref.optimum) and math.isfinite(ref.risk_neutral)
        assert ref.optimum >= ref.risk_neutral - 1e-9
        assert external_reference(env_id, spec, horizon=horizon, **kwargs) is ref  # cached
    assert external_model(env_id, horizon=horizon, **kwargs) is external_model(env_id, horizon=horizon, **kwargs)


def test_frozenlake_known_optima():
    # Gymnasium's registry notes "optimum = 0.74" (4x4) and "0.91" (8x8) for their time limits
    assert external_reference("FrozenLake-v1", "prob:1").optimum == pytest.approx(0.7442, abs=1e-4)
    assert external_reference("FrozenLake8x8-v1", "mean").optimum == pytest.approx(0.9132, abs=1e-4)


def _simple_policy(env: BlackjackTabularEnv):
    def policy(state: int, stock: float, t: int) -> int:
        if state == env.n_states - 1:
            return 0
        feats = env.observation_at(state, 0)
        total = int(np.argmax(feats[:32]))
        return int(total < 17)  # hit below 17
    return policy


@pytest.mark.parametrize("kwargs", [{}, {"sab": False, "natural": True}, {"sab": False}])
def test_blackjack_exact_model_matches_monte_carlo_of_the_real_env(kwargs):
    env = make_external_base("Blackjack-v1", **kwargs)
    policy = _simple_policy(env)
    exact = dp.evaluate(env.model, policy, make_objective("mean"), initial_stock=0.0)
    atoms, probs = exact.return_distribution
    real = gym.make("Blackjack-v1", **kwargs)  # the env itself, not the wrapper
    n, returns = 15_000, []
    obs, _ = real.reset(seed=1)
    g = 0.0
    while len(returns) < n:
        total = obs[0]
        obs, r, terminated, truncated, _ = real.step(int(total < 17))
        g += r
        if terminated or truncated:
            returns.append(g)
            g = 0.0
            obs, _ = real.reset()
    returns = np.array(returns)
    for x, p in zip(atoms, probs, strict=True):
        freq = float(np.mean(np.isclose(returns, x)))
        assert abs(freq - p) <= 4.5 * math.sqrt(p * (1 - p) / n) + 1e-9, (x, freq, p)
    assert set(np.unique(returns)) <= {float(x) for x in atoms}
    mean = float(np.dot(atoms, probs))
    assert abs(returns.mean() - mean) <= 4.5 * returns.std() / math.sqrt(n)


@pytest.mark.parametrize("env_id, kwargs", [("FrozenLake-v1", {}), ("Taxi-v4", {"fickle_passenger": True}),
                                            ("Blackjack-v1", {}), ("CliffWalkingSlippery-v1", {})])
def test_envs_pass_the_gymnasium_and_sb3_checkers(env_id, kwargs):
    import warnings

    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = make_external_env(env_id, "mean", **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env)
        gym_check_env(env.unwrapped, skip_render_check=True)
