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


class RiskDial(gym.Env):
    """One continuous decision: an action ``a`` in [-1, 1] sets ``u = (a + 1) / 2`` and pays
    ``R = u + Z * k * u**2`` with ``Z = -1`` or ``+1`` equally likely (``k = 2``), after ``lead`` steps
    that pay 0 whatever the action. Observation: the steps left.

    The mean ``E[R] = u`` is best at ``a = 1``; for ``alpha <= 0.5`` the lower tail is ``Z = -1``, so
    ``CVaR_alpha(R) = u - k u**2``, best at ``u = 1 / (2k)``, i.e. ``a = -0.5``, where it is ``1 / (4k) = 0.125``
    (``c0* = -VaR = -0.125``); at ``a = 1`` it is ``-1``. ``P(R >= 0.1) = 1`` exactly for ``u`` in
    [0.138, 0.362] (``a`` in [-0.72, -0.28]), 0.5 for larger ``u``.
    """

    K = 2.0
    CVAR_OPTIMAL_ACTION = -0.5
    CVAR_OPTIMUM = 0.125

    def __init__(self, lead: int = 0):
        self.lead = lead
        self.observation_space = spaces.Box(0.0, float(lead + 1), (1,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.t = 0

    @classmethod
    def atoms(cls, action):
        """The two equally likely returns ``(low, high)`` of ``action`` (numpy or torch)."""
        u = (action + 1.0) / 2.0
        return u - cls.K * u * u, u + cls.K * u * u

    def _obs(self):
        return np.array([self.lead + 1 - self.t], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        if self.t <= self.lead:
            return self._obs(), 0.0, False, False, {}
        low, high = self.atoms(float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0)))
        reward = high if self.np_random.random() < 0.5 else low
        return self._obs(), float(reward), True, False, {}
