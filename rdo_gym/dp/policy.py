"""Deterministic tabular policies returned by [`rdo_gym.dp`][rdo_gym.dp].

Every policy answers `action(state, stock, t)` where `stock` is the current stock
`c0 + rewards so far` (gamma = 1) and `t` the number of steps taken so far. Policies that ignore
the stock or the time accept any value there.
"""

from __future__ import annotations

import numpy as np

from rdo_gym.dp.lattice import StockGrid

__all__ = ["TabularPolicy"]


class TabularPolicy:
    """A deterministic policy stored as a table of action indices.

    `table` has shape `(S,)` (stationary), `(H, S)` (time-dependent), `(S, K)`
    (stock-dependent) or `(H, S, K)` (stock- and time-dependent), where `K` indexes the stocks
    of `grid`. For stock-dependent tables, `valid_low` / `valid_high` (shape `(H or 1, S)`)
    bound the grid indices on which the table is exact; asking outside raises `ValueError` rather
    than returning an action computed from a clipped grid. `initial_stock` is the `c0` the
    policy was computed for (`None` if it does not use the stock).
    """

    def __init__(self, table: np.ndarray, *, time_dependent: bool, grid: StockGrid | None = None,
                 valid_low: np.ndarray | None = None, valid_high: np.ndarray | None = None,
                 initial_stock: float | None = None, name: str = "policy"):
        self.table = np.asarray(table)
        self.time_dependent = bool(time_dependent)
        self.grid = grid
        self.valid_low = valid_low
        self.valid_high = valid_high
        self.initial_stock = initial_stock
        self.name = name
        if self.table.dtype.kind not in "iu":
            raise TypeError(f"policy table must hold integer action indices, got an array of dtype {self.table.dtype}")
        if np.any(self.table < 0):
            raise ValueError(f"policy table must hold action indices >= 0, got {int(self.table.min())}")
        expected = 1 + int(self.time_dependent) + int(grid is not None)
        if self.table.ndim != expected:
            raise ValueError(f"policy table has {self.table.ndim} dimensions, expected {expected}")
        if grid is not None:
            rows = (self.table.shape[0] if self.time_dependent else 1, self.n_states)
            for label, bound in (("valid_low", valid_low), ("valid_high", valid_high)):
                if bound is None or np.shape(bound) != rows:
                    raise ValueError(f"a stock-dependent policy needs {label} of shape {rows} (the grid "
                                     f"indices solved exactly per (t, state)), got "
                                     f"{None if bound is None else np.shape(bound)}")

    @property
    def stock_dependent(self) -> bool:
        return self.grid is not None

    @property
    def horizon(self) -> int | None:
        return self.table.shape[0] if self.time_dependent else None

    @property
    def n_states(self) -> int:
        return self.table.shape[1 if self.time_dependent else 0]

    def action(self, state: int, stock: float = 0.0, t: int = 0) -> int:
        """The action at `state` with current `stock` after `t` steps."""
        return int(self.actions(np.array([state]), np.array([stock], dtype=np.float64), t)[0])

    def actions(self, states: np.ndarray, stocks: np.ndarray, t: int) -> np.ndarray:
        """Vectorized [`action`][rdo_gym.dp.policy.TabularPolicy.action] for arrays of states and stocks at one time
        `t`."""
        raw = np.asarray(states)
        if raw.dtype.kind not in "iuf" or (raw.dtype.kind == "f" and not np.all(raw == np.round(raw))):
            raise ValueError(f"{self.name}: states must be integer state indices, got {raw.tolist()!r:.200}")
        states = raw.astype(np.int64)
        if np.any((states < 0) | (states >= self.n_states)):
            raise ValueError(f"{self.name}: states must lie in [0, {self.n_states}), got {states}")
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)):
            raise TypeError(f"{self.name}: t must be an int (the number of steps taken), got {t!r}")
        table = self.table
        if self.time_dependent:
            if not 0 <= t < table.shape[0]:
                raise ValueError(f"{self.name}: t must lie in [0, {table.shape[0]}) (the horizon), got {t}")
            table = table[t]
        if self.grid is None:
            return table[states]
        k, ok = self.grid.index(stocks)
        row = t if self.time_dependent else 0
        ok &= (k >= self.valid_low[row, states]) & (k <= self.valid_high[row, states])
        if not np.all(ok):
            bad = int(np.argmin(ok))
            stock = float(np.broadcast_to(np.asarray(stocks, dtype=np.float64), ok.shape)[bad])
            if not np.isfinite(stock):
                raise ValueError(f"{self.name}: the stock must be a finite number (c0 + rewards so far), got "
                                 f"{stock!r} at state {int(states[bad])}, t={t}")
            g = self.grid
            lo, hi = int(self.valid_low[row, states[bad]]), int(self.valid_high[row, states[bad]])
            solved = (f"[{g.step * (g.base_units + g.offset + lo):g}, {g.step * (g.base_units + g.offset + hi):g}]"
                      if lo <= hi else "no stock")
            raise ValueError(
                f"{self.name}: stock {stock!r} at state "
                f"{int(states[bad])}, t={t} is outside the range the DP solved exactly ({solved} on "
                f"the lattice of step {g.step:g}); such a stock is not reachable from the initial "
                "stock(s) the policy was computed for")
        return table[states, k]

    def __repr__(self) -> str:
        kind = ("stock- and time-dependent" if self.stock_dependent and self.time_dependent else
                "stock-dependent" if self.stock_dependent else
                "time-dependent" if self.time_dependent else "stationary")
        return f"TabularPolicy({self.name}, {kind}, table shape {self.table.shape})"
