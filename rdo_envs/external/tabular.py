"""The fixed-horizon, time-left, one-hot wrapper shared by the external toy-text envs.

[`HorizonEnv`][rdo_envs.external.tabular.HorizonEnv] turns a Gymnasium toy-text env whose tabular state is known (an
integer index
into its exact [`TabularMDP`][rdo_gym.dp.model.TabularMDP]) into the convention of the `rdo/` benchmarks:

* gamma = 1 and a fixed horizon `H` (the env's `TimeLimit` by default): the episode ends with
  `terminated=True` when the env terminates or after `H` steps (never `truncated`), so that
  SB3 does not bootstrap past the horizon;
* the observation is a flat float32 Box `[features of the state..., time left / H]` (one-hot of
  the state for the `P`-table envs), ready for `StockAugmentation(flatten=True)` and DηN's
  `MlpPolicy`;
* `info["state"]` is the tabular state of the model and `info["t"]` the steps taken, so that a
  DP policy `policy.action(info["state"], stock, info["t"])` can be rolled out in the real env,
  and [`HorizonEnv.observation_at`][rdo_envs.external.tabular.HorizonEnv.observation_at] gives the observation of any
  `(state, t)` (for the exact evaluation of a learned policy).

The model ([`HorizonEnv.model`][rdo_envs.external.tabular.HorizonEnv.model]) carries the same horizon, so the state of
the DP, `(state, steps taken)`, is exactly what the agent observes (the stock aside, which
`StockAugmentation` adds).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rdo_gym.dp.model import TabularMDP

__all__ = ["HorizonEnv", "PTableEnv"]


class HorizonEnv(gym.Env):
    """Base class: a wrapped toy-text env with a fixed horizon and the time left in the observation.

    Subclasses implement `_state` (the tabular state of the wrapped env now),
    `_features` (the observation of a tabular state, without the time) and `_build_model`.

    Args:
        env: The toy-text env (its `unwrapped` is used: its own `TimeLimit` is replaced by the horizon).
        horizon: The number of steps after which the episode ends, or `None` for none (only for
            envs whose episodes end by themselves, such as Blackjack; the time is then not observed).
        n_features: The length of `_features`.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, env: gym.Env, horizon: int | None, n_features: int):
        if horizon is not None and (int(horizon) != horizon or horizon < 1):
            raise ValueError(f"horizon must be a positive integer or None, got horizon={horizon!r}")
        self.env = env.unwrapped
        self.horizon = None if horizon is None else int(horizon)
        self.action_space = self.env.action_space
        size = n_features + (0 if self.horizon is None else 1)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self.render_mode = getattr(self.env, "render_mode", None)
        self._t = 0
        self._done = True
        self._model: TabularMDP | None = None

    # -- to implement ----------------------------------------------------------------------------
    def _state(self) -> int:
        """The tabular state (index into [`model`][rdo_envs.external.tabular.HorizonEnv.model]) of the wrapped env
        now."""
        raise NotImplementedError

    def _features(self, state: int) -> np.ndarray:
        """The observation of a tabular state, without the time left (float32)."""
        raise NotImplementedError

    def _build_model(self) -> TabularMDP:
        """The exact model, with `horizon`."""
        raise NotImplementedError

    def _on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Hook after the wrapped env's reset (e.g. to track extra observable history)."""

    def _on_step(self, state: int, obs: Any, terminated: bool, info: dict[str, Any]) -> None:
        """Hook after the wrapped env's step from tabular `state` (`terminated` as the wrapped env says)."""

    # -- the model ----------------------------------------------------------------------------------
    @property
    def model(self) -> TabularMDP:
        """The exact [`TabularMDP`][rdo_gym.dp.model.TabularMDP] of this env (with its horizon), built once."""
        if self._model is None:
            self._model = self._build_model()
        return self._model

    def observation_at(self, state: int, t: int) -> np.ndarray:
        """The observation this env gives in tabular `state` after `t` steps.

        Args:
            state: A tabular state of [`model`][rdo_envs.external.tabular.HorizonEnv.model].
            t: The steps taken, `0 <= t <= horizon`.
        """
        feats = self._features(int(state))
        if self.horizon is None:
            return feats
        if not 0 <= t <= self.horizon:
            raise ValueError(f"need 0 <= t <= {self.horizon}, got t={t}")
        return np.append(feats, np.float32((self.horizon - t) / self.horizon)).astype(np.float32)

    # -- gymnasium API ------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the wrapped env; `info` gains `"state"` and `"t"`."""
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=seed, options=options)
        self._t, self._done = 0, False
        self._on_reset(obs, info)
        info = dict(info)
        info["state"], info["t"] = self._state(), 0
        return self.observation_at(info["state"], 0), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One step of the wrapped env; `terminated` also at the horizon, never `truncated`."""
        if self._done:
            raise RuntimeError(f"{type(self).__name__}.step() called after the episode ended; call reset() first")
        state = self._state()
        obs, reward, terminated, _, info = self.env.step(int(action))
        self._t += 1
        self._on_step(state, obs, bool(terminated), info)
        terminated = bool(terminated or (self.horizon is not None and self._t >= self.horizon))
        self._done = terminated
        info = dict(info)
        info["state"], info["t"] = self._state(), self._t
        t = self._t if self.horizon is None else min(self._t, self.horizon)
        return self.observation_at(info["state"], t), float(reward), terminated, False, info

    def render(self) -> Any:
        """The wrapped env's rendering."""
        return self.env.render()

    def close(self) -> None:
        """Close the wrapped env."""
        self.env.close()


class PTableEnv(HorizonEnv):
    """A toy-text env with a transition table `P` (FrozenLake, CliffWalking, Taxi), one-hot observed.

    The tabular state is the env's own integer state; the observation is
    `[one-hot of the state (n_states), time left / horizon]`; the model is
    `TabularMDP.from_gymnasium(env, horizon)`.

    Args:
        env: The toy-text env.
        horizon: The horizon (a positive integer).
    """

    def __init__(self, env: gym.Env, horizon: int):
        if horizon is None:
            raise ValueError("a P-table env needs a horizon (its episodes need not end by themselves)")
        base = env.unwrapped
        self.n_states = len(base.P)
        super().__init__(env, horizon, self.n_states)

    def _state(self) -> int:
        return int(self.env.s)

    def _features(self, state: int) -> np.ndarray:
        if not 0 <= state < self.n_states:
            raise ValueError(f"need 0 <= state < {self.n_states}, got {state}")
        out = np.zeros(self.n_states, dtype=np.float32)
        out[state] = 1.0
        return out

    def _build_model(self) -> TabularMDP:
        return TabularMDP.from_gymnasium(self.env, horizon=self.horizon)
