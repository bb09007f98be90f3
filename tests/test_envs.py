"""Tests of the rdo_envs benchmarks: API, exact models vs simulators, DP optima rolled out for real."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rdo_envs
from rdo_envs import (
    ENV_IDS,
    REFERENCE_OPTIMA,
    CVaRGridEnv,
    HomeostasisEnv,
    TargetGridEnv,
    benchmark_info,
    make_stock_env,
    reference,
)
from rdo_gym import StockAugmentation, UniformStock, dp, make_objective

CLASSES = {"rdo/TargetGrid-v0": TargetGridEnv, "rdo/CVaRGrid-v0": CVaRGridEnv,
           "rdo/Homeostasis-v0": HomeostasisEnv}


# -- registration and metadata ------------------------------------------------------------------
def test_ids_registered_and_registration_idempotent():
    assert set(ENV_IDS) == set(CLASSES)
    for env_id in ENV_IDS:
        assert env_id in gym.registry
    before = dict(gym.registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # re-registering would warn
        rdo_envs.register_envs()
    assert dict(gym.registry) == before
    for env_id, cls in CLASSES.items():
        env = gym.make(env_id)
        assert type(env.unwrapped) is cls
        env.close()


def test_make_with_module_prefix_works_without_prior_import():
    code = ("import sys, gymnasium as gym\n"
            "assert 'rdo_envs' not in sys.modules\n"
            "env = gym.make('rdo_envs:rdo/CVaRGrid-v0')\n"
            "obs, info = env.reset(seed=0)\n"
            "print(type(env.unwrapped).__name__, info['state'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["CVaRGridEnv", str(CVaRGridEnv().start_state)]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_metadata(env_id):
    info = benchmark_info(env_id)
    cls = CLASSES[env_id]
    assert info.env_class is cls and info.gamma == 1.0
    assert info.horizon == cls().horizon >= 1
    low, high = info.training_stocks
    assert int(low) == low < high == int(high)
    assert info.default_objectives and set(info.default_objectives) <= set(cls.reference_objectives)
    for spec in info.default_objectives:
        make_objective(spec)
        assert (env_id, spec) in REFERENCE_OPTIMA
    assert benchmark_info("rdo_envs:" + env_id) == info
    spec = gym.spec(env_id)
    assert spec.kwargs and "render_mode" not in spec.kwargs
    env = cls(**spec.kwargs)  # the registered kwargs are the class defaults
    assert env.horizon == info.horizon
    assert all(getattr(env, k) == v for k, v in spec.kwargs.items())
    with pytest.raises(ValueError, match="unknown rdo benchmark"):
        benchmark_info("rdo/Nope-v0")


# -- Gymnasium / SB3 API ------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
@pytest.mark.filterwarnings("ignore:.*Box observation space maximum value is infinity")
@pytest.mark.filterwarnings("ignore:.*Box observation space minimum value is -infinity")
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_plain_and_stock_augmented(env_id):
    env = gym.make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(env, warn=True)
    for flatten in (True, False):
        senv = make_stock_env(env_id, flatten=flatten)
        gym_check_env(senv)
        sb3_check_env(senv, warn=True)
        obs, _ = senv.reset(seed=0)
        assert senv.observation_space.contains(obs)
    senv = make_stock_env(env_id)
    assert senv.observation_space.shape == (env.unwrapped.n_states + 2,)
    assert senv.observation_space.dtype == np.float32


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_observation_info_and_horizon(env_id):
    env = gym.make(env_id)
    base = env.unwrapped
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (base.n_states + 1,)
    assert info["t"] == 0 and info["state"] == base.start_state
    assert obs[info["state"]] == 1.0 and obs[:-1].sum() == 1.0 and obs[-1] == 1.0
    rng = np.random.default_rng(0)
    for _ in range(50):  # episodes until one reaches the horizon
        obs, info = env.reset()
        terminated, t = False, 0
        while not terminated:
            obs, reward, terminated, truncated, info = env.step(int(rng.integers(base.n_actions)))
            t += 1
            assert not truncated and reward == int(reward)
            assert info["t"] == t and obs[info["state"]] == 1.0
            assert obs[-1] == pytest.approx((base.horizon - t) / base.horizon)
            assert t <= base.horizon
        if t == base.horizon:
            break
    else:
        pytest.fail("no episode reached the horizon")
    assert obs[-1] == 0.0
    with pytest.raises(RuntimeError, match="reset"):
        base.step(0)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_determinism(env_id):
    def run(seed):
        env = gym.make(env_id)
        rng = np.random.default_rng(123)
        trace = []
        for episode in range(20):
            obs, info = env.reset(seed=seed if episode == 0 else None)
            trace.append((obs.tobytes(), info["state"]))
            done = False
            while not done:
                obs, r, term, trunc, info = env.step(int(rng.integers(env.action_space.n)))
                trace.append((obs.tobytes(), r, term, info["state"], info["t"]))
                done = term or trunc
        return trace

    assert run(7) == run(7)
    assert run(7) != run(8)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickling_preserves_state_and_randomness(env_id):
    env = make_stock_env(env_id)
    env.reset(seed=5)
    env.step(1)
    clone = pickle.loads(pickle.dumps(env))
    for action in [1, 2, 1, 0, 3, 2]:
        a = env.step(action)
        b = clone.step(action)
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
        assert a[4]["state"] == b[4]["state"] and a[4]["stock"] == b[4]["stock"]
        if a[2]:
            break


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_vec_four_envs(env_id):
    venv = gym.make_vec(env_id, num_envs=4, vectorization_mode="sync")
    obs, info = venv.reset(seed=0)
    n = venv.single_observation_space.shape[0]
    assert obs.shape == (4, n) and info["state"].shape == (4,)
    for _ in range(30):
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
        assert obs.shape == (4, n) and rew.shape == (4,) and not trunc.any()
    venv.close()
    base = gym.make(env_id).unwrapped
    venv = gym.make_vec(env_id, num_envs=4, vectorization_mode="sync", wrappers=[
        lambda e: StockAugmentation(e, initial_stock=UniformStock(*base.training_stocks, integer=True),
                                    flatten=True)])
    obs, info = venv.reset(seed=1)
    assert obs.shape == (4, n + 1)
    low, high = base.training_stocks
    assert np.all((info["initial_stock"] >= low) & (info["initial_stock"] <= high))
    venv.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_modes(env_id):
    env = gym.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    base = env.unwrapped
    rows = text.splitlines()
    assert len(rows) == base.grid.shape[0] + 1 and text.count("A") == 1
    r, c = base.cells[base.start_state]
    assert rows[r].split(" ")[c] == "A"
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    img = env.render()
    k = base.cell_pixels
    assert img.dtype == np.uint8 and img.shape == (base.grid.shape[0] * k, base.grid.shape[1] * k, 3)
    centre = img[r * k + k // 2, c * k + k // 2]
    assert tuple(centre) == (30, 90, 200)  # the agent is drawn on its cell
    assert gym.make(env_id).unwrapped.render() is None
    with pytest.raises(ValueError, match="render_mode"):
        CLASSES[env_id](render_mode="human")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="slip"):
        TargetGridEnv(slip=1.5)
    with pytest.raises(ValueError, match="horizon"):
        CVaRGridEnv(horizon=0)
    with pytest.raises(ValueError, match="p_fall"):
        CVaRGridEnv(p_fall=-0.1)
    with pytest.raises(ValueError, match="gust_penalty"):
        CVaRGridEnv(gust_penalty=2.5)
    with pytest.raises(ValueError, match="hazard"):
        HomeostasisEnv(hazard=2.0)
    env = CVaRGridEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(4)


def test_homeostasis_energy_is_initial_plus_rewards():
    env = gym.make("rdo/Homeostasis-v0")
    _, info = env.reset(seed=0)
    energy, total = info["energy"], 0.0
    assert energy == env.unwrapped.initial_energy
    done = False
    while not done:
        _, r, done, _, info = env.step(env.action_space.sample())
        total += r
        assert info["energy"] == energy + total


# -- make_stock_env -----------------------------------------------------------------------------
def test_make_stock_env_initial_stocks():
    env = make_stock_env("rdo/TargetGrid-v0")
    low, high = TargetGridEnv.training_stocks
    stocks = {env.reset(seed=s)[1]["initial_stock"] for s in range(60)}
    assert stocks <= set(range(low, high + 1)) and len(stocks) > 5
    env = make_stock_env("rdo/TargetGrid-v0", "target:4", render_mode="ansi")
    obs, info = env.reset(seed=0)
    assert info["initial_stock"] == -4.0 and obs[-1] == pytest.approx(-4.0 * TargetGridEnv.stock_scale)
    assert env.gamma == 1.0 and env.render().count("A") == 1
    env = make_stock_env("rdo/Homeostasis-v0", "homeostasis:6:3", flatten=False, stock_scale=1.0)
    _, info = env.reset(seed=0)
    assert info["initial_stock"] == -3.0
    assert make_stock_env("rdo/CVaRGrid-v0", initial_stock=7).reset(seed=0)[1]["initial_stock"] == 7.0
    with pytest.raises(ValueError, match="homeostasis:6:3"):
        make_stock_env("rdo/Homeostasis-v0", "homeostasis:6")
    with pytest.raises(ValueError, match="rdo benchmark"):
        make_stock_env("CartPole-v1")


def test_make_stock_env_cvar_samples_the_training_range_that_holds_the_optimal_initial_stock(monkeypatch):
    # A searched c0 (CVaR) is the agent's choice: the env samples the benchmark's training range, the
    # same stocks as the objective-free training env, and builds it without running the DP.
    import rdo_gym.dp

    def no_dp(*args, **kwargs):
        raise AssertionError("make_stock_env ran the DP")

    monkeypatch.setattr(rdo_gym.dp, "solve", no_dp)
    monkeypatch.setattr(rdo_gym.dp, "exact_reference", no_dp)
    low, high = CVaRGridEnv.training_stocks
    plain = make_stock_env("rdo/CVaRGrid-v0")
    for alpha in (0.05, 0.1, 0.25):
        env = make_stock_env("rdo/CVaRGrid-v0", f"cvar:{alpha}")
        sampler = env.initial_stock
        assert isinstance(sampler, UniformStock) and (sampler.low, sampler.high, sampler.integer) == (low, high, True)
        stocks = [env.reset(seed=s)[1]["initial_stock"] for s in range(40)]
        assert stocks == [plain.reset(seed=s)[1]["initial_stock"] for s in range(40)]
        assert low <= REFERENCE_OPTIMA[("rdo/CVaRGrid-v0", f"cvar:{alpha}")].initial_stock <= high
    # The DP's c0* is one explicit argument away.
    c0 = REFERENCE_OPTIMA[("rdo/CVaRGrid-v0", "cvar:0.1")].initial_stock
    env = make_stock_env("rdo/CVaRGrid-v0", "cvar:0.1", initial_stock=c0)
    assert env.reset(seed=0)[1]["initial_stock"] == c0 == 3.0


# -- exact model vs simulator -------------------------------------------------------------------
def _model_vs_simulator(sim: rdo_envs.GridBenchmarkEnv, mdp, n: int, seed: int):
    """Simulate ``n`` steps from every (non-terminal state, action) with the real ``step``; return
    (outcomes never predicted by the model, largest per-outcome |z|, Pearson chi2, degrees of freedom)."""
    sim.reset(seed=seed)
    unexpected, max_z, chi2, dof = [], 0.0, 0.0, 0
    for s in range(sim.n_states):
        if sim._is_terminal_cell(s):
            continue
        for a in range(sim.n_actions):
            counts: dict[tuple[int, float, bool], int] = {}
            for _ in range(n):
                sim._set_state(s, 0)
                _, r, term, _, info = sim.step(a)
                key = (info["state"], float(r), bool(term))
                counts[key] = counts.get(key, 0) + 1
            live = mdp.prob[s, a] > 0
            probs = {(int(ns), float(r), bool(d)): float(p) for p, ns, r, d in zip(
                mdp.prob[s, a][live], mdp.next_state[s, a][live], mdp.reward[s, a][live],
                mdp.terminated[s, a][live], strict=True)}
            unexpected += [(s, a, key) for key in counts if key not in probs]
            for key, p in probs.items():
                k = counts.get(key, 0)
                if p < 1.0:
                    max_z = max(max_z, abs(k - n * p) / math.sqrt(n * p * (1 - p)))
                chi2 += (k - n * p) ** 2 / (n * p)
            dof += len(probs) - 1
    return unexpected, max_z, chi2, dof


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_tabular_model_matches_simulator(env_id):
    sim = gym.make(env_id).unwrapped
    mdp = sim.model
    assert mdp.horizon == sim.horizon and mdp.n_states == sim.n_states and mdp.is_integer_reward()
    assert mdp.initial[sim.start_state] == 1.0
    unexpected, max_z, chi2, dof = _model_vs_simulator(sim, mdp, n=1000, seed=2024)
    assert not unexpected, unexpected[:5]
    assert dof >= 10
    assert max_z < 5.0
    # chi2 with dof degrees of freedom: mean dof, sd sqrt(2 dof); 5 sd is far in the tail.
    assert chi2 < dof + 5 * math.sqrt(2 * dof), (chi2, dof)


@pytest.mark.parametrize("env_id, wrong", [
    ("rdo/TargetGrid-v0", {"slip": 0.3}),
    ("rdo/CVaRGrid-v0", {"p_gust": 0.35}),
    ("rdo/Homeostasis-v0", {"p_berry": 0.7}),
])
def test_model_vs_simulator_check_detects_a_wrong_model(env_id, wrong):
    """The statistical check above has power: a model with a perturbed parameter fails it."""
    sim = gym.make(env_id).unwrapped
    mdp = CLASSES[env_id](**wrong).model
    unexpected, max_z, chi2, dof = _model_vs_simulator(sim, mdp, n=1000, seed=2024)
    assert max_z >= 5.0 or chi2 >= dof + 5 * math.sqrt(2 * dof)


# -- reference optima ---------------------------------------------------------------------------
def test_reference_table_matches_dp():
    assert {k for k in REFERENCE_OPTIMA} == {(e, o) for e in ENV_IDS for o in CLASSES[e].reference_objectives}
    for (env_id, spec), documented in REFERENCE_OPTIMA.items():
        computed = reference(env_id, spec)
        assert str(computed.objective) == spec == str(documented.objective)
        assert computed.higher_is_better == documented.higher_is_better
        for field in ("optimum", "risk_neutral", "initial_stock"):
            assert getattr(computed, field) == pytest.approx(getattr(documented, field), abs=1e-8), (
                env_id, spec, field)
        if documented.naive is None:
            assert computed.naive is None
        else:
            assert computed.naive == pytest.approx(documented.naive, abs=1e-8)
        # the optimum is at least as good as the baselines
        sign = 1 if documented.higher_is_better else -1
        assert sign * (documented.optimum - documented.risk_neutral) >= -1e-9
    assert reference("rdo_envs:rdo/CVaRGrid-v0", make_objective("cvar:0.1")) == reference(
        "rdo/CVaRGrid-v0", "cvar:0.1")


#: Documented margins (docs/benchmarks.md, section 3): static-CVaR optimum minus the better baseline.
CVAR_MARGIN = 1.5


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.25])
def test_cvar_grid_optimum_beats_both_baselines_by_a_margin(alpha):
    ref = reference("rdo/CVaRGrid-v0", f"cvar:{alpha}")
    assert ref.optimum - ref.risk_neutral > CVAR_MARGIN
    assert ref.optimum - ref.naive > CVAR_MARGIN


def test_homeostasis_risk_neutral_is_far_from_optimum():
    for spec in HomeostasisEnv.default_objectives:
        ref = reference("rdo/Homeostasis-v0", spec)
        assert ref.risk_neutral > ref.optimum + 5.0


def test_reference_follows_env_kwargs():
    default = reference("rdo/CVaRGrid-v0", "cvar:0.1")
    safer = reference("rdo/CVaRGrid-v0", "cvar:0.1", p_fall=0.0)
    assert safer.optimum > default.optimum
    with pytest.raises(ValueError, match="initial_energy"):
        reference("rdo/Homeostasis-v0", "homeostasis:5")


# -- the optimal DP policy, rolled out in the real env ------------------------------------------
def _rollout(env_id, objective, policy, c0, episodes, seed, n_envs=100):
    """Per-episode utilities ``f(c0 + G)`` of ``policy`` run in the real (stock-augmented) env.

    ``n_envs`` envs (env ``i`` seeded with ``seed + i``) run rounds of episodes in lockstep (all
    start at t = 0), so that the policy is queried once per time step for all live episodes.
    """
    envs = [make_stock_env(env_id, initial_stock=c0) for _ in range(n_envs)]
    utilities = []
    for rnd in range(math.ceil(episodes / n_envs)):
        infos = [env.reset(seed=seed + i if rnd == 0 else None)[1] for i, env in enumerate(envs)]
        live = list(range(n_envs))
        t = 0
        while live:
            assert all(infos[i]["t"] == t for i in live)
            states = np.array([infos[i]["state"] for i in live])
            stocks = np.array([infos[i]["stock"] for i in live])
            still = []
            for i, action in zip(live, policy.actions(states, stocks, t), strict=True):
                _, _, term, trunc, infos[i] = envs[i].step(int(action))
                if term or trunc:  # gamma = 1: the final stock is c0 + G
                    utilities.append(float(objective.utility(infos[i]["stock"])))
                else:
                    still.append(i)
            live, t = still, t + 1
    assert len(utilities) == math.ceil(episodes / n_envs) * n_envs
    return np.array(utilities)


@pytest.mark.parametrize("env_id, spec", [
    ("rdo/TargetGrid-v0", "target:0"),
    ("rdo/TargetGrid-v0", "target:8"),
    ("rdo/CVaRGrid-v0", "cvar:0.05"),
    ("rdo/CVaRGrid-v0", "cvar:0.1"),
    ("rdo/CVaRGrid-v0", "cvar:0.25"),
    ("rdo/Homeostasis-v0", "homeostasis:6:3"),
    ("rdo/Homeostasis-v0", "homeostasis:3:3"),
])
def test_optimal_policy_achieves_reference_in_real_env(env_id, spec):
    objective = make_objective(spec)
    mdp = gym.make(env_id).unwrapped.model
    sol = dp.solve(mdp, objective)
    documented = REFERENCE_OPTIMA[(env_id, spec)]
    assert sol.value == pytest.approx(documented.optimum, abs=1e-8)
    c0 = sol.initial_stock
    u = _rollout(env_id, objective, sol.policy, c0, episodes=3000, seed=11)
    # the reported value is affine in E[f(c0 + G)] (slope 1/alpha for CVaR at fixed c0*)
    slope = objective.value_from_utility(c0, 1.0) - objective.value_from_utility(c0, 0.0)
    estimate = objective.value_from_utility(c0, u.mean())
    stderr = abs(slope) * u.std(ddof=1) / math.sqrt(len(u)) + 1e-12
    assert abs(estimate - documented.optimum) < 4 * stderr + 1e-9, (estimate, documented.optimum, stderr)
    if documented.naive is not None:  # the real-env advantage over both baselines is resolved
        assert estimate - 4 * stderr > max(documented.naive, documented.risk_neutral)


def test_naive_policy_achieves_its_reference_in_real_env():
    """The naive-CVaR baseline is measurably worse than the optimum in the real env too."""
    alpha = 0.1
    documented = REFERENCE_OPTIMA[("rdo/CVaRGrid-v0", f"cvar:{alpha}")]
    policy = dp.naive_cvar_policy(CVaRGridEnv().model, alpha)
    # with f(x) = x and c0 = 0 the "utilities" are the returns G of the stock-free policy
    returns = _rollout("rdo/CVaRGrid-v0", make_objective("mean"), policy, 0.0, episodes=3000, seed=12)
    cvar_hat = make_objective(f"cvar:{alpha}").value(returns)
    assert abs(cvar_hat - documented.naive) < 0.5
    assert cvar_hat < documented.optimum - 1.0


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.25])
def test_cvar_grid_optimal_policy_depends_on_the_stock_at_the_fork(alpha):
    """The documented mechanism: ice after two gusts (in the tail), mud after a calm crossing."""
    env = CVaRGridEnv()
    sol = dp.solve(env.model, f"cvar:{alpha}")
    fork, c0 = env.index[(1, 2)], sol.initial_stock
    mud, ice = 0, 2  # up, down
    assert sol.policy.action(fork, c0 - 2, 2) == mud  # calm crossing
    assert sol.policy.action(fork, c0 - 10, 2) == ice  # two gusts
    assert sol.policy.action(fork, c0 - 6, 2) == (ice if alpha == 0.25 else mud)
    assert dp.naive_cvar_policy(env.model, alpha).action(fork, 0.0, 2) == mud
    assert dp.risk_neutral_policy(env.model).action(fork, 0.0, 2) == ice


def test_make_stock_env_passes_gym_make_options_to_gym_make_only():
    env = rdo_envs.make_stock_env("rdo/CVaRGrid-v0", "cvar:0.1", max_episode_steps=100, disable_env_checker=True)
    assert env.spec.max_episode_steps == 100
    env = rdo_envs.make_stock_env("rdo/TargetGrid-v0", "target:4", max_episode_steps=100, slip=0.0, gamma=0.5)
    assert env.initial_stock == -4.0 and env.gamma == 0.5 and env.unwrapped.slip == 0.0


@pytest.mark.parametrize("env_id", rdo_envs.ENV_IDS)
def test_observation_at_is_what_the_env_observes(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=3)
    base = env.unwrapped
    rng = np.random.default_rng(0)
    done = False
    while True:
        assert np.array_equal(obs, base.observation_at(info["state"], info["t"]))
        if done:
            break
        obs, _, terminated, truncated, info = env.step(int(rng.integers(base.n_actions)))
        done = terminated or truncated
    with pytest.raises(ValueError, match="state"):
        base.observation_at(base.n_states, 0)
