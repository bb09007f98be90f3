"""Shared machinery of the `rdo/` benchmark envs: a small grid, a fixed horizon, exact models.

Every benchmark is a grid given by a list of strings (one character per cell, `#` is a wall).
The agent occupies one non-wall cell; the exact tabular state is the index of that cell in
row-major order among the non-wall cells (`info["state"]`), and `info["t"]` is the number of
steps taken. Actions move the agent one cell: 0 up, 1 right, 2 down, 3 left (and 4 stay, for envs
that have it); moving into a wall or off the grid leaves it in place.

Each subclass implements its stochastic dynamics twice, on purpose: `_simulate` samples
them with `self.np_random` (the simulator) and `_outcomes` enumerates them exactly (the
[`TabularMDP`][rdo_gym.dp.model.TabularMDP] model); `tests/test_envs.py` checks statistically that the two
agree. Only the deterministic geometry (`_move`) is shared.

Observation: a flat float32 vector `[one-hot of the cell (n_states), time left / horizon]`.
Episodes end with `terminated=True` when a terminal event happens or after `horizon` steps
(the horizon belongs to the problem). Rewards are integers (returned as floats) and `gamma = 1`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rdo_gym.dp.model import TabularMDP

__all__ = ["GridBenchmarkEnv", "MOVES"]

MOVES: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1), (0, 0))
"""(row, column) displacement of each action: up, right, down, left, stay."""

_WALL_COLOR = (40, 40, 40)
_FLOOR_COLOR = (235, 235, 235)
_AGENT_COLOR = (30, 90, 200)


class GridBenchmarkEnv(gym.Env):
    """Base class of the grid benchmarks (see the module docstring for the common API).

    Class attributes a subclass sets: `layout`, `n_actions`, `cell_colors` (char -> RGB),
    and the benchmark metadata `default_objectives` (objective spec strings),
    `reference_objectives` (those in the reference table, a superset), `gamma`,
    `training_stocks` (an integer `(low, high)` range of initial stocks for training),
    `stock_scale` (a suggested scale of the stock in the network input).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    layout: ClassVar[tuple[str, ...]] = ()
    n_actions: ClassVar[int] = 4
    cell_colors: ClassVar[dict[str, tuple[int, int, int]]] = {}
    default_objectives: ClassVar[tuple[str, ...]] = ()
    reference_objectives: ClassVar[tuple[str, ...]] = ()
    gamma: ClassVar[float] = 1.0
    training_stocks: ClassVar[tuple[int, int]] = (0, 0)
    stock_scale: ClassVar[float] = 0.1
    cell_pixels: ClassVar[int] = 24

    def __init__(self, horizon: int, render_mode: str | None = None):
        if int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got horizon={horizon!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, "
                             f"got render_mode={render_mode!r}")
        self.horizon = int(horizon)
        self.render_mode = render_mode
        rows = [list(row) for row in self.layout]
        if not rows or any(len(r) != len(rows[0]) for r in rows):
            raise ValueError(f"{type(self).__name__}.layout must be a non-empty rectangle of strings")
        self.grid = np.array(rows)
        self.cells: list[tuple[int, int]] = [(int(r), int(c)) for r, c in np.argwhere(self.grid != "#")]
        self.index = {cell: i for i, cell in enumerate(self.cells)}
        self.n_states = len(self.cells)
        starts = [i for i, (r, c) in enumerate(self.cells) if self.grid[r, c] == "S"]
        if len(starts) != 1:
            raise ValueError(f"{type(self).__name__}.layout needs exactly one start cell 'S'")
        self.start_state = starts[0]
        self.action_space = spaces.Discrete(self.n_actions)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.n_states + 1,), dtype=np.float32)
        self._state = self.start_state
        self._t = 0
        self._return = 0.0
        self._done = False
        self._model: TabularMDP | None = None

    # -- geometry (shared by simulator and model) -----------------------------------------------
    def char(self, state: int) -> str:
        """The layout character of a state (cell index)."""
        r, c = self.cells[state]
        return str(self.grid[r, c])

    def _move(self, state: int, action: int) -> int:
        """The cell reached from `state` by `action` (walls and borders block)."""
        r, c = self.cells[state]
        dr, dc = MOVES[action]
        return self.index.get((r + dr, c + dc), state)

    # -- to implement ----------------------------------------------------------------------------
    def _simulate(self, state: int, action: int) -> tuple[int, int, bool]:
        """Sample `(next_state, reward, terminated)` with `self.np_random` (the simulator)."""
        raise NotImplementedError

    def _outcomes(self, state: int, action: int) -> list[tuple[float, int, int, bool]]:
        """Exact `[(prob, next_state, reward, terminated), ...]` of one step (the model)."""
        raise NotImplementedError

    def _is_terminal_cell(self, state: int) -> bool:
        """Cells that end the episode when entered (never a decision state)."""
        return False

    def _extra_info(self) -> dict[str, Any]:
        return {}

    # -- exact model -------------------------------------------------------------------------------
    @property
    def model(self) -> TabularMDP:
        """The exact [`TabularMDP`][rdo_gym.dp.model.TabularMDP] of this env, built once (on first access)
        from the constructor's parameters, with the env's horizon."""
        if self._model is None:
            outcomes = []
            for s in range(self.n_states):
                if self._is_terminal_cell(s):  # unreachable as a decision state: absorbing dummy
                    outcomes.append([[(1.0, s, 0, True)] for _ in range(self.n_actions)])
                else:
                    outcomes.append([self._outcomes(s, a) for a in range(self.n_actions)])
            initial = np.zeros(self.n_states)
            initial[self.start_state] = 1.0
            self._model = TabularMDP.from_outcomes(outcomes, initial, horizon=self.horizon)
        return self._model

    # -- gymnasium API ------------------------------------------------------------------------------
    def observation_at(self, state: int, t: int) -> np.ndarray:
        """The observation the env gives in tabular `state` after `t` steps: one-hot cell and
        the fraction of the horizon left (so a policy can be evaluated exactly on
        [`model`][rdo_envs.gridworld.GridBenchmarkEnv.model])."""
        if not (0 <= state < self.n_states and 0 <= t <= self.horizon):
            raise ValueError(f"need 0 <= state < {self.n_states} and 0 <= t <= {self.horizon}, got {state}, {t}")
        obs = np.zeros(self.n_states + 1, dtype=np.float32)
        obs[state] = 1.0
        obs[-1] = (self.horizon - t) / self.horizon
        return obs

    def _observation(self) -> np.ndarray:
        return self.observation_at(self._state, self._t)

    def _info(self) -> dict[str, Any]:
        return {"state": self._state, "t": self._t, **self._extra_info()}

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode in the start cell `S` (`options` is unused)."""
        super().reset(seed=seed)
        self._state = self.start_state
        self._t = 0
        self._return = 0.0
        self._done = False
        return self._observation(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One move; `terminated` on a terminal event or at the horizon, never `truncated`."""
        if self._done:
            raise RuntimeError(f"{type(self).__name__}.step() called after the episode ended; "
                               "call reset() first")
        a = int(action) if np.ndim(action) == 0 else -1
        if a != action or not 0 <= a < self.n_actions:
            raise ValueError(f"action must be an integer in [0, {self.n_actions}), got {action!r}")
        nxt, reward, terminated = self._simulate(self._state, a)
        self._state = nxt
        self._t += 1
        self._return += reward
        terminated = bool(terminated or self._t >= self.horizon)
        self._done = terminated
        return self._observation(), float(reward), terminated, False, self._info()

    def _set_state(self, state: int, t: int = 0) -> None:
        """Put the agent in `state` after `t` steps (for tests and DP-policy checks)."""
        self._state, self._t, self._done = int(state), int(t), False

    # -- rendering -------------------------------------------------------------------------------
    def _status(self) -> str:
        return f"t={self._t}/{self.horizon} return={self._return:g}"

    def render(self) -> str | np.ndarray | None:
        """`"ansi"`: the grid as text (`A` = agent) and a status line; `"rgb_array"`: an
        `(rows * 24, cols * 24, 3)` uint8 image; `None` without a render mode."""
        if self.render_mode == "ansi":
            rows = []
            for r in range(self.grid.shape[0]):
                line = []
                for c in range(self.grid.shape[1]):
                    here = self.index.get((r, c)) == self._state
                    line.append("A" if here else str(self.grid[r, c]))
                rows.append(" ".join(line))
            return "\n".join(rows) + "\n" + self._status() + "\n"
        if self.render_mode == "rgb_array":
            k = self.cell_pixels
            h, w = self.grid.shape
            img = np.empty((h * k, w * k, 3), dtype=np.uint8)
            for r in range(h):
                for c in range(w):
                    ch = str(self.grid[r, c])
                    color = _WALL_COLOR if ch == "#" else self.cell_colors.get(ch, _FLOOR_COLOR)
                    img[r * k:(r + 1) * k, c * k:(c + 1) * k] = color
            img[::k, :] = 128  # grid lines
            img[:, ::k] = 128
            r, c = self.cells[self._state]
            m = k // 4
            img[r * k + m:(r + 1) * k - m, c * k + m:(c + 1) * k - m] = _AGENT_COLOR
            return img
        return None
