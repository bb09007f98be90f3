"""A finite MDP with finite-support rewards, the input of [`rdo_gym.dp`][rdo_gym.dp].

Each (state, action) has up to `M` outcomes `(prob, next_state, reward, terminated)`, stored as
padded arrays of shape `(S, A, M)` (padding has probability 0). A reward distribution is several
outcomes with the same next state. `terminated` ends the episode after the reward is received.
With `horizon=H` every episode also ends after `H` steps (the horizon belongs to the problem:
optimal stock-augmented policies then depend on the time left).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TabularMDP"]

@dataclass(frozen=True, eq=False)
class TabularMDP:
    """Finite MDP: outcome arrays `prob`, `next_state`, `reward`, `terminated` (S, A, M).

    Validated on construction; a bad argument raises `TypeError` (wrong kind of value) or
    `ValueError` (wrong value) naming it, the offending entry and what is accepted.

    Args:
        prob: outcome probabilities `(S, A, M)`, finite, non-negative, summing to 1 for every
            (state, action); at least one state, action and outcome.
        next_state: integer state indices in `[0, S)` (integer-valued floats are accepted),
            broadcastable to `prob`'s shape.
        reward: finite rewards, broadcastable to `prob`'s shape.
        terminated: booleans (or 0/1), broadcastable to `prob`'s shape.
        initial: the initial-state distribution `(S,)`: finite, non-negative, summing to 1.
        horizon: a positive `int` number of steps after which the episode ends, or `None`.
    """

    prob: np.ndarray
    next_state: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    initial: np.ndarray
    horizon: int | None = None

    def __post_init__(self) -> None:
        prob = _numbers("prob", self.prob)
        if prob.ndim != 3 or 0 in prob.shape:
            raise ValueError(f"prob must have shape (states, actions, outcomes), each at least 1, got {prob.shape}")
        shape = prob.shape
        arrays = {
            "prob": prob,
            "next_state": _broadcast("next_state", _indices("next_state", self.next_state), shape),
            "reward": _broadcast("reward", _numbers("reward", self.reward), shape),
            "terminated": _broadcast("terminated", _booleans("terminated", self.terminated), shape),
            "initial": _numbers("initial", self.initial),
        }
        for name, value in arrays.items():
            value = np.ascontiguousarray(value)
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "horizon", _horizon(self.horizon))
        S = shape[0]
        bad = (prob < 0) | ~np.isfinite(prob)
        if np.any(bad):
            s, a, _ = np.argwhere(bad)[0]
            raise ValueError(f"prob must be finite and non-negative; state {s}, action {a} has "
                             f"{prob[s, a].tolist()}")
        sums = prob.sum(-1)
        bad = np.abs(sums - 1.0) > 1e-6
        if np.any(bad):
            s, a = np.argwhere(bad)[0]
            raise ValueError(f"outcome probabilities must sum to 1 for every (state, action); "
                             f"state {s}, action {a} sums to {sums[s, a]:.6g}")
        bad = (self.next_state < 0) | (self.next_state >= S)
        if np.any(bad):
            s, a, m = np.argwhere(bad)[0]
            raise ValueError(f"next_state must lie in [0, {S}) (the states); state {s}, action {a}, "
                             f"outcome {m} has next_state {self.next_state[s, a, m]}")
        bad = ~np.isfinite(self.reward)
        if np.any(bad):
            s, a, m = np.argwhere(bad)[0]
            raise ValueError(f"rewards must be finite (also on outcomes of probability 0); state {s}, "
                             f"action {a}, outcome {m} has reward {float(self.reward[s, a, m])!r}")
        init = self.initial
        if init.shape != (S,):
            raise ValueError(f"initial must be a probability vector over the {S} states, got shape {init.shape}")
        bad = ~np.isfinite(init) | (init < 0)
        if np.any(bad):
            s = int(np.flatnonzero(bad)[0])
            raise ValueError(f"initial must be finite and non-negative (a probability vector); state {s} "
                             f"has {float(init[s])!r}")
        if abs(init.sum() - 1.0) > 1e-6:
            raise ValueError(f"initial must sum to 1 (a probability vector), got a sum of {init.sum():.6g}")

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

    def return_range(self) -> tuple[float, float] | None:
        """The smallest and largest return `G` that some policy reaches with positive probability
        from an initial state (`None` without a horizon).

        Examples:
            >>> mdp = TabularMDP.from_outcomes({0: {0: [(0.5, 0, 1.0, True), (0.5, 0, -2.0, True)],
            ...                                     1: [(1.0, 0, 3.0, True)]}}, initial=[1.0], horizon=1)
            >>> mdp.return_range()
            (-2.0, 3.0)
        """
        if self.horizon is None:
            return None
        shape = self.prob.shape  # (S, A, M)
        reward, nxt, term = (np.broadcast_to(x, shape) for x in (self.reward, self.next_state, self.terminated))
        possible = self.prob > 0
        lo, hi = np.zeros(shape[0]), np.zeros(shape[0])
        for _ in range(int(self.horizon)):
            lo_next = np.where(term, 0.0, lo[nxt]) + reward
            hi_next = np.where(term, 0.0, hi[nxt]) + reward
            lo = np.where(possible, lo_next, np.inf).min(axis=(1, 2))
            hi = np.where(possible, hi_next, -np.inf).max(axis=(1, 2))
        start = self.initial > 0
        return float(lo[start].min()), float(hi[start].max())

    def with_horizon(self, horizon: int | None) -> TabularMDP:
        """The same MDP with another horizon."""
        return TabularMDP(self.prob, self.next_state, self.reward, self.terminated, self.initial, horizon)

    # -- constructors -------------------------------------------------------------------------------
    @classmethod
    def from_outcomes(cls, outcomes: Mapping[int, Mapping[int, Sequence[Sequence[Any]]]]
                      | Sequence[Sequence[Sequence[Sequence[Any]]]],
                      initial: Sequence[float] | np.ndarray, horizon: int | None = None) -> TabularMDP:
        """From `outcomes[s][a] = [(prob, next_state, reward, terminated), ...]`.

        This is the layout of Gymnasium's toy-text `P` tables. Outcomes with the same
        `(next_state, reward, terminated)` are merged.
        """
        n_states = len(outcomes)
        if n_states == 0:
            raise ValueError("outcomes must describe at least one state, got none")
        n_actions = len(_entry(outcomes, 0, "outcomes"))
        merged: list[list[dict[tuple[int, float, bool], float]]] = []
        for s in range(n_states):
            actions = _entry(outcomes, s, "outcomes")
            if len(actions) != n_actions:
                raise ValueError(f"state {s} has {len(actions)} actions, expected {n_actions}")
            row = []
            for a in range(n_actions):
                table: dict[tuple[int, float, bool], float] = {}
                for outcome in _entry(actions, a, f"outcomes[{s}]"):
                    p, key = _outcome(s, a, outcome)
                    table[key] = table.get(key, 0.0) + p
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
        """From a Gymnasium toy-text env (FrozenLake, Taxi, CliffWalking...) exposing `P`.

        The initial distribution is read from `initial_state_distrib` (or `start_state_index`).
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


# -- validation of the constructor's arguments ------------------------------------------------------
def _array(name: str, value: Any, kinds: str, accepted: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nested sequences
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__} ({err})") from None
    if arr.dtype.kind not in kinds:
        raise TypeError(f"{name} must be {accepted}, got an array of dtype {arr.dtype}: {_show(arr)}")
    return arr


def _at(name: str, where: tuple[int, ...]) -> str:
    return f"{name}{list(where)}" if where else name


def _show(arr: np.ndarray) -> str:
    text = repr(arr.tolist()) if arr.size <= 8 else f"shape {arr.shape}, e.g. {arr.reshape(-1)[0]!r}"
    return text if len(text) <= 200 else text[:200] + "..."


def _numbers(name: str, value: Any) -> np.ndarray:
    return _array(name, value, "biuf", "an array of real numbers").astype(np.float64)


def _indices(name: str, value: Any) -> np.ndarray:
    arr = _array(name, value, "iuf", "an array of integer state indices")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if np.any(bad):
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} must hold integer state indices; {_at(name, where)} is "
                             f"{arr[where].item()!r}, not an integer")
    return arr.astype(np.int64)


def _booleans(name: str, value: Any) -> np.ndarray:
    arr = _array(name, value, "biuf", "an array of booleans (or 0/1)")
    if arr.dtype.kind != "b":
        bad = (arr != 0) & (arr != 1)
        if np.any(bad):
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} must hold booleans (or 0/1); {_at(name, where)} is {arr[where].item()!r}")
    return arr.astype(bool)


def _broadcast(name: str, arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(f"{name} has shape {arr.shape}, which does not broadcast to prob's shape {shape} "
                         "(states, actions, outcomes)") from None


def _horizon(horizon: Any) -> int | None:
    if horizon is None:
        return None
    if isinstance(horizon, (bool, np.bool_)) or not isinstance(horizon, numbers.Integral):
        raise TypeError(f"horizon must be a positive int (a number of steps) or None, got {horizon!r} "
                        f"({type(horizon).__name__})")
    if horizon < 1:
        raise ValueError(f"horizon must be a positive int (a number of steps) or None, got {horizon!r}")
    return int(horizon)


def _entry(table: Any, i: int, name: str) -> Any:
    try:
        return table[i]
    except (KeyError, IndexError):
        raise ValueError(f"{name} must have the entries 0 .. {len(table) - 1} (states or actions), "
                         f"{i} is missing") from None


def _outcome(s: int, a: int, outcome: Any) -> tuple[float, tuple[int, float, bool]]:
    """`(prob, (next_state, reward, terminated))` of one toy-text outcome tuple, validated."""
    where = f"outcomes[{s}][{a}]"
    try:
        p, s2, r, done = outcome[:4]
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a list of (prob, next_state, reward, terminated) tuples, got "
                         f"{outcome!r}") from None
    integral = isinstance(s2, numbers.Integral) or (isinstance(s2, numbers.Real) and float(s2).is_integer())
    if isinstance(s2, (bool, np.bool_)) or not integral:
        raise ValueError(f"{where}: next_state must be an integer state index, got {s2!r}")
    if not isinstance(done, (bool, np.bool_)) and not (isinstance(done, numbers.Real) and done in (0, 1)):
        raise ValueError(f"{where}: terminated must be a bool (or 0/1), got {done!r}")
    for name, x in (("prob", p), ("reward", r)):
        if not isinstance(x, numbers.Real):
            raise TypeError(f"{where}: {name} must be a real number, got {x!r}")
    return float(p), (int(s2), float(r), bool(done))
