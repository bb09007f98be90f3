"""The optimal stock-augmented policy of a tabular MDP for any objective (exact, gamma = 1).

[`solve`][rdo_gym.dp.solver.solve] tabulates `U_t(s, c) = max_pi E[f(c + G_t)]` with `f = objective.utility`, i.e.
the objective applied to the stock-conditioned return distribution `eta_t(s, c)`:

    U_H(s, c) = f(c)
    U_t(s, c) = max_a  sum_outcomes p * ( f(c + r)  if terminated  else  U_{t+1}(s', c + r) )

Conventions (those of [`rdo_gym.dp.kernel`][rdo_gym.dp.kernel]): gamma = 1; the stock is `C_0 = c0`,
`C_{t+1} = C_t + R_{t+1}`, so it ends at `c0 + G`; rewards on a lattice `step * Z` make the DP
exact (categorical on `c0 + step * Z`); ties between actions go to the lowest action index
(without a horizon, first to the tied actions that can terminate soonest).

* With a horizon this is backward induction over `t = H-1 .. 0` (exact). Without a horizon it
  is value iteration (or policy iteration) on `(s, c)` to a tolerance of 1e-12, for MDPs whose
  returns are bounded (no reachable cycle with nonzero reward) and whose optimal policy
  terminates with probability 1.
* For searched-`c0` objectives (CVaR) the outer search `max_c0 value_from_utility(c0, U_0)`
  runs over every lattice stock in `[-max G, -min G]` (or the given `stocks`): this is exact,
  since the optimal `c0 = -VaR_alpha(G)` is an atom of `G`.
* The reported `value` and `return_distribution` come from propagating the law of
  `(state, stock)` forward under the returned policy (exact), and are cross-checked against the
  DP value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rdo_gym.dp.kernel import (
    DEFAULT_MAX_MEMORY,
    HORIZON_HINT,
    MAX_ITERATIONS,
    TIE_RTOL,
    TOLERANCE,
    Transitions,
    check_initial_stock,
    check_max_memory,
    check_memory,
    greedy,
    prepare,
    propagate,
    proper_greedy,
    return_bounds,
    return_law,
    utility_on,
    valid_ranges,
)
from rdo_gym.dp.lattice import LATTICE_RTOL, RewardLattice, StockGrid, base_units, lattice_units
from rdo_gym.dp.model import TabularMDP
from rdo_gym.dp.policy import TabularPolicy
from rdo_gym.objectives import Objective

__all__ = ["Solution", "solve", "DEFAULT_MAX_MEMORY", "estimate_solve_memory"]


@dataclass
class Solution:
    """Result of [`solve`][rdo_gym.dp.solver.solve].

    `value` is the optimal *reported* value (`objective.value` semantics, e.g. `CVaR_alpha(G)`
    or `E|G - target|`) of `policy` started at `initial_stock` from the initial-state
    distribution; `return_distribution = (atoms, probs)` is the exact law of the return `G`
    (without the stock) under it; `expected_utility` is `E[f(c0 + G)]`.
    `candidate_stocks` / `candidate_values` list the initial stocks considered and the reported
    value `objective.value_from_utility(c, U_0(c))` of each (one entry for a fixed `c0`).
    `truncated_mass` is the probability left unterminated by the forward pass (0 with a horizon).
    """

    value: float
    initial_stock: float
    policy: TabularPolicy
    return_distribution: tuple[np.ndarray, np.ndarray]
    expected_utility: float
    objective: Objective
    candidate_stocks: np.ndarray
    candidate_values: np.ndarray
    method: str
    iterations: int
    truncated_mass: float = 0.0
    grid: StockGrid | None = field(default=None, repr=False)


def estimate_solve_memory(S: int, A: int, M: int, K: int, H: int | None) -> float:
    """Bytes used by [`solve`][rdo_gym.dp.solver.solve] (index tables, Q, value rows, policy table, forward pass).

    Args:
        S: states.
        A: actions.
        M: outcomes per (state, action).
        K: stock cells.
        H: the horizon, or `None`.
    """
    idx_bytes = 4 if S * K < 2**31 else 8
    policy_rows = H if H is not None else 1
    return (A * M * S * K * idx_bytes + 2 * A * S * K * 8 + 4 * S * K * 8
            + policy_rows * S * K * (1 if A <= 127 else 2) + 6 * S * K * M * 8
            + 4 * (policy_rows + 1) * S * 8)


class Backup:
    """The one-step operator `Q[a] = sum_m p * (f(c + r) if terminal else V[s', c + r])`.

    Precomputes the terminal part and the gather indices ([`Transitions`][rdo_gym.dp.kernel.Transitions])
    once: they do not depend on t.

    Args:
        mdp: the model.
        units: the rewards in lattice units.
        grid: the stock grid.
        objective: the objective (its utility `f`).
    """

    def __init__(self, mdp: TabularMDP, units: np.ndarray, grid: StockGrid, objective: Objective):
        S, A, M = mdp.prob.shape
        self.transitions = Transitions(mdp, units, grid.size)
        self.terminal = np.zeros((A, S, grid.size))
        live = mdp.prob > 0
        for a in range(A):
            for m in range(M):
                pt = np.where(live[:, a, m] & mdp.terminated[:, a, m], mdp.prob[:, a, m], 0.0)
                if np.any(pt > 0):
                    rows = np.flatnonzero(pt)
                    stocks = grid.values(units[rows, a, m, None])
                    self.terminal[a, rows] += pt[rows, None] * utility_on(objective, stocks)

    def __call__(self, V: np.ndarray) -> np.ndarray:
        return self.transitions.accumulate(self.terminal.copy(), V)


def solve(mdp: TabularMDP, objective: Objective | str, *, initial_stock: float | None = None,
          stocks: Sequence[float] | np.ndarray | None = None, gamma: float = 1.0,
          method: str = "value_iteration", max_memory: float = DEFAULT_MAX_MEMORY) -> Solution:
    """Optimal stock-augmented policy of `mdp` for `objective` (exact, gamma = 1).

    `value` is always `objective.value` of the returned law of `G`; with a given
    `initial_stock` or restricted `stocks` for CVaR it is the true CVaR of the policy found
    (at least its `candidate_values` entry). Among equally good candidate stocks the lowest wins.

    Args:
        mdp: the model.
        objective: an [`Objective`][rdo_gym.objectives.Objective] or a spec string (`"cvar:0.1"`).
        initial_stock: the `c0` to start from; default: the objective's own `c0`, or for CVaR
            (whose `c0` is searched) the exact outer search over candidate stocks.
        stocks: candidate initial stocks for that search (lattice points); default: all lattice
            stocks in `[-max G, -min G]`, which contains the optimum.
        gamma: the discount; only 1 is exact.
        method: `"value_iteration"` (backward induction with a horizon) or `"policy_iteration"`.
        max_memory: the memory budget in bytes.

    Raises:
        ValueError: for an objective invalid at `gamma`, gamma < 1, non-lattice rewards,
            unbounded returns without a horizon, or an estimated memory above `max_memory`.
    """
    obj, lattice = prepare(mdp, objective, gamma)
    if method not in ("value_iteration", "policy_iteration"):
        raise ValueError(f"method must be 'value_iteration' or 'policy_iteration', got {method!r}")
    max_memory = check_max_memory(max_memory)
    c0, bu, cand = _initial_stocks(obj, initial_stock, stocks, lattice.step)
    lo, hi, grid, cand = _stock_grid(mdp, lattice, bu, cand, max_memory)
    valid_low, valid_high = valid_ranges(lo, hi, grid.size, mdp.horizon)
    table, V0, iterations = _backward_induction(mdp, obj, lattice.units, grid, method, valid_low, valid_high)
    best, c0, cand_values, rep, eu = _outer_search(mdp, obj, V0, cand, grid, c0)
    policy = TabularPolicy(table, time_dependent=mdp.horizon is not None, grid=grid, valid_low=valid_low,
                           valid_high=valid_high, initial_stock=c0,
                           name=f"optimal {obj} policy from c0={c0:g}")
    atoms, probs, value, eu0, left = _forward_law(mdp, obj, lattice.units, grid, table, int(cand[best]))
    _cross_check(obj, grid, eu0, float(eu[best]), value, float(rep[best]), left,
                 reported=initial_stock is None and stocks is None)
    return Solution(value=value, initial_stock=c0, policy=policy, return_distribution=(atoms, probs),
                    expected_utility=eu0, objective=obj, candidate_stocks=cand_values,
                    candidate_values=rep, method=method, iterations=iterations,
                    truncated_mass=left, grid=grid)


def _stock_grid(mdp: TabularMDP, lattice: RewardLattice, bu: float, cand: np.ndarray | None,
                max_memory: float) -> tuple[np.ndarray, np.ndarray, StockGrid, np.ndarray]:
    """The return bounds, the stock grid covering every candidate `c0` plus every reachable
    return, and the candidates (the default range once the bounds are known); the memory budget
    is checked before the bounds are built and as they widen."""
    S, A, M = mdp.prob.shape
    H = mdp.horizon

    def check_budget(spread: int, final: bool) -> None:
        # Candidate stocks span `spread` units too when they default to [-max G, -min G].
        K = (spread if cand is None else int(cand.max() - cand.min())) + spread + 1
        size = f"{S} states x {'' if final else '>= '}{K} stocks x {H if H is not None else 'no'} horizon x {A} actions"
        check_memory(estimate_solve_memory(S, A, M, K, H), f"solve ({size})", max_memory, final=final)

    lo, hi = return_bounds(mdp, lattice, on_spread=check_budget)
    start = mdp.initial > 0
    g_lo, g_hi = int(lo[-1, start].min()), int(hi[-1, start].max())
    if cand is None:
        cand = np.arange(-g_hi, -g_lo + 1, dtype=np.int64)
    offset = int(cand.min()) + g_lo
    size = int(cand.max()) + g_hi - offset + 1
    return lo, hi, StockGrid(base_units=bu, step=lattice.step, offset=offset, size=size), cand


def _forward_law(mdp: TabularMDP, obj: Objective, units: np.ndarray, grid: StockGrid, table: np.ndarray,
                 c0_units: int) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """The exact law of `G` under the policy `table` from `c0`: `(atoms, probs, value, E[f], truncated mass)`."""
    H = mdp.horizon
    time_table = table if H is not None else table[None]
    start = c0_units - grid.offset
    final, left = propagate(mdp, units, grid.size, start,
                            lambda t, s, k: time_table[t if H is not None else 0, s, k],
                            who=f"the optimal {obj} policy found without a horizon")
    atoms, probs, value, eu = return_law(final, start, grid.values(), grid.step, obj)
    return atoms, probs, value, eu, left


def _cross_check(obj: Objective, grid: StockGrid, eu_forward: float, eu_dp: float, value: float,
                 value_dp: float, left: float, reported: bool) -> None:
    """`RuntimeError` if the forward pass disagrees with the DP (`E[f]`, and the reported value
    when `reported`: not for a given `c0` or restricted candidates, where it may be higher)."""
    scale = 1.0 + float(np.abs(utility_on(obj, grid.values())).max())
    tol = 1e-7 * scale + 2 * left * scale
    if abs(eu_forward - eu_dp) > tol:
        raise RuntimeError(f"internal error: forward E[f]={eu_forward!r} differs from the DP value {eu_dp!r}")
    if reported and abs(value - value_dp) > tol:
        raise RuntimeError(f"internal error: reported value {value!r} differs from the DP value {value_dp!r}")


def _initial_stocks(obj: Objective, initial_stock: float | None, stocks,
                    step: float) -> tuple[float | None, float, np.ndarray | None]:
    """The fixed `c0` (`None` if searched), the grid's base units and the candidate `c0`.

    Candidates are in lattice units from the base; `None` for the default search range, which
    needs the return bounds.
    """
    searched = initial_stock is None and obj.searches_initial_stock
    if stocks is not None and not searched:
        raise ValueError(f"stocks (candidate initial stocks) only apply when c0 is searched (CVaR with "
                         f"initial_stock=None); objective {obj} with initial_stock={initial_stock!r} "
                         "has a fixed c0")
    if not searched:
        c0 = float(obj.initial_stock) if initial_stock is None else check_initial_stock(initial_stock)
        return c0, base_units(c0, step), np.zeros(1, dtype=np.int64)
    if stocks is None:
        return None, 0.0, None
    given = obj.initial_stock_candidates(stocks)  # finite numbers, non-empty
    units, on_lattice = lattice_units(given / step, LATTICE_RTOL)
    if not np.all(on_lattice):
        raise ValueError(f"stocks must be multiples of the reward lattice step {step:g}, got "
                         f"{float(given[~on_lattice][0])!r} among {given.size} candidates")
    return None, 0.0, np.unique(units)


def _backward_induction(mdp: TabularMDP, obj: Objective, units: np.ndarray, grid: StockGrid, method: str,
                        valid_low: np.ndarray, valid_high: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The policy table `(H or 1, S, K)`, `U_0` and the iteration count."""
    S, A = mdp.n_states, mdp.n_actions
    K = grid.size
    F = utility_on(obj, grid.values())
    backup = Backup(mdp, units, grid, obj)
    atol = TIE_RTOL * (1.0 + float(np.abs(F).max()) + float(np.abs(backup.terminal).max(initial=0.0)))
    terminal_V = np.broadcast_to(F, (S, K))
    adtype = np.int8 if A <= 127 else np.int16
    if mdp.horizon is not None:
        return _finite_horizon(backup, terminal_V, mdp.horizon, atol, method, adtype)
    mask = (np.arange(K) >= valid_low[0][:, None]) & (np.arange(K) <= valid_high[0][:, None])
    return _infinite_horizon(backup, terminal_V, atol, method, adtype, mask)


def _outer_search(mdp: TabularMDP, obj: Objective, V0: np.ndarray, cand: np.ndarray, grid: StockGrid,
                  fixed_c0: float | None) -> tuple[int, float, np.ndarray, np.ndarray, np.ndarray]:
    """Score every candidate `c0` and pick one (the only one if `fixed_c0` is given).

    Returns `(index, c0, candidate stocks, their reported values, their E[f])`.
    """
    start = mdp.initial > 0
    eu = mdp.initial[start] @ V0[start][:, cand - grid.offset]
    cand_values = grid.step * (grid.base_units + cand)
    rep = np.asarray(obj.value_from_utility(cand_values, eu), dtype=np.float64).reshape(-1)
    if fixed_c0 is not None:
        return 0, fixed_c0, cand_values, rep, eu
    best, _ = obj.select_initial_stock(cand_values, eu)
    return best, float(cand_values[best]), cand_values, rep, eu


def _finite_horizon(backup: Backup, terminal_V: np.ndarray, H: int, atol: float, method: str,
                    adtype) -> tuple[np.ndarray, np.ndarray, int]:
    S, K = terminal_V.shape
    table = np.zeros((H, S, K), dtype=adtype)
    if method == "value_iteration":
        V = terminal_V
        for t in range(H - 1, -1, -1):
            act, V = greedy(backup(V), atol)
            table[t] = act
        return table, V, 1
    # Policy iteration: evaluate the current policy backward, improving every (t, s, c) greedily
    # against V^pi_{t+1}; stable after at most H + 1 rounds (by induction from t = H - 1).
    for it in range(1, H + 3):
        V = terminal_V
        new = np.empty_like(table)
        for t in range(H - 1, -1, -1):
            Q = backup(V)
            new[t], _ = greedy(Q, atol)
            V = np.take_along_axis(Q, table[t][None].astype(np.int64), 0)[0]
        if np.array_equal(new, table):
            return table, V, it
        table = new
    raise RuntimeError("internal error: finite-horizon policy iteration did not stabilize")


def _infinite_horizon(backup: Backup, terminal_V: np.ndarray, atol: float, method: str, adtype,
                      mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    # Start pessimistic (min f): a policy that never terminates then never looks attractive.
    V = np.full(terminal_V.shape, float(terminal_V.min()))

    def iterate(fn, V):
        for it in range(1, MAX_ITERATIONS + 1):
            new = fn(V)
            delta = float(np.abs(new - V)[mask].max(initial=0.0))
            V = new
            if delta <= TOLERANCE:
                return V, it
        raise ValueError(f"iteration did not converge to {TOLERANCE} within {MAX_ITERATIONS} sweeps; "
                         f"the MDP may not terminate with probability 1. Give it a horizon: {HORIZON_HINT}")

    transitions = backup.transitions
    if method == "value_iteration":
        V, it = iterate(lambda V: backup(V).max(axis=0), V)
        return proper_greedy(backup(V), atol, transitions).astype(adtype), V, it
    act = proper_greedy(backup(V), atol, transitions)
    total = 0
    for _ in range(MAX_ITERATIONS):
        V, it = iterate(lambda V, act=act: np.take_along_axis(backup(V), act[None], 0)[0], V)
        total += it
        new = proper_greedy(backup(V), atol, transitions)
        if np.array_equal(new[mask], act[mask]):
            return act.astype(adtype), V, total
        act = new
    raise RuntimeError("internal error: policy iteration did not stabilize")
