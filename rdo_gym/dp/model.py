"""A finite MDP with finite-support rewards, the input of :mod:`rdo_gym.dp`.

Each (state, action) has up to ``M`` outcomes ``(prob, next_state, reward, terminated)``, stored as
padded arrays of shape ``(S, A, M)`` (padding has probability 0). A reward distribution is several
outcomes with the same next state. ``terminated`` ends the episode after the reward is received.
With ``horizon=H`` every episode also ends after ``H`` steps (the horizon belongs to the problem:
optimal stock-augmented policies then depend on the time left).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TabularMDP"]

_ATOL = 1e-9


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """Finite MDP: outcome arrays ``prob``, ``next_state``, ``reward``, ``terminated`` (S, A, M).

    ``initial`` is the initial-state distribution (S,). ``horizon`` (optional) is a fixed number of
    steps after which the episode ends. Validated on construction (probabilities non-negative and
    summing to 1 per (state, action), indices in range, rewards finite).
    """

    prob: np.ndarray
    next_state: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    initial: np.ndarray
    horizon: int | None = None

    def __post_init__(self) -> None:
        prob = np.asarray(self.prob, dtype=np.float64)
        if prob.ndim != 3:
            raise ValueError(f"prob must have shape (states, actions, outcomes), got {prob.shape}")
        shape = prob.shape
        arrays = {
            "prob": prob,
            "next_state": np.broadcast_to(np.asarray(self.next_state, dtype=np.int64), shape),
            "reward": np.broadcast_to(np.asarray(self.reward, dtype=np.float64), shape),
            "terminated": np.broadcast_to(np.asarray(self.terminated, dtype=bool), shape),
            "initial": np.asarray(self.initial, dtype=np.float64),
        }
        for name, value in arrays.items():
            value = np.ascontiguousarray(value)
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        S = shape[0]
        if np.any(prob < 0) or not np.all(np.isfinite(prob)):
            s, a, _ = np.argwhere((prob < 0) | ~np.isfinite(prob))[0]
            raise ValueError(f"prob must be finite and non-negative; state {s}, action {a} has "
                             f"{prob[s, a].tolist()}")
        sums = prob.sum(-1)
        bad = np.abs(sums - 1.0) > 1e-6
        if np.any(bad):
            s, a = np.argwhere(bad)[0]
            raise ValueError(f"outcome probabilities must sum to 1 for every (state, action); "
                             f"state {s}, action {a} sums to {sums[s, a]:.6g}")
        if np.any((self.next_state < 0) | (self.next_state >= S)):
            raise ValueError(f"next_state must lie in [0, {S}), got values outside")
        if not np.all(np.isfinite(self.reward)):
            raise ValueError("rewards must be finite")
        init = self.initial
        if init.shape != (S,) or np.any(init < 0) or abs(init.sum() - 1.0) > 1e-6:
            raise ValueError(f"initial must be a probability vector of length {S}, got {init.tolist()}")
        if self.horizon is not None and (int(self.horizon) != self.horizon or self.horizon < 1):
            raise ValueError(f"horizon must be a positive integer or None, got {self.horizon!r}")

    # -- sizes --------------------------------------------------------------------------------------
    @property
    def n_states(self) -> int:
        return self.prob.shape[0]

    @property
    def n_actions(self) -> int:
        return self.prob.shape[1]

    @property
    def n_outcomes(self) -> int:
        return self.prob.shape[2]

    def is_integer_reward(self) -> bool:
        """True if every reward with positive probability is an integer (a lattice return)."""
        r = self.reward[self.prob > 0]
        return bool(np.all(r == np.round(r)))

    def with_horizon(self, horizon: int | None) -> TabularMDP:
        """The same MDP with another horizon."""
        return TabularMDP(self.prob, self.next_state, self.reward, self.terminated, self.initial, horizon)

    # -- constructors -------------------------------------------------------------------------------
    @classmethod
    def from_outcomes(cls, outcomes: Mapping[int, Mapping[int, Sequence[Sequence[Any]]]]
                      | Sequence[Sequence[Sequence[Sequence[Any]]]],
                      initial: Sequence[float] | np.ndarray, horizon: int | None = None) -> TabularMDP:
        """From ``outcomes[s][a] = [(prob, next_state, reward, terminated), ...]``.

        This is the layout of Gymnasium's toy-text ``P`` tables. Outcomes with the same
        ``(next_state, reward, terminated)`` are merged.
        """
        n_states = len(outcomes)
        n_actions = len(outcomes[0])
        merged: list[list[dict[tuple[int, float, bool], float]]] = []
        for s in range(n_states):
            if len(outcomes[s]) != n_actions:
                raise ValueError(f"state {s} has {len(outcomes[s])} actions, expected {n_actions}")
            row = []
            for a in range(n_actions):
                table: dict[tuple[int, float, bool], float] = {}
                for outcome in outcomes[s][a]:
                    p, s2, r, done = outcome[:4]
                    key = (int(s2), float(r), bool(done))
                    table[key] = table.get(key, 0.0) + float(p)
                row.append(table)
            merged.append(row)
        m = max(1, max(len(t) for row in merged for t in row))
        shape = (n_states, n_actions, m)
        prob, nxt = np.zeros(shape), np.zeros(shape, dtype=np.int64)
        rew, term = np.zeros(shape), np.zeros(shape, dtype=bool)
        for s, row in enumerate(merged):
            for a, table in enumerate(row):
                if not table:
                    raise ValueError(f"state {s}, action {a} has no outcomes")
                for k, ((s2, r, done), p) in enumerate(table.items()):
                    prob[s, a, k], nxt[s, a, k], rew[s, a, k], term[s, a, k] = p, s2, r, done
                for k in range(len(table), m):  # padding: a zero-probability self-loop
                    nxt[s, a, k] = s
        return cls(prob, nxt, rew, term, np.asarray(initial, dtype=np.float64), horizon)

    @classmethod
    def from_gymnasium(cls, env: Any, horizon: int | None = None) -> TabularMDP:
        """From a Gymnasium toy-text env (FrozenLake, Taxi, CliffWalking...) exposing ``P``.

        The initial distribution is read from ``initial_state_distrib`` (or ``start_state_index``).
        """
        base = getattr(env, "unwrapped", env)
        if not hasattr(base, "P"):
            raise ValueError(f"{base} has no transition table 'P'; build a TabularMDP from arrays instead")
        if hasattr(base, "initial_state_distrib"):
            initial = np.asarray(base.initial_state_distrib, dtype=np.float64)
        elif hasattr(base, "start_state_index"):
            initial = np.zeros(len(base.P))
            initial[base.start_state_index] = 1.0
        else:
            raise ValueError(f"{base} exposes no initial-state distribution")
        return cls.from_outcomes(base.P, initial / initial.sum(), horizon)
