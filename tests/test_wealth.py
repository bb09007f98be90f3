"""Tests of the wealth-management benchmarks (rdo_envs.wealth): dynamics, exact models, references,
the DP optimum rolled out in the real envs."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rdo_envs
from rdo_envs import WEALTH_ENV_IDS, WEALTH_REFERENCE_OPTIMA, WealthGoalDiscreteEnv, WealthGoalEnv, make_stock_env
from rdo_envs.wealth import RISKY_RETURNS, discretization_table
from rdo_gym import UniformStock, dp, make_objective

CLASSES = {"rdo/WealthGoal-v0": WealthGoalEnv, "rdo/WealthGoalDiscrete-v0": WealthGoalDiscreteEnv}


def _small(**kwargs):
    """A small problem (fast DPs): 4 periods, wealth 0 .. 40 from 20, goal 26."""
    return {"horizon": 4, "initial_wealth": 20, "max_wealth": 40, "goal": 26, **kwargs}


# -- registration, metadata, API -----------------------------------------------------------------------
def test_ids_registered_with_their_defaults_and_metadata():
    assert set(WEALTH_ENV_IDS) == set(CLASSES) and not set(WEALTH_ENV_IDS) & set(rdo_envs.ENV_IDS)
    for env_id, cls in CLASSES.items():
        env = gym.make(env_id)
        assert type(env.unwrapped) is cls and rdo_envs.env_class("rdo_envs:" + env_id) is cls
        spec = gym.spec(env_id)
        base = cls(**spec.kwargs)
        assert all(getattr(base, k) == v for k, v in spec.kwargs.items())
        info = rdo_envs.benchmark_info(env_id)
        assert (info.gamma, info.horizon, info.training_stocks) == (1.0, 10, (-40, 0))
        assert set(info.default_objectives) <= set(cls.reference_objectives)
        for spec_ in cls.reference_objectives:
            assert (env_id, spec_) in WEALTH_REFERENCE_OPTIMA
    assert gym.make("rdo/WealthGoalDiscrete-v0").action_space == gym.spaces.Discrete(5)
    assert gym.make("rdo/WealthGoalDiscrete-v0", n_levels=11).action_space == gym.spaces.Discrete(11)
    box = gym.make("rdo/WealthGoal-v0").action_space
    assert isinstance(box, gym.spaces.Box) and box.shape == (1,) and box.low[0] == 0.0 and box.high[0] == 1.0
    assert WealthGoalEnv().goal_objective == "prob:30"


def test_make_with_module_prefix_works_without_prior_import():
    code = ("import sys, gymnasium as gym\n"
            "assert 'rdo_envs' not in sys.modules\n"
            "env = gym.make('rdo_envs:rdo/WealthGoal-v0')\n"
            "obs, info = env.reset(seed=0)\n"
            "print(type(env.unwrapped).__name__, info['wealth'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["WealthGoalEnv", "50"]


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
@pytest.mark.filterwarnings("ignore:.*Box observation space m")
@pytest.mark.filterwarnings("ignore:.*symmetric and normalized Box action space")
@pytest.mark.parametrize("env_id", WEALTH_ENV_IDS)
def test_check_env_plain_and_stock_augmented(env_id):
    env = gym.make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(env, warn=True)
    for flatten in (True, False):
        senv = make_stock_env(env_id, "cvar:0.25", flatten=flatten)
        gym_check_env(senv)
        sb3_check_env(senv, warn=True)
    senv = make_stock_env(env_id)
    assert senv.observation_space.shape == (3,) and senv.observation_space.dtype == np.float32


@pytest.mark.parametrize("env_id", WEALTH_ENV_IDS)
def test_episode_lasts_exactly_the_horizon_and_rewards_are_wealth_changes(env_id):
    for horizon in (1, 3, 10):
        env = gym.make(env_id, horizon=horizon)
        base = env.unwrapped
        obs, info = env.reset(seed=horizon)
        assert info == {"state": 50, "t": 0, "wealth": 50} and obs.tolist() == [0.25, 1.0]
        total, t, done = 0.0, 0, False
        while not done:
            obs, reward, done, truncated, info = env.step(env.action_space.sample())
            t += 1
            total += reward
            assert not truncated and reward == int(reward) and done == (t == horizon)
            assert info["t"] == t and info["state"] == info["wealth"]
            assert obs.tolist() == pytest.approx([info["wealth"] / 200, (horizon - t) / horizon])
            assert np.array_equal(obs, base.observation_at(info["state"], t))
        assert t == horizon and obs[-1] == 0.0
        assert total == info["wealth"] - 50  # the return is W_T - W_0
        with pytest.raises(RuntimeError, match="reset"):
            base.step(env.action_space.sample())
        assert base.model.horizon == horizon


@pytest.mark.parametrize("env_id", WEALTH_ENV_IDS)
def test_seeded_determinism_and_pickling(env_id):
    def run(seed):
        env = gym.make(env_id)
        env.action_space.seed(123)
        trace = []
        for episode in range(10):
            obs, info = env.reset(seed=seed if episode == 0 else None)
            done = False
            while not done:
                obs, r, done, _, info = env.step(env.action_space.sample())
                trace.append((obs.tobytes(), r))
        return trace

    assert run(7) == run(7)
    assert run(7) != run(8)
    env = make_stock_env(env_id, "prob:30")
    env.reset(seed=5)
    action = env.action_space.sample()
    env.step(action)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(5):
        a, b = env.step(action), clone.step(action)
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4] and a[4]["stock"] == b[4]["stock"]


def test_render_and_bad_arguments():
    env = gym.make("rdo/WealthGoalDiscrete-v0", render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "t=0/10 wealth=50 goal=80 (not reached)\n"
    assert gym.make("rdo/WealthGoal-v0").unwrapped.render() is None
    for kwargs, name in [({"horizon": 0}, "horizon"), ({"max_wealth": 2.5}, "max_wealth"),
                         ({"initial_wealth": 300}, "initial_wealth"), ({"goal": 80.5}, "goal"),
                         ({"risk_free": -1.5}, "risk_free"), ({"risky_returns": ((0.5, 0.9), (0.4, 1.2))}, "sum to 1"),
                         ({"risky_returns": ((1.0, -0.1),)}, "positive"), ({"contribution": 0.5}, "contribution"),
                         ({"render_mode": "human"}, "render_mode")]:
        with pytest.raises(ValueError, match=name):
            WealthGoalEnv(**kwargs)
    with pytest.raises(ValueError, match="n_levels"):
        WealthGoalDiscreteEnv(n_levels=1)
    cont, disc = WealthGoalEnv(), WealthGoalDiscreteEnv()
    cont.reset(seed=0)
    disc.reset(seed=0)
    for bad in ([1.5], [-0.1], [float("nan")], [0.2, 0.3]):
        with pytest.raises(ValueError, match="fraction"):
            cont.step(np.array(bad, dtype=np.float32))
    with pytest.raises(ValueError, match="action"):
        disc.step(5)
    with pytest.raises(ValueError, match="fraction"):
        cont.transition(50, 1.2)
    with pytest.raises(ValueError, match="fractions"):
        cont.build_model(np.array([0.0, 2.0]))


# -- the dynamics: randomized rounding, clipping ---------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(wealth=st.integers(0, 200), fraction=st.floats(0.0, 1.0),
       contribution=st.integers(-20, 20), risk_free=st.floats(-0.05, 0.1))
def test_randomized_rounding_preserves_the_mean_and_clips_at_the_ends(wealth, fraction, contribution, risk_free):
    env = WealthGoalEnv(risk_free=risk_free, contribution=contribution)
    law = env.transition(wealth, fraction)
    probs = np.array([p for p, _ in law])
    support = np.array([w for _, w in law])
    assert probs.sum() == pytest.approx(1.0, abs=1e-12) and np.all(probs > 0)
    assert np.all((support >= 0) & (support <= 200))
    y = env.next_wealth_mean(wealth, fraction)
    p_risky = np.array([p for p, _ in RISKY_RETURNS])
    gross = 1 + risk_free + fraction * (np.array([r for _, r in RISKY_RETURNS]) - 1 - risk_free)
    assert y == pytest.approx(wealth * gross + contribution, abs=1e-8)
    # The mean of the rounded wealth is the mean of y, clipped at the grid ends.
    assert probs @ support == pytest.approx(p_risky @ np.clip(y, 0, 200), abs=1e-9)
    # Each outcome lands on floor(y) or floor(y) + 1 (then clipped).
    allowed = {int(min(max(w, 0), 200)) for yj in y for w in (math.floor(yj), math.floor(yj) + 1)}
    assert set(support.tolist()) <= allowed
    # The model holds the same law.
    mdp = env.build_model(np.array([fraction]))
    live = mdp.prob[wealth, 0] > 0
    model_law: dict[int, float] = {}
    for p, s2 in zip(mdp.prob[wealth, 0][live], mdp.next_state[wealth, 0][live], strict=True):
        model_law[int(s2)] = model_law.get(int(s2), 0.0) + float(p)
    assert model_law == pytest.approx(dict((w, p) for p, w in law))
    assert np.all(mdp.reward[wealth, 0] == mdp.next_state[wealth, 0] - wealth)


def test_clipping_at_the_cap_and_at_ruin():
    env = WealthGoalEnv()
    assert env.transition(200, 1.0) == [(0.1, 140), (0.4, 190), (0.5, 200)]  # 248 is capped at 200
    assert env.transition(199, 0.0) == [(1.0, 200)]  # 202.98
    poor = WealthGoalEnv(contribution=-30)
    assert poor.transition(10, 0.0) == [(1.0, 0)]  # 10.2 - 30 < 0: ruined
    assert poor.transition(0, 1.0) == [(1.0, 0)]
    env.reset(seed=0)
    env._set_state(200, 0)
    for _ in range(10):
        _, reward, *_ = env.step(np.array([0.0], dtype=np.float32))
        assert env._wealth == 200 and reward == 0.0


def test_simulator_samples_the_model_law():
    """Chi-squared check of the real step against the model at several (wealth, fraction); and it
    has power (a model with the risk-free rate 0.03 fails it)."""
    env = WealthGoalEnv()
    env.reset(seed=2024)
    cases = [(50, 0.5), (17, 0.9), (120, 0.33), (199, 1.0), (3, 0.77)]
    n = 4000
    counts = {}
    for w, u in cases:
        c: dict[int, int] = {}
        for _ in range(n):
            env._set_state(w, 0)
            _, _, _, _, info = env.step(np.array([u], dtype=np.float32))
            c[info["wealth"]] = c.get(info["wealth"], 0) + 1
        counts[(w, u)] = c

    def chi2(model_env):
        total, dof, unexpected = 0.0, 0, []
        for (w, u), c in counts.items():
            law = {s: p for p, s in model_env.transition(w, float(np.float32(u)))}
            unexpected += [s for s in c if s not in law]
            total += sum((c.get(s, 0) - n * p) ** 2 / (n * p) for s, p in law.items())
            dof += len(law) - 1
        return total, dof, unexpected

    total, dof, unexpected = chi2(env)
    assert not unexpected and dof >= 10
    assert total < dof + 5 * math.sqrt(2 * dof), (total, dof)
    total, dof, _ = chi2(WealthGoalEnv(risk_free=0.03))
    assert total > dof + 5 * math.sqrt(2 * dof)


# -- exact models: grids and breakpoints ----------------------------------------------------------------
def test_grid_model_is_the_discrete_twin_model():
    twin = WealthGoalDiscreteEnv(n_levels=3, **_small())
    mdp = twin.model
    assert mdp.n_states == 41 and mdp.n_actions == 3 and mdp.horizon == 4 and mdp.is_integer_reward()
    assert mdp.initial[20] == 1.0
    np.testing.assert_array_equal(twin.model_fractions[7], [0.0, 0.5, 1.0])
    cont = WealthGoalEnv(**_small())
    for k, u in enumerate((0.0, 0.5, 1.0)):
        np.testing.assert_array_equal(mdp.prob[:, k], cont.build_model(np.array([u])).prob[:, 0])
    assert cont.grid_model(3) is cont.grid_model(3)  # cached


@settings(max_examples=40, deadline=None)
@given(wealth=st.integers(0, 40), values=st.lists(st.floats(-5, 5), min_size=41, max_size=41),
       contribution=st.integers(-3, 3))
def test_breakpoints_hold_the_maximum_over_every_fraction(wealth, values, contribution):
    """`u -> E[V(next wealth)]` is piecewise linear between breakpoints: no fraction beats the best
    breakpoint, and between two breakpoints the function is linear."""
    env = WealthGoalEnv(**_small(contribution=contribution))
    V = np.array(values)
    bp = env.breakpoints(wealth)
    assert bp[0] == 0.0 and bp[-1] == 1.0 and np.all(np.diff(bp) > 0)

    def q(u):
        return sum(p * V[w] for p, w in env.transition(wealth, float(u)))

    best = max(q(u) for u in bp)
    grid = np.linspace(0.0, 1.0, 201)
    assert max(q(u) for u in grid) <= best + 1e-9
    for a, b in zip(bp[:-1], bp[1:], strict=True):  # linear on each piece
        mid = q((a + b) / 2)
        assert mid == pytest.approx((q(a) + q(b)) / 2, abs=1e-9)


@pytest.mark.parametrize("spec", ["prob:6", "cvar:0.25", "cvar:0.5", "mean"])
def test_exact_model_optimum_is_the_supremum_over_all_fractions(spec):
    env = WealthGoalEnv(**_small())
    mdp, fractions = env.exact_model()
    exact = dp.solve(mdp, spec).value
    # more fractions (every breakpoint plus 64 random ones at every state) do not help ...
    rng = np.random.default_rng(0)
    richer = np.concatenate([fractions, rng.random((env.n_states, 64))], axis=1)
    assert dp.solve(env.build_model(richer), spec).value == pytest.approx(exact, abs=1e-9)
    # ... and the grids approach it from below, monotonically on nested grids
    values = [dp.solve(env.grid_model(n), spec).value for n in (2, 3, 5, 9, 17, 33, 65, 129)]
    assert all(v <= exact + 1e-9 for v in values)
    assert all(b >= a - 1e-9 for a, b in zip(values[:-1], values[1:], strict=True))
    assert exact - values[-1] < 0.02 * max(1.0, abs(exact)) and exact - values[0] > exact - values[-1]


def test_discretization_table_on_the_default_env():
    rows = discretization_table(("prob:30",), levels=(5, 9, 17))
    by_level = {r["n_levels"]: r for r in rows}
    assert by_level[None]["optimum"] == pytest.approx(WEALTH_REFERENCE_OPTIMA[("rdo/WealthGoal-v0", "prob:30")].optimum)
    assert by_level[5]["optimum"] == pytest.approx(
        WEALTH_REFERENCE_OPTIMA[("rdo/WealthGoalDiscrete-v0", "prob:30")].optimum)
    gaps = [by_level[n]["gap"] for n in (5, 9, 17)]
    assert gaps[0] > gaps[1] > gaps[2] > 0 and by_level[None]["gap"] == 0.0


# -- references -----------------------------------------------------------------------------------------
# The naive CVaR baseline on the breakpoint model (101 actions) takes seconds: the continuous env's
# cvar:0.1 and cvar:0.5 rows are checked in the slow run only.
_SLOW_ROWS = {("rdo/WealthGoal-v0", "cvar:0.1"), ("rdo/WealthGoal-v0", "cvar:0.5")}


@pytest.mark.parametrize("env_id, spec", [pytest.param(*key, marks=[pytest.mark.slow] if key in _SLOW_ROWS else [])
                                          for key in WEALTH_REFERENCE_OPTIMA])
def test_reference_table_matches_dp(env_id, spec):
    documented = WEALTH_REFERENCE_OPTIMA[(env_id, spec)]
    computed = rdo_envs.reference(env_id, spec)
    assert str(computed.objective) == spec
    for field in ("optimum", "risk_neutral", "initial_stock"):
        assert getattr(computed, field) == pytest.approx(getattr(documented, field), abs=1e-8), field
    assert (computed.naive is None) == (documented.naive is None)
    if documented.naive is not None:
        assert computed.naive == pytest.approx(documented.naive, abs=1e-8)
        assert computed.optimum >= computed.naive - 1e-9
    assert computed.optimum >= computed.risk_neutral - 1e-9
    assert {(e, o) for e, o in WEALTH_REFERENCE_OPTIMA} == {
        (e, o) for e in WEALTH_ENV_IDS for o in CLASSES[e].reference_objectives}


def test_reference_optima_tell_the_documented_story():
    R = WEALTH_REFERENCE_OPTIMA
    for spec in WealthGoalEnv.reference_objectives:  # the continuous optimum beats the 5-level grid's
        assert R[("rdo/WealthGoal-v0", spec)].optimum >= R[("rdo/WealthGoalDiscrete-v0", spec)].optimum - 1e-12
    # reaching the goal: the stock-aware policy beats the mean-maximizer by 0.18 in probability
    goal = R[("rdo/WealthGoal-v0", "prob:30")]
    assert goal.optimum - goal.risk_neutral > 0.15
    # CVaR 0.1: the riskless portfolio (the naive policy) is optimal; at 0.5 the stock pays
    assert R[("rdo/WealthGoal-v0", "cvar:0.1")].optimum == R[("rdo/WealthGoal-v0", "cvar:0.1")].naive
    half = R[("rdo/WealthGoalDiscrete-v0", "cvar:0.5")]
    assert half.optimum - half.naive > 5.0 and half.normalized(half.naive) < 0.5
    low, high = WealthGoalEnv.training_stocks
    for ref in R.values():
        assert low <= ref.initial_stock <= high
    assert rdo_envs.reference("rdo_envs:rdo/WealthGoal-v0", "cvar:0.1") is rdo_envs.reference(
        "rdo/WealthGoal-v0", "cvar:0.1")


def test_reference_follows_env_kwargs():
    safer_goal = rdo_envs.reference("rdo/WealthGoalDiscrete-v0", "prob:6", **_small())
    harder_goal = rdo_envs.reference("rdo/WealthGoalDiscrete-v0", "prob:12", **_small())
    assert 0 < harder_goal.optimum < safer_goal.optimum <= 1
    more_levels = rdo_envs.reference("rdo/WealthGoalDiscrete-v0", "prob:6", n_levels=9, **_small())
    assert more_levels.optimum >= safer_goal.optimum


# -- make_stock_env -------------------------------------------------------------------------------------
def test_make_stock_env_initial_stocks():
    env = make_stock_env("rdo/WealthGoalDiscrete-v0", "prob:30")
    obs, info = env.reset(seed=0)
    assert info["initial_stock"] == -30.0 and obs[-1] == pytest.approx(-30 * 0.02)
    env = make_stock_env("rdo/WealthGoal-v0", "cvar:0.5")
    sampler = env.initial_stock
    assert isinstance(sampler, UniformStock) and (sampler.low, sampler.high, sampler.integer) == (-40, 0, True)
    stocks = {env.reset(seed=s)[1]["initial_stock"] for s in range(40)}
    assert stocks <= set(range(-40, 1)) and len(stocks) > 5
    assert rdo_envs.stock_env.default_initial_stock(make_objective("prob:30"), (-40, 0)) == -30.0


# -- the DP optimum, rolled out in the real envs ---------------------------------------------------------
def _rollout(env_id, policy, objective, c0, episodes, seed, **kwargs):
    """Utilities `f(c0 + G)` of a DP policy run in the real stock-augmented env (vectorized over
    episodes in lockstep: every episode lasts the horizon)."""
    n = 100
    envs = [make_stock_env(env_id, initial_stock=c0, **kwargs) for _ in range(n)]
    base = envs[0].unwrapped
    out = []
    for rnd in range(math.ceil(episodes / n)):
        infos = [env.reset(seed=seed + i if rnd == 0 else None)[1] for i, env in enumerate(envs)]
        for t in range(base.horizon):
            states = np.array([i["state"] for i in infos])
            stocks = np.array([i["stock"] for i in infos])
            assert all(i["t"] == t for i in infos)
            actions = policy.actions(states, stocks, t)
            results = [env.step(env.unwrapped.env_action(s, a)) for env, s, a in zip(envs, states, actions,
                                                                                      strict=True)]
            assert all(r[2] == (t == base.horizon - 1) for r in results)
            infos = [r[4] for r in results]
        out += [float(objective.utility(i["stock"])) for i in infos]
    return np.array(out)


@pytest.mark.parametrize("env_id, spec", [
    ("rdo/WealthGoalDiscrete-v0", "prob:30"),
    ("rdo/WealthGoalDiscrete-v0", "cvar:0.5"),
    ("rdo/WealthGoal-v0", "prob:30"),
    ("rdo/WealthGoal-v0", "cvar:0.25"),
])
def test_optimal_policy_achieves_reference_in_real_env(env_id, spec):
    objective = make_objective(spec)
    ref = rdo_envs.reference(env_id, spec)
    c0 = ref.initial_stock
    u = _rollout(env_id, ref.solution.policy, objective, c0, episodes=3000, seed=11)
    slope = objective.value_from_utility(c0, 1.0) - objective.value_from_utility(c0, 0.0)
    estimate = objective.value_from_utility(c0, u.mean())
    stderr = abs(slope) * u.std(ddof=1) / math.sqrt(len(u)) + 1e-12
    assert abs(estimate - ref.optimum) < 4 * stderr, (estimate, ref.optimum, stderr)
    # the real-env advantage over the risk-neutral policy is resolved
    assert estimate - 4 * stderr > ref.risk_neutral


def test_rollout_check_catches_a_horizon_off_by_one():
    """The same check against a model one period shorter or longer fails: the env's horizon and the
    model's agree exactly."""
    env_id, spec = "rdo/WealthGoalDiscrete-v0", "mean"  # E[G]: 41.0, 46.5, 52.0 for 9, 10, 11 periods
    objective = make_objective(spec)
    ref = rdo_envs.reference(env_id, spec)
    u = _rollout(env_id, ref.solution.policy, objective, ref.initial_stock, episodes=3000, seed=12)
    stderr = u.std(ddof=1) / math.sqrt(len(u))
    assert abs(u.mean() - ref.optimum) < 4 * stderr
    model = WealthGoalDiscreteEnv().model
    for horizon in (9, 11):
        other = dp.solve(model.with_horizon(horizon), spec).value
        assert abs(u.mean() - other) > 4 * stderr, (horizon, other, u.mean())
