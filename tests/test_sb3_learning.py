"""DηN learning test (slow): reach several asked returns with one stock-conditioned agent."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from rdo_gym import StockAugmentation, TargetReturn, UniformStock
from rdo_sb3 import DEtaN, evaluate_objective


class CoinEnv(gym.Env):
    """``horizon`` steps; action 1 pays 1, action 0 pays 0. Observation: time left / horizon.

    Every return in {0, ..., horizon} is reachable, and only a stock-aware policy can hit a target:
    the right action depends on how much has been collected so far (the stock)."""

    def __init__(self, horizon: int = 5):
        self.horizon = horizon
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def _obs(self):
        return np.array([(self.horizon - self.t) / self.horizon], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(action), self.t >= self.horizon, False, {}


@pytest.mark.slow
def test_detan_reaches_several_target_returns():
    threads = th.get_num_threads()
    th.set_num_threads(1)
    try:
        env = StockAugmentation(CoinEnv(5), gamma=1.0, initial_stock=UniformStock(-5, 0, integer=True),
                                flatten=True, stock_scale=0.2)
        model = DEtaN("MlpPolicy", env, objective="target:3", learning_rate=1e-3, buffer_size=20_000,
                      learning_starts=500, batch_size=64, train_freq=1, target_update_interval=500,
                      exploration_fraction=0.3, relabel_stocks=0.5, seed=0,
                      policy_kwargs=dict(n_quantiles=16, net_arch=[64, 64]))
        model.learn(15_000)
        for target in (1.0, 2.0, 4.0):
            model.set_objective(TargetReturn(target))
            report = evaluate_objective(model, env, n_episodes=10, seed=1)
            assert (report.initial_stocks == -target).all()
            assert report.value <= 0.25, (target, report.returns)  # E|G - target|
            assert np.mean(report.returns) == pytest.approx(target, abs=0.25)
    finally:
        th.set_num_threads(threads)
