"""TerminalObjectiveReward: f(c0 + G) at the end, truncation, errors, vector envs, SB3, pickling."""

from __future__ import annotations

import pickle
import warnings

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import RecordEpisodeStatistics, TimeLimit
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.env_util import make_vec_env
from toy_envs import RandomLength, ScriptedRewards

from rdo_gym import (
    ChoiceStock,
    ExpectedUtility,
    StockAugmentation,
    TerminalObjectiveReward,
    UniformStock,
    make_objective,
)


class DictObservation(gym.Env):
    """Dict observation (Discrete + Box), rewards -1/0/+1, 4-step episodes."""

    def __init__(self):
        self.observation_space = spaces.Dict({"cell": spaces.Discrete(5),
                                              "velocity": spaces.Box(-1, 1, (2,), np.float32)})
        self.action_space = spaces.Discrete(3)

    def _obs(self):
        return {"cell": int(self.np_random.integers(5)),
                "velocity": self.np_random.uniform(-1, 1, 2).astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(action) - 1.0, self.t >= 4, False, {}


gym.register("rdo_test/TerminalRandomLength-v0", entry_point=RandomLength, max_episode_steps=50)

# Utilities written out independently of rdo_gym, on x = c0 + G.
CLOSED_FORMS = {
    "mean": lambda x: x,
    "target:3": lambda x: -abs(x),
    "prob:3": lambda x: float(x >= 0),
    "cvar:0.25": lambda x: min(x, 0.0),
    "homeostasis:1:2": lambda x: -abs(x),
}


def play(env, steps):
    env.reset(seed=0)
    return [env.step(0) for _ in range(steps)]


# ------------------------------------------------------------------------------------------------
# The reward signal.


@pytest.mark.parametrize("spec", list(CLOSED_FORMS))
@pytest.mark.parametrize("c0", [None, -6.0, -2.0])
def test_pays_utility_of_c0_plus_discounted_return_at_the_end(spec, c0):
    # gamma = 0.5, rewards 2, 4, 8: G = 2 + 2 + 2 = 6, while the final stock C_T = (c0 + 6) / 0.125.
    objective = make_objective(spec)
    start = c0 if c0 is not None else objective.initial_stock if objective.initial_stock is not None else 0.0
    base = StockAugmentation(ScriptedRewards([2.0, 4.0, 8.0]), gamma=0.5, initial_stock=start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deliberate stock/objective mismatches
        env = TerminalObjectiveReward(base, spec)
    steps = play(env, 3)
    rewards = [s[1] for s in steps]
    assert rewards[:2] == [0.0, 0.0]
    assert rewards[2] == pytest.approx(CLOSED_FORMS[spec](start + 6.0))
    assert [s[4]["original_reward"] for s in steps] == [2.0, 4.0, 8.0]
    assert "terminal_reward" not in steps[0][4] and steps[2][4]["terminal_reward"] == rewards[2]


def test_sign_and_offset_of_the_target():
    # target:6 from c0 = -6 with G = 6 hits the target exactly: reward 0. A c0 of +6 or the raw
    # final stock would give -12 or -48.
    env = TerminalObjectiveReward(StockAugmentation(ScriptedRewards([2.0, 4.0, 8.0]), gamma=0.5,
                                                    initial_stock=-6.0), "target:6")
    assert play(env, 3)[-1][1] == 0.0
    prob = TerminalObjectiveReward(StockAugmentation(ScriptedRewards([2.0, 4.0, 8.0]), gamma=0.5,
                                                     initial_stock=-6.0), "prob:6")
    assert play(prob, 3)[-1][1] == 1.0  # G >= 6 includes G == 6


@pytest.mark.parametrize("on_truncation, expected", [("pay", -2.0), ("zero", 0.0)])
def test_truncation_is_an_explicit_choice(on_truncation, expected):
    inner = TimeLimit(ScriptedRewards([1.0] * 10), max_episode_steps=3)
    env = TerminalObjectiveReward(StockAugmentation(inner, gamma=1.0, initial_stock=-5.0), "target:5",
                                  on_truncation=on_truncation)
    steps = play(env, 3)
    assert steps[-1][3] is True and steps[-1][2] is False
    assert [s[1] for s in steps] == [0.0, 0.0, expected]
    assert ("terminal_reward" in steps[-1][4]) == (on_truncation == "pay")


# ------------------------------------------------------------------------------------------------
# Errors and warnings.


def test_refuses_an_env_without_a_stock_and_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"needs a stock beneath it.*StockAugmentation\(env"):
        TerminalObjectiveReward(gym.make("CartPole-v1"), "cvar:0.1")


def test_finds_the_stock_through_other_wrappers():
    stock = StockAugmentation(ScriptedRewards([1.0, 1.0]), initial_stock=-1.0)
    env = TerminalObjectiveReward(RecordEpisodeStatistics(stock), "prob:1")
    assert play(env, 2)[-1][1] == 1.0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"objective": "cvar:0"}, ValueError, "alpha"),
    ({"objective": "median"}, ValueError, "unknown objective"),
    ({"objective": 0.1}, TypeError, "string spec"),
    ({"objective": "mean", "on_truncation": "bootstrap"}, ValueError, r"on_truncation.*pay.*zero"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        TerminalObjectiveReward(StockAugmentation(gym.make("CartPole-v1")), **kwargs)


def test_non_homogeneous_utility_needs_gamma_one():
    objective = ExpectedUtility(np.exp, name="exp")
    with pytest.raises(ValueError, match="gamma=0.9"):
        TerminalObjectiveReward(StockAugmentation(gym.make("CartPole-v1"), gamma=0.9), objective)
    TerminalObjectiveReward(StockAugmentation(gym.make("CartPole-v1"), gamma=1.0), objective)


def test_non_finite_terminal_reward_raises():
    objective = ExpectedUtility(np.log, name="log")
    env = TerminalObjectiveReward(StockAugmentation(ScriptedRewards([-1.0]), initial_stock=0.0), objective)
    env.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="must be finite"):
            env.step(0)


def warnings_of(make):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make()
    return [str(w.message) for w in caught if "prescribes the initial stock" in str(w.message)]


def test_warns_when_a_fixed_initial_stock_contradicts_the_objective():
    def build(spec, c0):
        return lambda: TerminalObjectiveReward(
            StockAugmentation(gym.make("CartPole-v1"), initial_stock=c0), spec)

    assert len(warnings_of(build("target:5", 0.0))) == 1
    assert warnings_of(build("target:5", -5.0)) == []
    assert warnings_of(build("target:5", UniformStock(-6, -4))) == []
    assert warnings_of(build("mean", 3.0)) == []
    assert warnings_of(build("cvar:0.1", 3.0)) == []


# ------------------------------------------------------------------------------------------------
# Checkers, vector envs, SB3.


@pytest.mark.parametrize("make", [
    lambda: gym.make("CartPole-v1"), lambda: gym.make("FrozenLake-v1"), lambda: gym.make("Taxi-v4"),
    lambda: gym.make("Blackjack-v1"), DictObservation,
], ids=["CartPole", "FrozenLake", "Taxi", "Blackjack", "Dict"])
def test_checkers_pass(make):
    env = TerminalObjectiveReward(StockAugmentation(make(), gamma=1.0, initial_stock=ChoiceStock([-1, 0, 1])),
                                  "cvar:0.2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_pays_each_sub_env_its_own_terminal_reward(mode):
    def wrap(env):
        return TerminalObjectiveReward(StockAugmentation(env, gamma=1.0, initial_stock=ChoiceStock([0, 100])),
                                       "mean")

    envs = gym.make_vec("rdo_test/TerminalRandomLength-v0", num_envs=3, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": mode}, wrappers=[wrap])
    envs.reset(seed=1)
    paid, autoreset = [], np.zeros(3, dtype=bool)
    for _ in range(60):
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        done = terminated | truncated
        for i in range(3):
            if autoreset[i]:  # NEXT_STEP: this step only reset sub-env i
                assert reward[i] == 0.0
            elif done[i]:
                if mode == AutoresetMode.SAME_STEP:
                    length = info["final_obs"][i]["observation"][0]
                    c0 = info["final_info"]["initial_stock"][i]
                else:
                    length, c0 = obs["observation"][i, 0], info["initial_stock"][i]
                assert reward[i] == c0 + length  # mean: f(c0 + G) with G = episode length
                paid.append(c0)
            else:
                assert reward[i] == 0.0
        autoreset = done if mode == AutoresetMode.NEXT_STEP else np.zeros(3, dtype=bool)
    assert len(paid) >= 20 and set(paid) == {0.0, 100.0}
    envs.close()


class CheckTerminalRewards(BaseCallback):
    """Recomputes f(c0 + G) from the original rewards in ``info`` and compares with the reward."""

    def __init__(self, utility, gamma):
        super().__init__()
        self.utility, self.gamma = utility, gamma
        self.checked = 0
        self.mismatches: list[tuple[float, float]] = []

    def _on_training_start(self):
        self.partial = np.zeros(self.training_env.num_envs)
        self.discount = np.ones(self.training_env.num_envs)

    def _on_step(self) -> bool:
        rewards, dones, infos = self.locals["rewards"], self.locals["dones"], self.locals["infos"]
        for i, info in enumerate(infos):
            self.partial[i] += self.discount[i] * info["original_reward"]
            self.discount[i] *= self.gamma
            expected = self.utility(info["initial_stock"] + self.partial[i]) if dones[i] else 0.0
            if not np.isclose(rewards[i], expected, rtol=1e-5, atol=1e-5):
                self.mismatches.append((float(rewards[i]), expected))
            if dones[i]:
                self.checked += 1
                self.partial[i], self.discount[i] = 0.0, 1.0
        return True


@pytest.fixture
def one_torch_thread():
    # SB3 on a loaded 2-core machine is several times faster with one intra-op thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("algorithm", ["PPO", "DQN"])
def test_short_sb3_run_sees_exactly_the_terminal_utility(algorithm, one_torch_thread):
    gamma = 0.95

    def wrap(env):
        stock = StockAugmentation(env, gamma=gamma, initial_stock=UniformStock(-15, -5), flatten=True)
        return TerminalObjectiveReward(stock, "target:10")

    vec = make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=wrap)
    callback = CheckTerminalRewards(lambda x: -abs(x), gamma)
    if algorithm == "PPO":
        model = PPO("MlpPolicy", vec, n_steps=256, batch_size=128, n_epochs=2, gamma=1.0, seed=0,
                    device="cpu")
    else:
        model = DQN("MlpPolicy", vec, learning_starts=256, train_freq=4, gamma=1.0, seed=0, device="cpu")
    model.learn(total_timesteps=2048, callback=callback)
    assert model.num_timesteps >= 2048
    assert callback.checked >= 50
    assert callback.mismatches == []


# ------------------------------------------------------------------------------------------------
# Re-creation and pickling.


def rollout(env, steps=60):
    """(reward, info) of ``steps`` steps from reset(seed=2), resetting after each episode."""
    env.reset(seed=2)
    out = []
    for i in range(steps):
        _, reward, terminated, truncated, info = env.step(i % 2)
        out.append((reward, {k: v for k, v in info.items() if k != "episode"}))
        if terminated or truncated:
            env.reset()
    return out


@pytest.mark.parametrize("objective", ["cvar:0.1", make_objective("target:2.5")], ids=str)
def test_recreate_from_spec_and_pickle(objective):
    env = TerminalObjectiveReward(
        StockAugmentation(gym.make("CartPole-v1"), gamma=0.9, initial_stock=UniformStock(-3, -2)),
        objective, on_truncation="zero")
    assert env.spec.additional_wrappers[-1].kwargs == {"objective": objective, "on_truncation": "zero"}
    reference = rollout(env)
    assert sum("terminal_reward" in info for _, info in reference) >= 2
    copies = [gym.make(env.spec), pickle.loads(pickle.dumps(env)), cloudpickle.loads(cloudpickle.dumps(env))]
    for copy in copies:
        assert copy.objective == make_objective(objective) and copy.on_truncation == "zero"
        assert rollout(copy) == reference


def test_lambda_utility_survives_cloudpickle_and_spec_recreation():
    objective = ExpectedUtility(lambda x: -(x * x), name="neg_sq", initial_stock=-1.0)
    stock = StockAugmentation(ScriptedRewards([1.0, 2.0]), initial_stock=-1.0)
    env = TerminalObjectiveReward(stock, objective)
    for copy in [cloudpickle.loads(cloudpickle.dumps(env)), env]:
        assert play(copy, 2)[-1][1] == -4.0


def test_threshold_reached_exactly_despite_float_rounding():
    env = TerminalObjectiveReward(StockAugmentation(ScriptedRewards([0.3, 0.3, 0.3]), initial_stock=-0.9), "prob:0.9")
    env.reset(seed=0)
    paid = [env.step(0)[1] for _ in range(3)]
    assert paid == [0.0, 0.0, 1.0]
