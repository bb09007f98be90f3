"""Taxi-v4 with `fickle_passenger=True`: the one toy-text env whose `P` table is not its whole law.

A fickle passenger changes destination (uniformly among the three others) with probability
`fickle_probability`, drawn at reset and hidden, on the first step on which the taxi moves with
the passenger aboard; after that step the passenger never changes their mind again. What the agent
can know is whether that step has happened: [`FickleTaxiEnv`][rdo_envs.external.taxi.FickleTaxiEnv] observes it as one
more bit (`carried`, a function of the observed history), and its exact model has the state
`(Taxi state, carried)`: before the first carried move the hidden draw is still fresh (probability
`fickle_probability`), after it there is no fickleness left. Observation:
`[one-hot of the Taxi state (500), carried, time left / horizon]`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rdo_envs.external.tabular import HorizonEnv
from rdo_gym.dp.model import TabularMDP

__all__ = ["FickleTaxiEnv"]

_IN_TAXI = 4


class FickleTaxiEnv(HorizonEnv):
    """`Taxi-v4(fickle_passenger=True)` with the `carried` bit observed and its exact model.

    Args:
        env: A `Taxi-v4` env with `fickle_passenger=True` (`is_rainy` may be set).
        horizon: The horizon.
    """

    def __init__(self, env: gym.Env, horizon: int):
        base = env.unwrapped
        if not base.fickle_passenger:
            raise ValueError("FickleTaxiEnv needs Taxi with fickle_passenger=True (else use PTableEnv)")
        self.n_taxi = len(base.P)
        self.n_states = 2 * self.n_taxi
        super().__init__(env, horizon, self.n_taxi + 1)
        self._carried = False

    def _on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        self._carried = False

    def _on_step(self, state: int, obs: Any, terminated: bool, info: dict[str, Any]) -> None:
        if not self._carried and self._moved_with_passenger(state % self.n_taxi, int(obs)):
            self._carried = True

    def _moved_with_passenger(self, s: int, s2: int) -> bool:
        row, col, passenger, _ = self.env.decode(s)
        row2, col2, _, _ = self.env.decode(s2)
        return passenger == _IN_TAXI and (row, col) != (row2, col2)

    def _state(self) -> int:
        return int(self.env.s) + self.n_taxi * int(self._carried)

    def _features(self, state: int) -> np.ndarray:
        if not 0 <= state < self.n_states:
            raise ValueError(f"need 0 <= state < {self.n_states}, got {state}")
        out = np.zeros(self.n_taxi + 1, dtype=np.float32)
        out[state % self.n_taxi] = 1.0
        out[-1] = state // self.n_taxi
        return out

    def _build_model(self) -> TabularMDP:
        env, n, q = self.env, self.n_taxi, float(self.env.fickle_probability)
        outcomes = []
        for carried in (0, 1):
            for s in range(n):
                row = []
                for a in range(env.action_space.n):
                    cell = []
                    for p, s2, r, done in env.P[s][a]:
                        if carried or not self._moved_with_passenger(s, s2):
                            cell.append((p, s2 + n * carried, r, done))
                            continue
                        row2, col2, passenger2, dest = env.decode(s2)
                        cell.append((p * (1 - q), s2 + n, r, done))
                        others = [d for d in range(len(env.locs)) if d != dest]
                        for d in others:
                            cell.append((p * q / len(others), env.encode(row2, col2, passenger2, d) + n, r, done))
                    row.append(cell)
                outcomes.append(row)
        initial = np.concatenate([np.asarray(env.initial_state_distrib, dtype=np.float64), np.zeros(n)])
        return TabularMDP.from_outcomes(outcomes, initial / initial.sum(), horizon=self.horizon)
