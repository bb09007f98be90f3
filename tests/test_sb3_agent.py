"""DηN agent: the target, relabelling, SB3 compatibility (save/load, vec envs, Dict/CNN policies,
callbacks, logging, seeding, evaluate_policy) and clear errors. Fast: small nets, few steps."""

import csv
import os

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import QRDQN
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize
from toy_envs import CoinEnv

from rdo_gym import ChoiceStock, ExpectedUtility, StockAugmentation, StockRange, TargetReturn, UniformStock
from rdo_sb3 import DEtaN, DEtaNPolicy, evaluate_objective

SMALL = dict(policy_kwargs=dict(n_quantiles=8, net_arch=[16]), learning_starts=20, batch_size=16,
             buffer_size=2000, train_freq=1, target_update_interval=50)


class DictCoinEnv(CoinEnv):
    """CoinEnv with a Dict observation of its own (StockAugmentation adds the "stock" key)."""

    def __init__(self, horizon: int = 4):
        super().__init__(horizon)
        self.observation_space = spaces.Dict({"time": spaces.Box(0.0, 1.0, (1,), np.float32),
                                              "noise": spaces.Box(-1.0, 1.0, (2,), np.float32)})

    def _obs(self):
        return {"time": super()._obs(), "noise": np.zeros(2, np.float32)}


def coin(gamma=1.0, flatten=True, scale=0.5, initial_stock=None, horizon=4):
    init = UniformStock(-4, 0, integer=True) if initial_stock is None else initial_stock
    return StockAugmentation(CoinEnv(horizon), gamma=gamma, initial_stock=init, flatten=flatten,
                             stock_scale=scale)


def constant_network(net, values):
    """Make a QuantileNetwork output ``values[n, a]`` whatever the input."""
    values = th.as_tensor(values, dtype=th.float32)
    with th.no_grad():
        for p in net.parameters():
            p.zero_()
        net.quantile_net[-1].bias.copy_(values.reshape(-1))  # output viewed as (n_quantiles, n_actions)


def replay_batch(model, obs_stocks, next_stocks, rewards, dones=None):
    """A ReplayBufferSamples-like batch of flat CoinEnv observations with the given unscaled stocks."""
    scale = model.stock_layout.scale
    n = len(obs_stocks)
    obs = th.tensor([[0.5, scale * c] for c in obs_stocks], dtype=th.float32)
    nxt = th.tensor([[0.25, scale * c] for c in next_stocks], dtype=th.float32)
    samples = model.replay_buffer.sample(n)
    return samples._replace(observations=obs, next_observations=nxt,
                            rewards=th.tensor(rewards, dtype=th.float32).view(-1, 1),
                            dones=th.zeros(n, 1) if dones is None else th.tensor(dones).float().view(-1, 1),
                            actions=th.zeros(n, 1, dtype=th.long))


def fill_buffer(model, steps=40):
    model.learn(steps)
    return model


# -- the target -------------------------------------------------------------------------------------
def test_target_uses_the_next_stock():
    model = fill_buffer(DEtaN("MlpPolicy", coin(), objective="target:2", seed=0,
                              **{**SMALL, "policy_kwargs": dict(n_quantiles=2, net_arch=[8])}))
    # action 0: G = 0 surely, action 1: G = 4 surely (independent of the input)
    constant_network(model.quantile_net_target, [[0.0, 4.0], [0.0, 4.0]])
    # stock c = -4 (want 4 more): action 1 is greedy there; next stock c' = 0 (target met): action 0
    batch = replay_batch(model, obs_stocks=[-4.0], next_stocks=[0.0], rewards=[0.0])
    target = model.target_quantiles(batch)
    assert target.tolist() == [[0.0, 0.0]]  # r + gamma * theta(s', c', a*=0); with c it would be 4
    # and the other way round: c' = -4 -> action 1 -> 4
    batch = replay_batch(model, obs_stocks=[0.0], next_stocks=[-4.0], rewards=[1.0])
    assert model.target_quantiles(batch).tolist() == [[5.0, 5.0]]
    # no bootstrap at termination
    batch = replay_batch(model, obs_stocks=[0.0], next_stocks=[-4.0], rewards=[1.0], dones=[True])
    assert model.target_quantiles(batch).tolist() == [[1.0, 1.0]]


def test_target_with_gamma_discounts_and_reads_next_stock():
    model = fill_buffer(DEtaN("MlpPolicy", coin(gamma=0.5, scale=1.0), objective="target:2", seed=0,
                              **{**SMALL, "policy_kwargs": dict(n_quantiles=2, net_arch=[8])}))
    assert model.gamma == 0.5  # taken from the StockAugmentation
    constant_network(model.quantile_net_target, [[0.0, 4.0], [0.0, 4.0]])
    batch = replay_batch(model, obs_stocks=[-3.0, 0.0], next_stocks=[-4.0, 0.0], rewards=[1.0, 1.0])
    assert model.target_quantiles(batch).tolist() == [[3.0, 3.0], [1.0, 1.0]]


@pytest.mark.parametrize("tie_break", ["random", "mean", "auto"])
def test_target_ties_follow_the_tie_rule(tie_break):
    model = fill_buffer(DEtaN("MlpPolicy", coin(), objective="prob:0", seed=0, tie_break=tie_break,
                              **{**SMALL, "policy_kwargs": dict(n_quantiles=2, net_arch=[8])}))
    # both actions reach 0 from stock 0 (both score 1); action 1's quantiles (2, 3) have the larger mean
    constant_network(model.quantile_net_target, [[1.0, 2.0], [1.0, 3.0]])
    batch = replay_batch(model, obs_stocks=[0.0] * 400, next_stocks=[0.0] * 400, rewards=[0.0] * 400)
    picked = model.target_quantiles(batch)[:, 1]
    if tie_break == "random":
        assert set(picked.tolist()) == {1.0, 3.0}
        assert 0.4 < (picked == 3.0).float().mean().item() < 0.6
    else:
        assert picked.tolist() == [3.0] * 400


def test_expectation_agent_matches_qrdqn():
    kwargs = dict(SMALL, seed=3, gamma=1.0)
    detan = DEtaN("MlpPolicy", coin(), objective="mean", **kwargs)
    qrdqn = QRDQN("MlpPolicy", coin(), **kwargs)
    qrdqn.policy.load_state_dict(detan.policy.state_dict())
    obs = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32) * 3
    a_detan, _ = detan.predict(obs, deterministic=True)
    a_qrdqn, _ = qrdqn.predict(obs, deterministic=True)
    assert len(set(a_qrdqn.tolist())) == 2  # the comparison is not trivial
    np.testing.assert_array_equal(a_detan, a_qrdqn)
    # one identical gradient step from identical replay data
    detan.learn(60)
    qrdqn.policy.load_state_dict(detan.policy.state_dict())
    qrdqn.replay_buffer = detan.replay_buffer
    qrdqn._logger = detan.logger
    for model in (detan, qrdqn):
        model.policy.optimizer = th.optim.Adam(model.quantile_net.parameters(), lr=1e-3)
        np.random.seed(7)
        model.train(gradient_steps=3, batch_size=16)
    theirs = qrdqn.policy.state_dict()
    for name, p in detan.policy.state_dict().items():
        assert th.equal(p, theirs[name]), name


# -- relabelling --------------------------------------------------------------------------------------
@pytest.mark.parametrize("flatten", [True, False])
def test_relabelled_transitions_satisfy_the_stock_recursion(flatten):
    env = coin(gamma=0.9, flatten=flatten, scale=0.25)
    policy = "MlpPolicy" if flatten else "MultiInputPolicy"
    model = fill_buffer(DEtaN(policy, env, objective="target:2", seed=0, relabel_stocks=1.0,
                              stock_range=(-10.0, 5.0), **SMALL), steps=200)
    loc = model.stock_layout
    th.manual_seed(0)
    batch = model.replay_buffer.sample(512)
    relabelled = model.relabel(batch)
    c, c_next = loc.read(relabelled.observations), loc.read(relabelled.next_observations)
    r = relabelled.rewards.view(-1)
    assert th.allclose(c_next, (c + r) / 0.9, rtol=1e-6, atol=1e-6)
    assert c.min() >= -10.0 and c.max() <= 5.0 and c.std() > 3.0  # fresh draws over the range
    assert not th.allclose(c, loc.read(batch.observations))
    # the rest of the transition is untouched
    assert th.equal(relabelled.rewards, batch.rewards) and th.equal(relabelled.actions, batch.actions)
    if flatten:
        assert th.equal(relabelled.observations[:, :-1], batch.observations[:, :-1])
    else:
        assert th.equal(relabelled.observations["observation"], batch.observations["observation"])


def test_partial_relabelling_keeps_the_other_transitions():
    env = coin(initial_stock=ChoiceStock([-3.0, -1.0]))
    model = fill_buffer(DEtaN("MlpPolicy", env, objective="target:2", seed=0, relabel_stocks=True, **SMALL),
                        steps=200)
    assert model.relabel_stocks == 0.5 and model.stock_range == StockRange(-3.0, -1.0, integer=True)
    loc = model.stock_layout
    batch = model.replay_buffer.sample(2000)
    out = model.relabel(batch)
    changed = loc.read(out.observations) != loc.read(batch.observations)
    kept = ~changed
    assert 0.25 < changed.float().mean().item() < 0.5  # half redrawn, some redraws equal the original
    assert th.equal(loc.read(out.next_observations)[kept], loc.read(batch.next_observations)[kept])
    c = loc.read(out.observations)
    assert th.equal(c, th.round(c)) and set(c.tolist()) <= {-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0}
    assert th.allclose(loc.read(out.next_observations)[changed], (c + out.rewards.view(-1))[changed])


def test_relabelling_needs_a_range():
    with pytest.raises(ValueError, match="relabel_stocks needs a range"):
        DEtaN("MlpPolicy", coin(initial_stock=-2.0), objective="target:2", relabel_stocks=True, **SMALL)


# -- SB3 compatibility ------------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    model = DEtaN("MlpPolicy", coin(), objective="target:3", relabel_stocks=0.25, seed=1, **SMALL)
    model.learn(150)
    path = tmp_path / "detan.zip"
    model.save(path)
    loaded = DEtaN.load(path)
    assert loaded.objective == TargetReturn(3.0) and loaded.relabel_stocks == 0.25
    assert loaded.stock_layout == model.stock_layout and loaded.stock_layout.scale == 0.5
    assert loaded.stock_range == StockRange(-4.0, 0.0, integer=True)
    assert loaded.gamma == 1.0 and str(loaded.policy.scorer.objective) == "target:3"
    assert loaded.policy.scorer is loaded.scorer  # one owner of what the agent acts on
    obs = np.random.default_rng(1).uniform(-2, 2, size=(300, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0],
                                  loaded.predict(obs, deterministic=True)[0])
    # with the env, and continuing to learn
    loaded = DEtaN.load(path, env=coin())
    loaded.learn(30)
    with pytest.raises(ValueError, match="stock_scale"):
        DEtaN.load(path, env=coin(scale=2.0))


def test_predict_shapes_and_stochastic_predictions():
    env = coin(flatten=False)
    model = DEtaN("MultiInputPolicy", env, objective="prob:2", seed=0, **SMALL)
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs, deterministic=True)
    assert action.shape == () and state is None and env.action_space.contains(int(action))
    model.exploration_rate = 1.0
    actions = {int(model.predict(obs, deterministic=False)[0]) for _ in range(60)}
    assert actions == {0, 1}


def test_four_envs_learn_and_predict():
    vec = make_vec_env(CoinEnv, n_envs=4, seed=0, wrapper_class=StockAugmentation,
                       wrapper_kwargs=dict(gamma=1.0, initial_stock=UniformStock(-4, 0), flatten=True))
    model = DEtaN("MlpPolicy", vec, objective="target:2", relabel_stocks=True, **SMALL)
    assert model.n_envs == 4 and model.stock_range == StockRange(-4.0, 0.0)
    model.learn(400)
    assert model.num_timesteps >= 400 and model.replay_buffer.n_envs == 4
    actions, _ = model.predict(vec.reset(), deterministic=True)
    assert actions.shape == (4,)
    mean, _ = evaluate_policy(model, vec, n_eval_episodes=4)
    assert 0.0 <= mean <= 4.0


def test_multi_input_policy_on_a_dict_env():
    env = StockAugmentation(DictCoinEnv(), gamma=1.0, initial_stock=UniformStock(-4, 0))
    assert set(env.observation_space.spaces) == {"time", "noise", "stock"}
    model = DEtaN("MultiInputPolicy", env, objective="cvar:0.5", seed=0, **SMALL)
    model.learn(100)
    obs, _ = env.reset(seed=0)
    c0, value = model.choose_initial_stock(obs)
    assert -4.0 <= c0 <= 0.0 and np.isfinite(value)


class Subsample(gym.ObservationWrapper):
    """Grayscale Atari frame (210, 160) -> (42, 40, 1) by striding (no OpenCV needed)."""

    def __init__(self, env):
        super().__init__(env)
        self.observation_space = spaces.Box(0, 255, (42, 40, 1), np.uint8)

    def observation(self, obs):
        return np.ascontiguousarray(obs[::5, ::4, None])


def test_cnn_policy_with_a_stock_on_atari():
    ale_py = pytest.importorskip("ale_py")
    gym.register_envs(ale_py)
    atari = Subsample(gym.make("ALE/Breakout-v5", obs_type="grayscale", repeat_action_probability=0.0))
    env = StockAugmentation(atari, gamma=0.99, initial_stock=UniformStock(-5, 0), stock_scale=0.2)
    model = DEtaN("CnnPolicy", env, objective="target:1", buffer_size=500, learning_starts=100,
                  batch_size=8, train_freq=4, seed=0, policy_kwargs=dict(n_quantiles=8))
    assert type(model.policy).__name__ == "CnnPolicy"
    assert "NatureCNN" in repr(model.policy.quantile_net.features_extractor)
    model.learn(300)
    assert model.num_timesteps == 300 and model._n_updates > 0
    obs, _ = env.reset(seed=0)
    assert env.action_space.contains(int(model.predict(obs, deterministic=True)[0]))
    assert model.stock_layout.key == "stock"
    c0, value = model.choose_initial_stock(obs)
    assert c0 == -1.0 and np.isfinite(value)


class CountingCallback(BaseCallback):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def _on_step(self):
        self.calls += 1
        return True


def test_callbacks_logging_and_progress_bar(tmp_path):
    model = DEtaN("MlpPolicy", coin(), objective="target:2", seed=0, **SMALL)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    callback = CountingCallback()
    model.learn(200, callback=callback, log_interval=1, progress_bar=True)
    assert callback.calls == 200
    with open(os.path.join(tmp_path, "progress.csv")) as fh:
        rows = list(csv.DictReader(fh))
    estimates = [float(r["rollout/objective_estimate"]) for r in rows if r.get("rollout/objective_estimate")]
    assert len(estimates) > 10 and all(np.isfinite(estimates))
    assert {r["rollout/initial_stock"] for r in rows if r.get("rollout/initial_stock")} == {"-2.0"}


def test_tensorboard_logging(tmp_path):
    pytest.importorskip("tensorboard")
    model = DEtaN("MlpPolicy", coin(), objective="target:2", tensorboard_log=str(tmp_path), **SMALL)
    model.learn(100, log_interval=1)
    assert any("events.out.tfevents" in f for _, _, files in os.walk(tmp_path) for f in files)


def test_seeding_is_reproducible():
    def run():
        model = DEtaN("MlpPolicy", coin(), objective="prob:2", relabel_stocks=0.5, seed=5, **SMALL)
        model.learn(200)
        return th.cat([p.detach().flatten() for p in model.policy.parameters()])

    first, second = run(), run()
    assert th.equal(first, second)


def test_evaluate_objective_fixed_stock():
    env = coin()
    model = DEtaN("MlpPolicy", env, objective="target:3", seed=0, **SMALL)
    report = evaluate_objective(model, env, n_episodes=12, seed=0)
    assert report.initial_stocks.tolist() == [-3.0] * 12
    assert report.returns.shape == (12,) and set(report.returns.tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert report.value == pytest.approx(np.mean(np.abs(report.returns - 3.0)))
    assert report.ci[0] <= report.value <= report.ci[1]
    assert np.all(np.isfinite(report.estimated_values)) and (report.episode_lengths == 4).all()


def test_cvar_initial_stock_search_and_evaluation():
    env = coin()
    model = DEtaN("MlpPolicy", env, objective="cvar:0.5", seed=0, **{**SMALL, "policy_kwargs":
                                                                    dict(n_quantiles=4, net_arch=[8])})
    # whatever the stock: action 0 -> G in {1, 2, 3, 4} equally likely; action 1 -> G = 2 surely
    constant_network(model.quantile_net, [[1.0, 2.0], [2.0, 2.0], [3.0, 2.0], [4.0, 2.0]])
    obs, _ = env.reset(seed=0)
    # -c + max_a E[min(c + G, 0)] / 0.5 over the integers -4..0 is maximized at c = -2 (value 2)
    c0, value = model.choose_initial_stock(obs)
    assert (c0, value) == (-2.0, pytest.approx(2.0))
    c0, value = model.choose_initial_stock(obs, stock_candidates=[-1.0, -4.0])
    assert c0 == -1.0 and value == pytest.approx(1.0)
    report = evaluate_objective(model, env, n_episodes=5, seed=0)
    assert report.initial_stocks.tolist() == [-2.0] * 5
    assert report.estimated_values == pytest.approx([2.0] * 5)


def test_naive_mode_runs_without_a_stock():
    model = DEtaN("MlpPolicy", CoinEnv(), objective="cvar:0.2", naive=True, seed=0, **SMALL)
    assert model.naive and model.stock_layout is None and model.gamma == 0.99
    model.learn(100)
    report = evaluate_objective(model, CoinEnv(), n_episodes=3, seed=0)
    assert np.isnan(report.initial_stocks).all() and report.returns.shape == (3,)


# -- errors ---------------------------------------------------------------------------------------------
def test_error_non_discrete_actions():
    env = StockAugmentation(gym.make("Pendulum-v1"), flatten=True)
    with pytest.raises(ValueError, match="Discrete action space"):
        DEtaN("MlpPolicy", env, objective="mean")


def test_error_env_without_stock():
    with pytest.raises(ValueError, match=r"rdo_gym.StockAugmentation\(env"):
        DEtaN("MlpPolicy", CoinEnv(), objective="target:2")


def test_error_objective_invalid_for_gamma():
    band = ExpectedUtility(lambda x: -(x - 1.0) ** 2, name="band", homogeneous=False)
    with pytest.raises(ValueError, match="not indifferent to gamma"):
        DEtaN("MlpPolicy", coin(gamma=0.9), objective=band)
    DEtaN("MlpPolicy", coin(gamma=1.0), objective=band, **SMALL)  # fine undiscounted
    DEtaN("MlpPolicy", coin(gamma=0.9), objective="cvar:0.1", **SMALL)  # min(x, 0) is homogeneous


def test_error_gamma_mismatch_names_both():
    with pytest.raises(ValueError, match=r"gamma=0.99 differs .* gamma=1.0"):
        DEtaN("MlpPolicy", coin(gamma=1.0), objective="target:2", gamma=0.99)


def test_the_stock_position_comes_from_the_wrapper_only():
    # where the stock sits is the wrapper's to say: DEtaN has no argument to re-specify it
    with pytest.raises(TypeError, match="stock_key"):
        DEtaN("MultiInputPolicy", coin(flatten=False), objective="target:2", stock_key="budget")
    with pytest.raises(TypeError, match="stock_index"):
        DEtaN("MlpPolicy", coin(), objective="target:2", stock_index=0)
    assert DEtaN("MlpPolicy", coin(), objective="target:2", **SMALL).stock_layout.index == 1


def test_set_env_and_load_refuse_another_stock_layout(tmp_path):
    model = DEtaN("MlpPolicy", coin(scale=0.5), objective="target:2", **SMALL)
    with pytest.raises(ValueError, match="stock_scale=1.0 there, stock_scale=0.5 for the model"):
        model.set_env(coin(scale=1.0))
    model.save(tmp_path / "m.zip")
    with pytest.raises(ValueError, match="stock_scale=1.0 there"):
        DEtaN.load(tmp_path / "m.zip", env=coin(scale=1.0))
    with pytest.raises(ValueError, match="stock_scale=1.0 there"):
        evaluate_objective(model, coin(scale=1.0), n_episodes=2)


def test_set_objective_replaces_the_one_scorer():
    model = DEtaN("MlpPolicy", coin(), objective="target:2", **SMALL)
    model.set_objective("target:3")
    assert model.objective == TargetReturn(3.0) and model.policy.scorer is model.scorer


def test_models_saved_with_the_old_objective_attribute_are_refused(tmp_path):
    model = DEtaN("MlpPolicy", coin(), objective="target:2", **SMALL)
    model.__dict__["objective"] = TargetReturn(2.0)  # what rdo 0.1 saved
    model.save(tmp_path / "old.zip")
    with pytest.raises(ValueError, match="saved by rdo 0.1"):
        DEtaN.load(tmp_path / "old.zip")


def test_error_vecnormalize_and_policy_mismatch():
    vec = VecNormalize(DummyVecEnv([coin]))
    with pytest.raises(ValueError, match="VecNormalize"):
        DEtaN("MlpPolicy", vec, objective="target:2")
    with pytest.raises(ValueError, match="MultiInputPolicy"):
        DEtaN("MlpPolicy", coin(flatten=False), objective="target:2")
    with pytest.raises(ValueError, match="CnnPolicy needs the Dict observation"):
        DEtaN("CnnPolicy", coin(flatten=True), objective="target:2")


def test_subprocess_vec_env_reads_stock_settings():
    vec = make_vec_env(CoinEnv, n_envs=2, seed=0, vec_env_cls=SubprocVecEnv, wrapper_class=StockAugmentation,
                       wrapper_kwargs=dict(gamma=1.0, initial_stock=UniformStock(-4, 0), flatten=True,
                                           stock_scale=0.5))
    try:
        model = DEtaN("MlpPolicy", vec, objective="target:2", relabel_stocks=True, **SMALL)
        assert (model.stock_layout.scale, model.stock_range, model.gamma) == (0.5, StockRange(-4.0, 0.0), 1.0)
        model.learn(60)
    finally:
        vec.close()


def test_n_step_relabelling_uses_the_n_step_discount():
    model = fill_buffer(DEtaN("MlpPolicy", coin(gamma=0.9), objective="target:2", relabel_stocks=1.0,
                              n_steps=3, **SMALL), steps=200)
    batch = model.replay_buffer.sample(256)
    assert batch.discounts is not None and (batch.discounts < 0.9).any()
    out = model.relabel(batch)
    loc = model.stock_layout
    c, c_next = loc.read(out.observations), loc.read(out.next_observations)
    assert th.allclose(c_next, (c + out.rewards.view(-1)) / out.discounts.view(-1), rtol=1e-5, atol=1e-5)


def test_policy_save_load_standalone(tmp_path):
    model = DEtaN("MlpPolicy", coin(), objective="target:2", seed=0, **SMALL)  # no ties: deterministic
    model.policy.save(tmp_path / "policy.pt")
    policy = DEtaNPolicy.load(tmp_path / "policy.pt")
    assert str(policy.scorer.objective) == "target:2" and policy.scorer.layout == model.stock_layout
    obs = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0],
                                  model.policy.predict(obs, deterministic=True)[0])


def test_set_env_checks_the_stock():
    model = DEtaN("MlpPolicy", coin(), objective="target:2", **SMALL)
    model.set_env(coin())
    with pytest.raises(ValueError, match=r"gamma=1.0 differs .* gamma=0.5"):
        model.set_env(coin(gamma=0.5))
    with pytest.raises(ValueError, match="stock_scale"):
        model.set_env(coin(scale=3.0))


def test_an_initial_stock_on_the_edge_of_the_searched_range_is_announced_once():
    import warnings

    model = DEtaN("MlpPolicy", coin(), objective="cvar:0.5", seed=0, **SMALL)  # stock range -4..0
    obs, _ = coin().reset(seed=0)
    constant_network(model.quantile_net, [[2.0] * 2] * 8)  # G = 2 for sure: c0* = -2, inside
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert model.choose_initial_stock(obs)[0] == -2.0
        constant_network(model.quantile_net, [[10.0] * 2] * 8)  # c0* = -10, outside: the edge -4
        assert model.choose_initial_stock(obs)[0] == -4.0
        model.choose_initial_stock(obs)
    edge = [str(w.message) for w in caught if "at the edge of the searched range" in str(w.message)]
    assert len(edge) == 1 and "c0=-4" in edge[0] and "[-4, 0]" in edge[0]


def test_tie_break_is_a_detan_argument_kept_by_save_load_and_set_objective(tmp_path):
    model = DEtaN("MlpPolicy", coin(), objective="prob:2", tie_break="mean", **SMALL)
    assert model.scorer.tie_break == "mean"
    model.set_objective("prob:1")
    assert model.scorer.tie_break == "mean" and model.policy.scorer is model.scorer
    model.save(tmp_path / "m.zip")
    assert DEtaN.load(tmp_path / "m.zip").scorer.tie_break == "mean"
    with pytest.raises(ValueError, match="tie_break must be one of"):
        DEtaN("MlpPolicy", coin(), objective="prob:2", tie_break="lowest")


def test_auto_tie_break_follows_the_objective_through_set_objective_and_save_load(tmp_path):
    model = DEtaN("MlpPolicy", coin(), objective="prob:2", **SMALL)  # the default: "auto"
    assert model.scorer.tie_break == "auto" and model.scorer.tie_rule == "mean"
    model.set_objective("cvar:0.5")  # min(x, 0) is not flat: uniform ties
    assert model.scorer.tie_break == "auto" and model.scorer.tie_rule == "random"
    model.set_objective("prob:1")
    model.save(tmp_path / "m.zip")
    loaded = DEtaN.load(tmp_path / "m.zip")
    assert loaded.scorer.tie_break == "auto" and loaded.scorer.tie_rule == "mean"


def test_training_logs_do_not_warn_about_the_edge_of_the_stock_range(tmp_path):
    import warnings

    from stable_baselines3.common.logger import configure

    model = DEtaN("MlpPolicy", coin(), objective="cvar:0.5", seed=0, **SMALL)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    constant_network(model.quantile_net, [[10.0] * 2] * 8)  # c0* = -10 lies below the range -4..0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.learn(40, log_interval=1)
    assert not [w for w in caught if "edge of the searched range" in str(w.message)]


def test_a_small_network_on_several_cpu_threads_gets_a_one_time_hint(monkeypatch):
    import warnings

    import rdo_sb3.detan as detan_module

    monkeypatch.setattr(detan_module, "_THREAD_HINT_GIVEN", [False])
    threads = th.get_num_threads()
    th.set_num_threads(2)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            DEtaN("MlpPolicy", coin(), objective="target:2", **SMALL)
            DEtaN("MlpPolicy", coin(), objective="target:2", **SMALL)
    finally:
        th.set_num_threads(threads)
    hints = [w for w in caught if "torch.set_num_threads(1)" in str(w.message)]
    assert len(hints) == 1 and "torch runs on 2 CPU threads" in str(hints[0].message)
    with warnings.catch_warnings(record=True) as caught:  # one thread: no hint
        warnings.simplefilter("always")
        monkeypatch.setattr(detan_module, "_THREAD_HINT_GIVEN", [False])
        DEtaN("MlpPolicy", coin(), objective="target:2", **SMALL)
    assert not [w for w in caught if "set_num_threads" in str(w.message)]
