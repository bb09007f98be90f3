"""Exact distributional DP on the stock-augmented MDP ``(state, stock[, time])``, gamma = 1.

Conventions (DESIGN.md section 2):

* The stock is ``c = c0 + rewards so far``; at the end it is ``c0 + G``. Rewards must lie on a
  lattice ``step * Z`` (integers, or e.g. multiples of 0.25): then every stock reachable from
  ``c0`` lies on ``c0 + step * Z`` and the DP is exact (categorical on that support).
* The DP tabulates ``U_t(s, c) = max_pi E[f(c + G_t)]`` with ``f = objective.utility``, i.e. the
  objective applied to the stock-conditioned return distribution ``eta_t(s, c)``::

      U_H(s, c) = f(c)
      U_t(s, c) = max_a  sum_outcomes p * ( f(c + r)  if terminated  else  U_{t+1}(s', c + r) )

  With a horizon this is backward induction over ``t = H-1 .. 0`` (exact). Without a horizon it
  is value iteration (or policy iteration) on ``(s, c)`` to a tolerance of 1e-12, for MDPs whose
  returns are bounded (no reachable cycle with nonzero reward) and whose optimal policy
  terminates with probability 1.
* The stock grid is computed from prefix-sum bounds of the rewards, so every stock reachable
  from the initial stock(s) is on the grid; cells whose values could be affected by the grid edge
  are marked invalid and the returned policy refuses them (no silent clipping).
* Ties between actions (Q-values within ``1e-10 * (1 + max|f|)``) go to the lowest action index;
  without a horizon, first to the tied actions that can terminate soonest (so a tie never picks
  a policy that loops forever).
* For searched-``c0`` objectives (CVaR) the outer search ``max_c0 value_from_utility(c0, U_0)``
  runs over every lattice stock in ``[-max G, -min G]`` (or the given ``stocks``): this is exact,
  since the optimal ``c0 = -VaR_alpha(G)`` is an atom of ``G``.
* The reported ``value`` and ``return_distribution`` come from propagating the law of
  ``(state, stock)`` forward under the returned policy (exact), and are cross-checked against the
  DP value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rdo_gym.dp.lattice import RewardLattice, StockGrid, base_units, prefix_bounds, reward_lattice
from rdo_gym.dp.model import TabularMDP
from rdo_gym.dp.policy import TabularPolicy
from rdo_gym.objectives import Objective, make_objective

__all__ = ["Solution", "solve", "DEFAULT_MAX_MEMORY"]

#: Default memory budget (bytes) of one solve/evaluate call; larger problems raise ``ValueError``.
DEFAULT_MAX_MEMORY = 2 * 2**30
TIE_RTOL = 1e-10
#: Convergence tolerance of value/policy iteration and of the forward pass without a horizon.
TOLERANCE = 1e-12
MAX_ITERATIONS = 100_000
#: Maximum number of steps of the forward pass without a horizon (non-termination detection).
MAX_STEPS = 20_000


@dataclass
class Solution:
    """Result of :func:`solve`.

    ``value`` is the optimal *reported* value (``objective.value`` semantics, e.g. ``CVaR_alpha(G)``
    or ``E|G - target|``) of ``policy`` started at ``initial_stock`` from the initial-state
    distribution; ``return_distribution = (atoms, probs)`` is the exact law of the return ``G``
    (without the stock) under it; ``expected_utility`` is ``E[f(c0 + G)]``.
    ``candidate_stocks`` / ``candidate_values`` list the initial stocks considered and the reported
    value ``objective.value_from_utility(c, U_0(c))`` of each (one entry for a fixed ``c0``).
    ``truncated_mass`` is the probability left unterminated by the forward pass (0 with a horizon).
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


# ------------------------------------------------------------------------------------------------
def prepare(mdp: TabularMDP, objective: Objective | str, gamma: float) -> tuple[Objective, RewardLattice]:
    """Validate the problem for exact DP: objective, gamma, reward lattice."""
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a rdo_gym.dp.TabularMDP, got {type(mdp).__name__}")
    obj = make_objective(objective)
    g = obj.check_gamma(gamma)
    if g < 1.0:
        raise ValueError(
            f"rdo_gym.dp computes exact results for gamma=1 only, got gamma={gamma!r}: with gamma < 1 "
            "the stock leaves the reward lattice and the categorical DP would be approximate. Use "
            "gamma=1 with a finite horizon (or proper termination)")
    return obj, reward_lattice(mdp)


def check_memory(nbytes: float, what: str, max_memory: float) -> None:
    """Raise ``ValueError`` with the estimate if ``nbytes`` exceeds ``max_memory``."""
    if nbytes > max_memory:
        raise ValueError(
            f"{what} needs an estimated {nbytes / 2**20:,.0f} MiB, more than max_memory="
            f"{max_memory / 2**20:,.0f} MiB; reduce the state space, the horizon or the stock range "
            "(the rewards' spread times the horizon), or pass a larger max_memory")


def return_bounds(mdp: TabularMDP, lattice: RewardLattice) -> tuple[np.ndarray, np.ndarray]:
    """Prefix-sum bounds (units) for every remaining-steps count; raises if unbounded at the start."""
    lo, hi = prefix_bounds(mdp, lattice.units, mdp.horizon)
    start = mdp.initial > 0
    if not (np.all(np.isfinite(lo[-1, start])) and np.all(np.isfinite(hi[-1, start]))):
        raise ValueError(
            "the return is unbounded from the initial state(s): without a horizon, a cycle with "
            "nonzero total reward is reachable, so the stock-augmented state space is infinite. Give "
            "the MDP a horizon (mdp.with_horizon(H))")
    return lo, hi


def valid_ranges(lo: np.ndarray, hi: np.ndarray, size: int,
                 horizon: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices per (t, state) whose values never touch the grid edge (rows t = 0 .. H-1)."""
    if horizon is None:
        rem_lo, rem_hi = lo, hi
    else:
        rem_lo, rem_hi = lo[horizon:0:-1], hi[horizon:0:-1]  # row t has H - t steps left
    low = np.where(np.isfinite(rem_lo), -rem_lo, size).astype(np.int64)
    high = np.where(np.isfinite(rem_hi), size - 1 - rem_hi, -1).astype(np.int64)
    return low, high


class Backup:
    """The one-step operator ``Q[a] = sum_m p * (f(c + r) if terminal else V[s', c + r])``.

    Precomputes the terminal part and the flat gather indices once (they do not depend on t).
    """

    def __init__(self, mdp: TabularMDP, units: np.ndarray, grid: StockGrid, utility):
        S, A, M = mdp.prob.shape
        K = grid.size
        self.shape = (A, S, K)
        k = np.arange(K)
        idx_dtype = np.int32 if S * K < 2**31 else np.int64
        self.terminal = np.zeros((A, S, K))
        self.pairs: list[tuple[int, np.ndarray, np.ndarray]] = []
        live = mdp.prob > 0
        #: (A, S): some outcome of the action terminates with positive probability.
        self.may_terminate = (live & mdp.terminated).any(axis=2).T
        for a in range(A):
            for m in range(M):
                p, r = mdp.prob[:, a, m], units[:, a, m]
                pt = np.where(live[:, a, m] & mdp.terminated[:, a, m], p, 0.0)
                if np.any(pt > 0):
                    rows = np.flatnonzero(pt)
                    self.terminal[a, rows] += pt[rows, None] * utility(grid.values(r[rows, None]))
                pn = np.where(live[:, a, m] & ~mdp.terminated[:, a, m], p, 0.0)
                if np.any(pn > 0):
                    idx = (mdp.next_state[:, a, m, None] * K + np.clip(k + r[:, None], 0, K - 1))
                    self.pairs.append((a, pn[:, None], idx.astype(idx_dtype)))

    def __call__(self, V: np.ndarray) -> np.ndarray:
        Q = self.terminal.copy()
        flat = V.reshape(-1)
        for a, w, idx in self.pairs:
            Q[a] += w * flat.take(idx)
        return Q

    def steps_to_termination(self, allowed: np.ndarray) -> np.ndarray:
        """Fewest steps after which each (action, cell) can terminate with positive probability,
        using only ``allowed`` (A, S, K) actions afterwards (``inf`` if it cannot)."""
        A, S, K = self.shape
        inf = np.inf
        dist = np.full((S, K), inf)
        while True:
            d_a = np.where(self.may_terminate[:, :, None], 1.0, inf) * np.ones((A, S, K))
            flat = dist.reshape(-1)
            for a, w, idx in self.pairs:
                reach = np.where(np.broadcast_to(w > 0, idx.shape), flat.take(idx) + 1.0, inf)
                np.minimum(d_a[a], reach, out=d_a[a])
            new = np.where(allowed, d_a, inf).min(axis=0)
            if np.array_equal(new, dist):
                return d_a
            dist = new

    def nbytes(self) -> int:
        return int(self.terminal.nbytes + sum(w.nbytes + i.nbytes for _, w, i in self.pairs))


def estimate_solve_memory(S: int, A: int, M: int, K: int, H: int | None) -> float:
    """Bytes used by :func:`solve` (index tables, Q, value rows, policy table, forward pass)."""
    idx_bytes = 4 if S * K < 2**31 else 8
    policy_rows = H if H is not None else 1
    return (A * M * S * K * idx_bytes + 2 * A * S * K * 8 + 4 * S * K * 8
            + policy_rows * S * K * (1 if A <= 127 else 2) + 6 * S * K * M * 8
            + 4 * (policy_rows + 1) * S * 8)


def greedy(Q: np.ndarray, atol: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowest-index action within ``atol`` of the best, and the best value, per cell."""
    best = Q.max(axis=0)
    return np.argmax(Q >= best - atol, axis=0), best


def proper_greedy(Q: np.ndarray, atol: float, backup: Backup) -> np.ndarray:
    """Greedy action without a horizon: among the actions within ``atol`` of the best, one that
    can terminate soonest (so that ties never select a policy that loops forever, e.g. waiting
    in place when waiting is "as good as" finishing), then the lowest index."""
    best = Q.max(axis=0)
    optimal = Q >= best - atol
    d = np.where(optimal, backup.steps_to_termination(optimal), np.inf)
    soonest = d.min(axis=0)
    return np.argmax(optimal & (d <= soonest), axis=0)


def propagate(mdp: TabularMDP, units: np.ndarray, size: int, start: int, action_fn,
              max_steps: int = MAX_STEPS) -> tuple[np.ndarray, float]:
    """Exact forward pass of the law of ``(state, stock index)`` under a deterministic policy.

    ``action_fn(t, states, stock_indices) -> actions`` (arrays). Returns the law of the final stock
    index (length ``size``) and the probability left unterminated (only without a horizon, when it
    falls below 1e-12). Raises if the policy does not terminate within ``max_steps`` steps.
    """
    S, A, M = mdp.prob.shape
    H = mdp.horizon
    # Per (state, action) rows: weights of terminating / continuing outcomes, reward shifts, targets.
    prob = mdp.prob.reshape(S * A, M)
    live = prob > 0
    p_end = np.where(live & mdp.terminated.reshape(S * A, M), prob, 0.0)
    p_go = np.where(live & ~mdp.terminated.reshape(S * A, M), prob, 0.0)
    shift = units.reshape(S * A, M)
    target = mdp.next_state.reshape(S * A, M) * size
    mass = np.zeros(S * size)
    mass[np.arange(S) * size + start] = mdp.initial
    final = np.zeros(size)
    t = 0
    while True:
        if H is not None and t == H:
            final += mass.reshape(S, size).sum(0)
            return final, 0.0
        left = mass.sum()
        if left <= (0.0 if H is not None else TOLERANCE):
            return final, float(left)
        if H is None and t >= max_steps:
            raise ValueError(f"the policy does not terminate: probability {left:.3g} is still in the "
                             f"episode after {max_steps} steps (no horizon); give the MDP a horizon")
        nz = np.flatnonzero(mass)
        s, k, w = nz // size, nz % size, mass[nz]
        a = np.asarray(action_fn(t, s, k), dtype=np.int64)
        if a.shape != s.shape or np.any((a < 0) | (a >= A)):
            raise ValueError(f"policy returned actions outside [0, {A}) at t={t}: {np.unique(a)}")
        sa = s * A + a
        nk = k[:, None] + shift[sa]
        if np.any(live[sa] & ((nk < 0) | (nk >= size))):
            raise RuntimeError("internal error: a reachable stock left the computed grid")
        np.clip(nk, 0, size - 1, out=nk)  # only zero-probability padding is moved
        final += np.bincount(nk.ravel(), (w[:, None] * p_end[sa]).ravel(), minlength=size)
        mass = np.bincount((target[sa] + nk).ravel(), (w[:, None] * p_go[sa]).ravel(), minlength=S * size)
        t += 1


# ------------------------------------------------------------------------------------------------
def solve(mdp: TabularMDP, objective: Objective | str, *, initial_stock: float | None = None,
          stocks: Sequence[float] | np.ndarray | None = None, gamma: float = 1.0,
          method: str = "value_iteration", max_memory: float = DEFAULT_MAX_MEMORY) -> Solution:
    """Optimal stock-augmented policy of ``mdp`` for ``objective`` (exact, gamma = 1).

    ``objective``: an :class:`~rdo_gym.objectives.Objective` or a spec string (``"cvar:0.1"``).
    ``initial_stock``: the ``c0`` to start from; default: the objective's own ``c0``, or for CVaR
    (``initial_stock`` is ``None``) the exact outer search over candidate stocks.
    ``stocks``: candidate initial stocks for that search (lattice points); default: all lattice
    stocks in ``[-max G, -min G]``, which contains the optimum.
    ``method``: ``"value_iteration"`` (backward induction with a horizon) or ``"policy_iteration"``.
    ``value`` is always ``objective.value`` of the returned law of ``G``; with a given
    ``initial_stock`` or restricted ``stocks`` for CVaR it is the true CVaR of the policy found
    (at least its ``candidate_values`` entry). Among equally good candidate stocks the lowest wins.
    Raises ``ValueError`` for an objective invalid at ``gamma``, gamma < 1, non-lattice rewards,
    unbounded returns without a horizon, or an estimated memory above ``max_memory`` bytes.
    """
    obj, lattice = prepare(mdp, objective, gamma)
    if method not in ("value_iteration", "policy_iteration"):
        raise ValueError(f"method must be 'value_iteration' or 'policy_iteration', got {method!r}")
    step, units = lattice.step, lattice.units
    S, A, M = mdp.prob.shape
    H = mdp.horizon
    lo, hi = return_bounds(mdp, lattice)
    start = mdp.initial > 0
    g_lo, g_hi = int(lo[-1, start].min()), int(hi[-1, start].max())

    searched = initial_stock is None and obj.initial_stock is None
    if stocks is not None and not searched:
        raise ValueError(f"stocks (candidate initial stocks) only apply when c0 is searched (CVaR with "
                         f"initial_stock=None); objective {obj} with initial_stock={initial_stock!r} "
                         "has a fixed c0")
    if searched:
        bu = 0.0
        if stocks is None:
            cand = np.arange(-g_hi, -g_lo + 1, dtype=np.int64)
        else:
            x = np.asarray(stocks, dtype=np.float64).reshape(-1) / step
            off_lattice = np.abs(x - np.round(x)) > 1e-7 * np.maximum(1, np.abs(x))
            if x.size == 0 or not np.all(np.isfinite(x)) or np.any(off_lattice):
                raise ValueError(f"stocks must be non-empty multiples of the reward lattice step {step:g}, "
                                 f"got {np.asarray(stocks).tolist()}")
            cand = np.unique(np.round(x).astype(np.int64))
    else:
        c0 = float(obj.initial_stock if initial_stock is None else initial_stock)
        if not np.isfinite(c0):
            raise ValueError(f"initial_stock must be finite, got {initial_stock!r}")
        bu = base_units(c0, step)
        cand = np.zeros(1, dtype=np.int64)
    offset = int(cand.min()) + g_lo
    K = int(cand.max()) + g_hi - offset + 1
    check_memory(estimate_solve_memory(S, A, M, K, H), f"solve ({S} states x {K} stocks x "
                 f"{H if H is not None else 'no'} horizon x {A} actions)", max_memory)
    grid = StockGrid(base_units=bu, step=step, offset=offset, size=K)
    valid_low, valid_high = valid_ranges(lo, hi, K, H)

    F = np.asarray(obj.utility(grid.values()), dtype=np.float64)
    if F.shape != (K,) or not np.all(np.isfinite(F)):
        raise ValueError(f"objective {obj} utility must return finite values element-wise")
    backup = Backup(mdp, units, grid, obj.utility)
    atol = TIE_RTOL * (1.0 + float(np.abs(F).max()) + float(np.abs(backup.terminal).max(initial=0.0)))
    terminal_V = np.broadcast_to(F, (S, K))
    adtype = np.int8 if A <= 127 else np.int16

    if H is not None:
        table, V0, iterations = _finite_horizon(backup, terminal_V, H, atol, method, adtype)
    else:
        mask = (np.arange(K) >= valid_low[0][:, None]) & (np.arange(K) <= valid_high[0][:, None])
        table, V0, iterations = _infinite_horizon(backup, terminal_V, atol, method, adtype, mask)

    # Outer search / fixed c0.
    eu = mdp.initial[start] @ V0[start][:, cand - offset]
    cand_values = step * (bu + cand)
    rep = np.asarray(obj.value_from_utility(cand_values, eu), dtype=np.float64).reshape(-1)
    if searched:
        best, _ = obj.select_initial_stock(cand_values, eu)
        c0 = float(cand_values[best])
    else:
        best = 0
    u0 = int(cand[best])
    policy = TabularPolicy(table, time_dependent=H is not None, grid=grid, valid_low=valid_low,
                           valid_high=valid_high, initial_stock=c0,
                           name=f"optimal {obj} policy from c0={c0:g}")
    time_table = table if H is not None else table[None]

    def action_fn(t, s, k):
        return time_table[t if H is not None else 0, s, k]

    final, left = propagate(mdp, units, K, u0 - offset, action_fn)
    nz = np.flatnonzero(final)
    atoms = step * (offset + nz - u0).astype(np.float64)
    probs = final[nz]
    eu0 = float(probs @ np.asarray(obj.utility(grid.values()[nz]), dtype=np.float64))
    value = float(obj.value(atoms, probs)) + 0.0  # no -0.0
    dp_value = float(rep[best])
    scale = 1.0 + float(np.abs(F).max())
    if abs(eu0 - float(eu[best])) > 1e-7 * scale + 2 * left * scale:
        raise RuntimeError(f"internal error: forward E[f]={eu0!r} differs from the DP value "
                           f"{float(eu[best])!r}")
    if initial_stock is None and stocks is None and abs(value - dp_value) > 1e-7 * scale + 2 * left * scale:
        raise RuntimeError(f"internal error: reported value {value!r} differs from the DP value "
                           f"{dp_value!r}")
    return Solution(value=value, initial_stock=c0, policy=policy, return_distribution=(atoms, probs),
                    expected_utility=eu0, objective=obj, candidate_stocks=cand_values,
                    candidate_values=rep, method=method, iterations=iterations,
                    truncated_mass=left, grid=grid)


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
                         "the MDP may not terminate with probability 1 (give it a horizon)")

    if method == "value_iteration":
        V, it = iterate(lambda V: backup(V).max(axis=0), V)
        return proper_greedy(backup(V), atol, backup).astype(adtype), V, it
    act = proper_greedy(backup(V), atol, backup)
    total = 0
    for _ in range(MAX_ITERATIONS):
        V, it = iterate(lambda V, act=act: np.take_along_axis(backup(V), act[None], 0)[0], V)
        total += it
        new = proper_greedy(backup(V), atol, backup)
        if np.array_equal(new[mask], act[mask]):
            return act.astype(adtype), V, total
        act = new
    raise RuntimeError("internal error: policy iteration did not stabilize")
