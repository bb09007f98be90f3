"""The shared machinery of exact distributional DP on the stock-augmented MDP `(state, stock[, time])`.

Used by [`rdo_gym.dp.solver`][rdo_gym.dp.solver] (the optimum), [`rdo_gym.dp.evaluation`][rdo_gym.dp.evaluation] (a
given policy) and
[`rdo_gym.dp.baselines`][rdo_gym.dp.baselines] (the reference policies). Conventions, the same for all of them:

* **gamma = 1.** Returns are undiscounted sums of rewards; gamma < 1 is refused (it takes the stock
  off the reward lattice, and the categorical DP would be approximate).
* **Stock.** `C_0 = c0` and `C_{t+1} = C_t + R_{t+1}`: the stock is `c0 + rewards so far`, at
  the end `c0 + G`. Rewards lie on a lattice `step * Z` ([`rdo_gym.dp.lattice`][rdo_gym.dp.lattice]), so every
  reachable stock is `c0 + step * k` and is stored as the integer `k` (*units*) on a
  [`StockGrid`][rdo_gym.dp.lattice.StockGrid].
* **Stock range.** Prefix-sum bounds of the rewards along the MDP's graph
  ([`prefix_bounds`][rdo_gym.dp.kernel.prefix_bounds]) give, for every number of remaining steps, the range of stocks
  reachable from the initial stock(s); grids are sized from them, so the grid never clips a reachable stock. Cells whose
  values could be affected by the grid edge are marked invalid ([`valid_ranges`][rdo_gym.dp.kernel.valid_ranges]).
* **Ties.** Between actions whose values are within `atol` (`TIE_RTOL` times the scale of the
  values) the lowest action index wins ([`greedy`][rdo_gym.dp.kernel.greedy]); without a horizon, first the tied actions
  that can terminate soonest ([`proper_greedy`][rdo_gym.dp.kernel.proper_greedy]), so that a tie never picks a policy
  that loops forever.
* **Memory.** Every caller estimates its memory before allocating and [`check_memory`][rdo_gym.dp.kernel.check_memory]
  raises `ValueError` above the budget (`max_memory` bytes, default `DEFAULT_MAX_MEMORY`).
* **Forward pass.** [`propagate`][rdo_gym.dp.kernel.propagate] pushes the exact law of `(state, stock)` forward under a
  deterministic policy; the reported return distributions come from it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from rdo_gym.dp.lattice import RewardLattice, reward_lattice
from rdo_gym.dp.model import TabularMDP
from rdo_gym.objectives import Objective, make_objective

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "TIE_RTOL",
    "TOLERANCE",
    "MAX_ITERATIONS",
    "MAX_STEPS",
    "HORIZON_HINT",
    "check_mdp",
    "prepare",
    "check_initial_stock",
    "check_max_memory",
    "check_memory",
    "prefix_bounds",
    "return_bounds",
    "valid_ranges",
    "Transitions",
    "greedy",
    "proper_greedy",
    "propagate",
    "utility_on",
    "return_law",
]

DEFAULT_MAX_MEMORY = 2 * 2**30
"""Default memory budget (bytes) of one solve/evaluate call; larger problems raise `ValueError`."""
TIE_RTOL = 1e-10
"""Relative tolerance of action ties: Q-values within `TIE_RTOL * (1 + scale)` of the best tie."""
TOLERANCE = 1e-12
"""Convergence tolerance of value/policy iteration and of the forward pass without a horizon."""
MAX_ITERATIONS = 100_000
"""Maximum number of sweeps of value/policy iteration without a horizon."""
MAX_STEPS = 20_000
"""Maximum number of steps of the forward pass without a horizon (non-termination detection)."""
HORIZON_HINT = "TabularMDP.from_gymnasium(env, horizon=H), TabularMDP(..., horizon=H) or mdp.with_horizon(H)"
"""How to give a model a horizon, for the messages that need one."""


def check_mdp(mdp: TabularMDP) -> None:
    """`TypeError` unless `mdp` is a [`TabularMDP`][rdo_gym.dp.model.TabularMDP].

    Args:
        mdp: the argument to check.
    """
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a rdo_gym.dp.TabularMDP (e.g. TabularMDP.from_gymnasium(env)), "
                        f"got {type(mdp).__name__}")


def prepare(mdp: TabularMDP, objective: Objective | str, gamma: float) -> tuple[Objective, RewardLattice]:
    """Validate a problem for exact DP and return its objective and reward lattice.

    Args:
        mdp: the model; must be a [`TabularMDP`][rdo_gym.dp.model.TabularMDP].
        objective: an [`Objective`][rdo_gym.objectives.Objective] or a spec string (`"cvar:0.1"`).
        gamma: the discount; only 1 is exact (any other valid value raises `ValueError`).
    """
    check_mdp(mdp)
    obj = make_objective(objective)
    g = obj.check_gamma(gamma)
    if g < 1.0:
        raise ValueError(
            f"rdo_gym.dp computes exact results for gamma=1 only, got gamma={gamma!r}: with gamma < 1 "
            "the stock leaves the reward lattice and the categorical DP would be approximate. Use "
            "gamma=1 with a finite horizon (or proper termination)")
    return obj, reward_lattice(mdp)


def check_max_memory(max_memory: float) -> float:
    """`max_memory` as a float, or `ValueError` unless it is a positive number of bytes.

    Args:
        max_memory: the memory budget in bytes (`float("inf")` for none).
    """
    if isinstance(max_memory, (bool, np.bool_)) or not isinstance(max_memory, numbers.Real):
        raise TypeError(f"max_memory must be a number of bytes (e.g. 2 * 2**30), got {max_memory!r}")
    value = float(max_memory)
    if not value > 0:
        raise ValueError(f"max_memory must be a positive number of bytes (e.g. 2 * 2**30, or "
                         f"float('inf') for no budget), got {max_memory!r}")
    return value


def check_initial_stock(value: float) -> float:
    """`value` as a float, or `TypeError` / `ValueError` unless it is a finite real number.

    Args:
        value: an initial stock `c0` given by the caller.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"initial_stock must be a finite number (the stock c0 to start from) or None, got "
                        f"{value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"initial_stock must be finite (the stock c0 to start from) or None, got {value!r}")
    return float(value)


def check_memory(nbytes: float, what: str, max_memory: float, *, final: bool = True) -> None:
    """Raise `ValueError` with the estimate if `nbytes` exceeds `max_memory`.

    Args:
        nbytes: estimated bytes the computation will allocate.
        what: the computation and its sizes, for the message.
        max_memory: the budget in bytes.
        final: `False` when `nbytes` is a lower bound (sizes still growing): the message then
            says "at least".
    """
    if nbytes > max_memory:
        raise ValueError(
            f"{what} needs {'' if final else 'at least '}an estimated {nbytes / 2**20:,.0f} MiB, more "
            f"than max_memory={max_memory / 2**20:,.0f} MiB; reduce the state space, the horizon or the "
            "stock range (the rewards' spread times the horizon), or pass a larger max_memory")


def prefix_bounds(mdp: TabularMDP, units: np.ndarray, n_steps: int | None, *, every_step: bool = True,
                  on_step: Callable[[np.ndarray, np.ndarray], None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Min and max prefix sums (in lattice units) of the rewards along any path.

    Args:
        mdp: the model.
        units: the rewards in lattice units, `(S, A, M)` integers.
        n_steps: the horizon, or `None`.
        every_step: with `n_steps`, keep the bounds of every number of steps (`False`: only
            the last, in `O(S)` memory).
        on_step: with `n_steps`, called with the bounds `(lo, hi)` of each number of steps as
            they are computed (they only widen), e.g. to stop early when they outgrow a budget.

    Returns:
        `(lo, hi)`. With `n_steps`, arrays `(n_steps + 1, S)` (one row if not
        `every_step`: the last): row `n` bounds every partial sum of at most `n` further
        rewards from each state (row 0 is 0). Without, arrays `(1, S)` over paths of any
        length; states from which the sums are unbounded (a reachable cycle with nonzero total
        reward) get `-inf` / `+inf`.
    """
    live = mdp.prob > 0
    term = mdp.terminated
    ns = mdp.next_state
    S = mdp.n_states
    r = units.astype(np.float64)

    def step_once(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cand_hi = np.where(live, r + np.where(term, 0.0, hi[ns]), -np.inf)
        cand_lo = np.where(live, r + np.where(term, 0.0, lo[ns]), np.inf)
        new_hi = np.maximum(0.0, cand_hi.max(axis=(1, 2)))
        new_lo = np.minimum(0.0, cand_lo.min(axis=(1, 2)))
        return new_lo, new_hi

    lo, hi = np.zeros(S), np.zeros(S)
    if n_steps is not None:
        rows = n_steps + 1 if every_step else 1
        los, his = np.zeros((rows, S)), np.zeros((rows, S))
        for n in range(1, n_steps + 1):
            lo, hi = step_once(lo, hi)
            if every_step:
                los[n], his[n] = lo, hi
            if on_step is not None:
                on_step(lo, hi)
        if not every_step:
            los[0], his[0] = lo, hi
        return los, his
    # Bellman-Ford: values settle within S iterations unless a nonzero cycle is reachable.
    for _ in range(S):
        lo, hi = step_once(lo, hi)
    lo_s, hi_s = lo.copy(), hi.copy()
    for _ in range(S + 1):
        lo, hi = step_once(lo, hi)
    lo = np.where(lo < lo_s, -np.inf, lo_s)
    hi = np.where(hi > hi_s, np.inf, hi_s)
    return lo[None], hi[None]


def return_bounds(mdp: TabularMDP, lattice: RewardLattice, *, every_step: bool = True,
                  states: np.ndarray | None = None,
                  on_spread: Callable[[int, bool], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """[`prefix_bounds`][rdo_gym.dp.kernel.prefix_bounds] of `mdp` on `lattice`; raises if unbounded from an initial
    state.

    Args:
        mdp: the model.
        lattice: its reward lattice ([`reward_lattice`][rdo_gym.dp.lattice.reward_lattice]).
        every_step: keep the bounds of every number of remaining steps (see
            [`prefix_bounds`][rdo_gym.dp.kernel.prefix_bounds]).
        states: boolean mask of the states whose return range matters (default: the initial ones).
        on_spread: the caller's memory check, `on_spread(spread, final)` with the width
            `max hi - min lo` (lattice units) of the return range from `states`: called with 0
            before anything is allocated, then as the bounds widen step by step (`final` False:
            the range can only grow) and once with the final range (`final` True). It raises
            to refuse the problem, before its cost is paid.
    """
    start = mdp.initial > 0 if states is None else states

    def spread(lo: np.ndarray, hi: np.ndarray) -> int:
        return int(hi[start].max() - lo[start].min())

    if on_spread is not None:
        on_spread(0, False)
    hook = None if on_spread is None else (lambda lo, hi: on_spread(spread(lo, hi), False))
    lo, hi = prefix_bounds(mdp, lattice.units, mdp.horizon, every_step=every_step, on_step=hook)
    if not (np.all(np.isfinite(lo[-1, start])) and np.all(np.isfinite(hi[-1, start]))):
        raise ValueError(
            "the return is unbounded from the initial state(s): without a horizon, a cycle with "
            "nonzero total reward is reachable, so the stock-augmented state space is infinite. Give "
            f"the MDP a horizon: {HORIZON_HINT}")
    if on_spread is not None:
        on_spread(spread(lo[-1], hi[-1]), True)
    return lo, hi


def valid_ranges(lo: np.ndarray, hi: np.ndarray, size: int,
                 horizon: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices per (t, state) whose values never touch the grid edge (rows t = 0 .. H-1).

    Args:
        lo: lower prefix bounds from [`prefix_bounds`][rdo_gym.dp.kernel.prefix_bounds].
        hi: upper prefix bounds from [`prefix_bounds`][rdo_gym.dp.kernel.prefix_bounds].
        size: the number of grid cells.
        horizon: the horizon, or `None` (then one row).
    """
    if horizon is None:
        rem_lo, rem_hi = lo, hi
    else:
        rem_lo, rem_hi = lo[horizon:0:-1], hi[horizon:0:-1]  # row t has H - t steps left
    low = np.where(np.isfinite(rem_lo), -rem_lo, size).astype(np.int64)
    high = np.where(np.isfinite(rem_hi), size - 1 - rem_hi, -1).astype(np.int64)
    return low, high


class Transitions:
    """The continuing outcomes of every (action, state, stock cell) as flat gather indices.

    `pairs` lists `(a, w, idx)` per (action, outcome) with a continuing outcome somewhere:
    weights `w` (S, 1) and indices `idx` (S, K) into a flattened `V[s', k']` (the stock
    index moves by the reward's units, clipped at the grid edge: [`valid_ranges`][rdo_gym.dp.kernel.valid_ranges]
    marks the affected cells). `may_terminate` (A, S) says whether some outcome of the action terminates
    with positive probability.

    Args:
        mdp: the model.
        units: the rewards in lattice units, `(S, A, M)` integers.
        size: the number of stock cells `K`.
    """

    def __init__(self, mdp: TabularMDP, units: np.ndarray, size: int):
        S, A, M = mdp.prob.shape
        K = size
        self.shape = (A, S, K)
        k = np.arange(K)
        idx_dtype = np.int32 if S * K < 2**31 else np.int64
        live = mdp.prob > 0
        self.may_terminate = (live & mdp.terminated).any(axis=2).T
        self.pairs: list[tuple[int, np.ndarray, np.ndarray]] = []
        for a in range(A):
            for m in range(M):
                pn = np.where(live[:, a, m] & ~mdp.terminated[:, a, m], mdp.prob[:, a, m], 0.0)
                if np.any(pn > 0):
                    idx = (mdp.next_state[:, a, m, None] * K + np.clip(k + units[:, a, m, None], 0, K - 1))
                    self.pairs.append((a, pn[:, None], idx.astype(idx_dtype)))

    def accumulate(self, Q: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Add `sum_m p * V[s', c + r]` over the continuing outcomes to `Q` (A, S, K) in place."""
        flat = V.reshape(-1)
        for a, w, idx in self.pairs:
            Q[a] += w * flat.take(idx)
        return Q

    def steps_to_termination(self, allowed: np.ndarray) -> np.ndarray:
        """Fewest steps after which each (action, cell) can terminate with positive probability,
        using only `allowed` (A, S, K) actions afterwards (`inf` if it cannot)."""
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


def greedy(Q: np.ndarray, atol: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowest-index action within `atol` of the best, and the best value, per cell.

    Args:
        Q: action values, actions on axis 0.
        atol: the tie tolerance.
    """
    best = Q.max(axis=0)
    return np.argmax(Q >= best - atol, axis=0), best


def proper_greedy(Q: np.ndarray, atol: float, transitions: Transitions) -> np.ndarray:
    """Greedy action without a horizon.

    Among the actions within `atol` of the best, one that can terminate soonest (so that ties
    never select a policy that loops forever, e.g. waiting in place when waiting is "as good as"
    finishing), then the lowest index.

    Args:
        Q: action values (A, S, K).
        atol: the tie tolerance.
        transitions: the model's [`Transitions`][rdo_gym.dp.kernel.Transitions] on the same grid.
    """
    best = Q.max(axis=0)
    optimal = Q >= best - atol
    d = np.where(optimal, transitions.steps_to_termination(optimal), np.inf)
    soonest = d.min(axis=0)
    return np.argmax(optimal & (d <= soonest), axis=0)


def propagate(mdp: TabularMDP, units: np.ndarray, size: int, start: int, action_fn: Callable,
              max_steps: int = MAX_STEPS, who: str = "the policy") -> tuple[np.ndarray, float]:
    """Exact forward pass of the law of `(state, stock index)` under a deterministic policy.

    Args:
        mdp: the model.
        units: the rewards in lattice units, `(S, A, M)` integers.
        size: the number of stock cells.
        start: the stock index of the initial stock.
        action_fn: `action_fn(t, states, stock_indices) -> actions` (arrays).
        max_steps: without a horizon, the number of steps after which a policy that has not
            terminated (to 1e-12) is refused.
        who: the policy, as the messages name it.

    Returns:
        The law of the final stock index (length `size`) and the probability left unterminated
        (only without a horizon, when it falls below 1e-12).
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
            raise ValueError(f"{who} does not terminate: probability {left:.3g} is still in the episode "
                             f"after {max_steps} steps. The MDP has no horizon, and rdo_gym.dp then needs "
                             f"episodes that end with probability 1 (up to {TOLERANCE:g}) within {max_steps} "
                             f"steps. Give the MDP a horizon, e.g. the env's time limit: {HORIZON_HINT}")
        nz = np.flatnonzero(mass)
        s, k, w = nz // size, nz % size, mass[nz]
        a = np.asarray(action_fn(t, s, k), dtype=np.int64)
        if a.shape != s.shape or np.any((a < 0) | (a >= A)):
            raise ValueError(f"{who} returned actions outside [0, {A}) (the actions) at t={t}: "
                             f"{np.unique(a).tolist()}")
        sa = s * A + a
        nk = k[:, None] + shift[sa]
        if np.any(live[sa] & ((nk < 0) | (nk >= size))):
            raise RuntimeError("internal error: a reachable stock left the computed grid")
        np.clip(nk, 0, size - 1, out=nk)  # only zero-probability padding is moved
        final += np.bincount(nk.ravel(), (w[:, None] * p_end[sa]).ravel(), minlength=size)
        mass = np.bincount((target[sa] + nk).ravel(), (w[:, None] * p_go[sa]).ravel(), minlength=S * size)
        t += 1


def utility_on(objective: Objective, stocks: np.ndarray) -> np.ndarray:
    """`objective.utility(stocks)` as float64, checked: one finite number per stock.

    Args:
        objective: the objective.
        stocks: stock values (any shape).

    Raises:
        ValueError: naming the objective and a stock where the utility is not a finite number.
    """
    stocks = np.asarray(stocks, dtype=np.float64)
    f = np.asarray(objective.utility(stocks), dtype=np.float64)
    if f.shape != stocks.shape:
        raise ValueError(f"objective {objective}: utility must work element-wise on numpy arrays (one "
                         f"number per stock), got shape {f.shape} for stocks of shape {stocks.shape}")
    bad = ~np.isfinite(f)
    if np.any(bad):
        i = tuple(np.argwhere(bad)[0])
        raise ValueError(f"objective {objective}: utility must return finite values element-wise, got "
                         f"{float(f[i])!r} at stock {float(stocks[i])!r}")
    return f


def return_law(final: np.ndarray, start: int, stocks: np.ndarray, step: float, objective: Objective
               ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The law of `G` from a forward pass's final stock law, and the objective on it.

    Args:
        final: the law of the final stock index (from [`propagate`][rdo_gym.dp.kernel.propagate]).
        start: the stock index of the initial stock.
        stocks: the stock value of every grid cell.
        step: the reward lattice step.
        objective: the objective to score the law with.

    Returns:
        `(atoms, probs, value, expected_utility)`: the atoms of `G` and their probabilities,
        `objective.value` of that law and `E[f(c0 + G)]`.
    """
    nz = np.flatnonzero(final)
    atoms = step * (nz - start).astype(np.float64)
    probs = final[nz]
    eu = float(probs @ utility_on(objective, stocks[nz]))
    value = float(objective.value(atoms, probs)) + 0.0  # no -0.0
    return atoms, probs, value, eu
