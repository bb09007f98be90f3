"""Tiny Gymnasium envs shared by the tests (imported as ``toy_envs``: pytest puts tests/ on the path)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class RandomLength(gym.Env):
    """Reward 1 per step, episodes of 1 to 5 steps drawn from ``np_random``; observation = steps."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self):
        self.observation_space = spaces.Box(0, 10, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.length = 0, int(self.np_random.integers(1, 6))
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], dtype=np.float32), 1.0, self.t >= self.length, False, {}


class CoinEnv(gym.Env):
    """``horizon`` steps; action 1 pays 1, action 0 pays 0. Observation: time left / horizon.

    Every return in {0, ..., horizon} is reachable, and only a stock-aware policy can hit a target:
    the right action depends on how much has been collected so far (the stock)."""

    def __init__(self, horizon: int = 4):
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


class ScriptedRewards(gym.Env):
    """Pays ``rewards`` in order and terminates after the last one; observation = step index."""

    metadata = {"render_modes": []}

    def __init__(self, rewards=(1.0,)):
        self.rewards = list(rewards)
        self.observation_space = spaces.Box(0, np.inf, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        reward = self.rewards[self.t]
        self.t += 1
        return np.array([self.t], dtype=np.float32), reward, self.t >= len(self.rewards), False, {}
