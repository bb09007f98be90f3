"""DEtaTQC: TQC with stock-conditioned critics and an actor that maximizes the objective."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from sb3_contrib import TQC
from stable_baselines3.common.env_util import make_vec_env
from toy_envs import CoinEnv, RiskDial

from rdo_gym import StockAugmentation, UniformStock
from rdo_sb3 import DEtaN, DEtaTQC, evaluate_objective
from rdo_sb3.detatqc import DEFAULT_SURROGATE_TEMPERATURE

SMALL = dict(learning_starts=50, batch_size=32, policy_kwargs=dict(net_arch=[32, 32], n_quantiles=8))


def dial(lead: int = 0, low: float = -1.0, high: float = 1.0, flatten: bool = True) -> gym.Env:
    return StockAugmentation(RiskDial(lead), gamma=1.0, initial_stock=UniformStock(low, high), flatten=flatten)


def pendulum(flatten: bool = True, gamma: float = 1.0) -> gym.Env:
    return StockAugmentation(gym.make("Pendulum-v1", max_episode_steps=40), gamma=gamma,
                             initial_stock=UniformStock(0.0, 400.0), stock_scale=0.005, flatten=flatten)


# -- errors -----------------------------------------------------------------------------------------
def test_a_discrete_action_space_points_to_detan():
    env = StockAugmentation(CoinEnv(), gamma=1.0, initial_stock=UniformStock(-4, 0), flatten=True)
    with pytest.raises(ValueError, match=r"Box of continuous actions.*rdo_sb3\.DEtaN"):
        DEtaTQC("MlpPolicy", env, objective="cvar:0.5")


def test_detan_on_a_box_points_to_detatqc():
    with pytest.raises(ValueError, match=r"Discrete action space.*rdo_sb3\.DEtaTQC"):
        DEtaN("MlpPolicy", pendulum(), objective="cvar:0.5")


def test_an_env_without_a_stock_points_to_stock_augmentation():
    with pytest.raises(ValueError, match=r"DEtaTQC needs an env whose observation carries the stock.*"
                                         r"rdo_gym\.StockAugmentation"):
        DEtaTQC("MlpPolicy", gym.make("Pendulum-v1"), objective="cvar:0.5")


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(naive=True), "no naive mode"),
    (dict(entropy_in="critic"), "entropy_in must be one of 'target', 'actor', got 'critic'"),
    (dict(surrogate_temperature=0.0), "surrogate_temperature must be a finite number > 0"),
    (dict(surrogate_temperature="warm"), "surrogate_temperature"),
    (dict(top_quantiles_to_drop_per_net=-1), "top_quantiles_to_drop_per_net must be an integer >= 0, got -1"),
    (dict(top_quantiles_to_drop_per_net=8), "drops every target atom"),
    (dict(kappa=-1.0), "kappa must be a finite number >= 0"),
    (dict(relabel_stocks=2.0), "relabel_stocks must be a bool or a probability"),
    (dict(gamma=0.9), "differs from the env's StockAugmentation gamma=1.0"),
])
def test_bad_arguments_get_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DEtaTQC("MlpPolicy", dial(), objective="cvar:0.5", **{**SMALL, **kwargs})


def test_policy_and_observation_mismatch():
    with pytest.raises(ValueError, match="'MultiInputPolicy' needs a Dict observation"):
        DEtaTQC("MultiInputPolicy", dial(), objective="cvar:0.5", **SMALL)


def test_loading_a_plain_tqc_zip_is_refused(tmp_path):
    TQC("MlpPolicy", dial(), **SMALL).save(tmp_path / "tqc.zip")
    with pytest.raises(ValueError, match=r"is not a DEtaTQC model.*sb3_contrib\.TQC\.load"):
        DEtaTQC.load(tmp_path / "tqc.zip")
    with pytest.raises(FileNotFoundError, match="no saved DEtaTQC model"):
        DEtaTQC.load(tmp_path / "missing.zip")


# -- the actor's objective --------------------------------------------------------------------------
def _dial_quantiles(actions: th.Tensor, model: DEtaTQC) -> th.Tensor:
    """The true quantiles of RiskDial's return at `actions` `(batch, 1)`, shaped as the critics' output."""
    low, high = RiskDial.atoms(actions.view(-1))
    n = model.critic.n_quantiles
    half = th.stack([low, high], dim=1).repeat_interleave(n // 2, dim=1)  # (batch, n): half low, half high
    return half.unsqueeze(1).expand(-1, model.critic.n_critics, -1)


def _score_slope(model: DEtaTQC, action: float, stock: float) -> float:
    a = th.tensor([[action]], requires_grad=True)
    obs = th.tensor([[1.0, stock]])
    model.actor_score(_dial_quantiles(a, model), obs).sum().backward()
    return float(a.grad)


@pytest.mark.parametrize(("objective", "stock", "slopes"), [
    ("mean", 0.0, {-0.9: +1, 0.5: +1}),  # E[R] = u: always up
    ("cvar:0.5", -0.125, {-0.9: +1, 0.5: -1}),  # CVaR = u - 2u^2 (at c0* = -VaR): up to a = -0.5, then down
    ("prob:0.1", -0.1, {-0.95: +1, 0.8: -1}),  # P(R >= 0.1) = 1 on a in [-0.72, -0.28]
    ("target:0.125", -0.125, {-0.9: +1, 0.5: -1}),  # E|R - 0.125|: smallest near a = -0.5
])
def test_the_actor_score_gradient_points_to_the_objective(objective, stock, slopes):
    """A wrong sign (minimizing the objective) or the mean in place of the objective fails here."""
    model = DEtaTQC("MlpPolicy", dial(), objective=objective, **SMALL)
    for action, sign in slopes.items():
        slope = _score_slope(model, action, stock)
        assert np.sign(slope) == sign, (objective, action, slope)


def test_the_actor_score_is_the_objective_value_in_return_units():
    model = DEtaTQC("MlpPolicy", dial(), objective="cvar:0.5", **SMALL)
    a = th.tensor([[-0.5]])  # u = 1/4: atoms 0.125 and 0.375; at c = -0.125: -c + E[min(c + R, 0)] / alpha
    assert float(model.actor_score(_dial_quantiles(a, model), th.tensor([[1.0, -0.125]]))) == pytest.approx(0.125)
    assert float(model.actor_score(_dial_quantiles(a, model), th.tensor([[1.0, -0.375]]))) == pytest.approx(0.125)
    target = DEtaTQC("MlpPolicy", dial(), objective="target:0.125", **SMALL)  # -E|c + R|, higher is better
    assert float(target.actor_score(_dial_quantiles(a, target), th.tensor([[1.0, -0.125]]))) == pytest.approx(-0.125)


def test_probability_objectives_use_a_smooth_indicator_in_the_actor_only():
    model = DEtaTQC("MlpPolicy", dial(), objective="prob:0.1", **SMALL)
    assert model.actor_temperature == pytest.approx(DEFAULT_SURROGATE_TEMPERATURE)  # stock_scale 1
    scaled = DEtaTQC("MlpPolicy", pendulum(), objective="prob:-300", **SMALL)
    assert scaled.actor_temperature == pytest.approx(DEFAULT_SURROGATE_TEMPERATURE / 0.005)
    fixed = DEtaTQC("MlpPolicy", dial(), objective="prob:0.1", surrogate_temperature=0.01, **SMALL)
    assert fixed.actor_temperature == 0.01
    assert DEtaTQC("MlpPolicy", dial(), objective="cvar:0.5", **SMALL).actor_temperature is None
    # the exact indicator stays in the initial-stock choice and the reported value
    obs, _ = dial().reset(seed=0)
    c0, value = model.choose_initial_stock(obs)
    assert c0 == -0.1 and value in {k / 16 for k in range(17)}  # a mean of 16 indicators


def test_training_on_the_dial_prefers_the_cvar_optimal_action():
    """CVaR_0.5 is best at a = -0.5, the mean at a = 1; a short training tells them apart."""
    th.manual_seed(0)
    actions = {}
    for objective in ("cvar:0.5", "mean"):
        model = DEtaTQC("MlpPolicy", dial(), objective=objective, learning_starts=200, batch_size=64, seed=0,
                        relabel_stocks=1.0, learning_rate=1e-3,
                        policy_kwargs=dict(net_arch=[32, 32], n_quantiles=8)).learn(1500)
        actions[objective] = float(model.predict(np.array([1.0, -0.125], np.float32), deterministic=True)[0][0])
    assert -0.9 < actions["cvar:0.5"] < -0.05, actions
    assert actions["mean"] > 0.3, actions


# -- the critics' target ----------------------------------------------------------------------------
def _filled(model, steps: int = 60):
    model.learn(steps)
    return model.replay_buffer.sample(16)


@pytest.mark.parametrize("entropy_in", ["actor", "target"])
def test_the_target_reads_the_entropy_choice_and_keeps_every_atom(entropy_in):
    model = DEtaTQC("MlpPolicy", pendulum(), objective="cvar:0.5", ent_coef=0.5, entropy_in=entropy_in,
                    seed=1, **{**SMALL, "learning_starts": 100})
    data = _filled(model, 60)
    th.manual_seed(3)
    target = model.target_quantiles(data, th.tensor(0.5))
    th.manual_seed(3)
    next_actions, log_prob = model.actor.action_log_prob(data.next_observations)
    with th.no_grad():
        atoms = model.critic_target(data.next_observations, next_actions).reshape(16, -1)
        soft = atoms - 0.5 * log_prob.reshape(-1, 1) if entropy_in == "target" else atoms
        expected = data.rewards + (1 - data.dones) * soft
    assert target.shape == (16, 1, 16)  # 2 critics x 8 quantiles: no truncation by default
    th.testing.assert_close(target.squeeze(1), expected)


def test_truncation_drops_the_top_atoms_when_asked():
    model = DEtaTQC("MlpPolicy", pendulum(), objective="cvar:0.5", top_quantiles_to_drop_per_net=2, seed=1,
                    **{**SMALL, "learning_starts": 100})
    data = _filled(model, 60)
    th.manual_seed(3)
    target = model.target_quantiles(data, th.tensor(0.0))
    th.manual_seed(3)
    next_actions, _ = model.actor.action_log_prob(data.next_observations)
    with th.no_grad():
        atoms = model.critic_target(data.next_observations, next_actions).reshape(16, -1).sort(dim=1).values
    assert target.shape == (16, 1, 12)
    th.testing.assert_close(target.squeeze(1), data.rewards + (1 - data.dones) * atoms[:, :12])


@pytest.mark.parametrize("flatten", [True, False])
def test_relabelling_rewrites_the_stock_of_both_observations_consistently(flatten):
    gamma = 0.9
    model = DEtaTQC("MlpPolicy" if flatten else "MultiInputPolicy", pendulum(flatten, gamma), objective="cvar:0.5",
                    relabel_stocks=1.0, seed=2, **{**SMALL, "learning_starts": 100})
    data = _filled(model, 60)
    new = model.relabel(data)
    layout = model.stock_layout
    c, c_next = layout.read(new.observations), layout.read(new.next_observations)
    assert bool(((0.0 <= c) & (c <= 400.0)).all()) and not th.allclose(c, layout.read(data.observations))
    th.testing.assert_close(c_next, (c + new.rewards.view(-1)) / gamma, rtol=1e-5, atol=1e-3)
    if flatten:  # everything but the stock is unchanged
        keep = [i for i in range(data.observations.shape[1]) if i != layout.index]
        th.testing.assert_close(new.observations[:, keep], data.observations[:, keep])
        th.testing.assert_close(new.next_observations[:, keep], data.next_observations[:, keep])
    else:
        th.testing.assert_close(new.observations["observation"], data.observations["observation"])
    th.testing.assert_close(new.actions, data.actions)
    th.testing.assert_close(new.rewards, data.rewards)


# -- the SB3 surface --------------------------------------------------------------------------------
def test_pendulum_dict_vec_env_progress_bar_set_objective_and_evaluation():
    venv = make_vec_env(lambda: pendulum(flatten=False), n_envs=2, seed=0)
    model = DEtaTQC("MultiInputPolicy", venv, objective="cvar:0.25", relabel_stocks=True, seed=0, **SMALL)
    model.learn(200, progress_bar=True)
    assert model.num_timesteps == 200
    report = evaluate_objective(model, pendulum(flatten=False), n_episodes=2, seed=0)
    assert len(report.returns) == 2 and 0.0 <= report.initial_stocks[0] <= 400.0
    assert np.isfinite(report.estimated_values).all()
    model.set_objective("target:-300")
    assert str(model.objective) == "target:-300"
    report = evaluate_objective(model, pendulum(flatten=False), n_episodes=1, seed=0)
    assert report.initial_stocks[0] == 300.0


def test_save_load_round_trip(tmp_path):
    model = DEtaTQC("MlpPolicy", pendulum(), objective="cvar:0.25", entropy_in="actor", surrogate_temperature=2.0,
                    seed=0, **SMALL).learn(100)
    model.save(tmp_path / "m")
    loaded = DEtaTQC.load(tmp_path / "m", env=pendulum())
    assert str(loaded.objective) == "cvar:0.25" and loaded.entropy_in == "actor"
    assert loaded.surrogate_temperature == 2.0 and loaded.top_quantiles_to_drop_per_net == 0
    assert loaded.stock_layout == model.stock_layout and loaded.stock_range == model.stock_range
    obs, _ = pendulum().reset(seed=4)
    np.testing.assert_allclose(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    assert loaded.choose_initial_stock(obs) == pytest.approx(model.choose_initial_stock(obs))
    other = StockAugmentation(gym.make("Pendulum-v1"), gamma=1.0, initial_stock=UniformStock(0.0, 400.0),
                              stock_scale=0.01, flatten=True)
    with pytest.raises(ValueError, match="stock_scale"):
        DEtaTQC.load(tmp_path / "m", env=other)


# -- the SB3 surface on the continuous wealth benchmark ------------------------------------------------
WEALTH = "rdo/WealthGoal-v0"


def wealth(flatten: bool = True, **kwargs) -> gym.Env:
    import rdo_envs

    return rdo_envs.make_stock_env(WEALTH, flatten=flatten, **kwargs)


def test_detatqc_is_exported_from_rdo_sb3():
    import rdo_sb3
    from rdo_sb3.detatqc import DEtaTQC as direct

    assert rdo_sb3.DEtaTQC is direct and "DEtaTQC" in rdo_sb3.__all__


def test_the_discrete_wealth_twin_points_to_detan_and_the_bare_env_to_the_wrapper():
    import rdo_envs

    with pytest.raises(ValueError, match=r"Discrete\(5\).*use rdo_sb3\.DEtaN"):
        DEtaTQC("MlpPolicy", rdo_envs.make_stock_env("rdo/WealthGoalDiscrete-v0"), objective="prob:30")
    with pytest.raises(ValueError, match=r"needs an env whose observation carries the stock"):
        DEtaTQC("MlpPolicy", gym.make(WEALTH), objective="prob:30")
    with pytest.raises(ValueError, match=r"needs an env whose observation carries the stock"):
        DEtaTQC("MlpPolicy", make_vec_env(lambda: gym.make(WEALTH), n_envs=2), objective="prob:30")


@pytest.mark.parametrize("flatten", [True, False])
def test_wealth_vec_env_learn_save_load_set_objective_and_evaluate(tmp_path, flatten):
    """MlpPolicy (flat Box) and MultiInputPolicy (Dict with the stock key) on 2 DummyVecEnv copies of the
    wealth benchmark: learn with a progress bar, save, load with the objective, its settings and the stock
    layout kept, act identically, switch objectives, evaluate on the real env."""
    policy = "MlpPolicy" if flatten else "MultiInputPolicy"
    venv = make_vec_env(lambda: wealth(flatten, initial_stock=UniformStock(-40.0, 0.0)), n_envs=2, seed=0)
    assert venv.num_envs == 2
    model = DEtaTQC(policy, venv, objective="prob:30", relabel_stocks=0.5, stock_range=(-40.0, 0.0),
                    entropy_in="target", seed=0, **SMALL)
    model.learn(120, progress_bar=True)
    assert model.num_timesteps == 120 and model.replay_buffer.size() == 60  # 60 steps of 2 envs
    if not flatten:
        assert set(venv.observation_space.spaces) == {"observation", "stock"}
    model.save(tmp_path / "wealth")
    loaded = DEtaTQC.load(tmp_path / "wealth", env=wealth(flatten))
    assert str(loaded.objective) == "prob:30" and loaded.entropy_in == "target"
    assert loaded.stock_range == model.stock_range and loaded.stock_layout.scale == model.stock_layout.scale
    assert loaded.relabel_stocks == 0.5 and loaded.gamma == 1.0
    obs, _ = wealth(flatten).reset(seed=3)
    np.testing.assert_allclose(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    action = loaded.predict(obs, deterministic=True)[0]
    assert action.shape == (1,) and 0.0 <= float(action[0]) <= 1.0
    report = evaluate_objective(loaded, wealth(flatten), n_episodes=4, seed=0)
    assert report.initial_stocks.tolist() == [-30.0] * 4  # prob:30 starts at the shortfall W_0 - goal
    assert set(np.unique(report.returns)) <= set(range(-50, 151)) and report.value in {k / 4 for k in range(5)}
    loaded.set_objective("cvar:0.5")
    assert str(loaded.objective) == "cvar:0.5" and loaded.actor_temperature is None
    report = evaluate_objective(loaded, wealth(flatten), n_episodes=2, seed=0)
    assert -40.0 <= report.initial_stocks[0] <= 0.0  # the outer search on stock_range
