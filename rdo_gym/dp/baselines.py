"""The two reference policies benchmarks compare against (evaluate them with
[`evaluate`][rdo_gym.dp.evaluation.evaluate]).

* [`risk_neutral_policy`][rdo_gym.dp.baselines.risk_neutral_policy]: maximizes `E[G]` (standard value iteration, no
stock).
* [`naive_cvar_policy`][rdo_gym.dp.baselines.naive_cvar_policy]: no stock; at each (time, state) picks the action
  whose return-to-go distribution (under the naive policy itself from the next step on) has the highest
  `CVaR_alpha`. This is time-inconsistent and in general worse than the stock-augmented optimum
  on the static `CVaR_alpha(G)`.

Conventions of [`rdo_gym.dp.kernel`][rdo_gym.dp.kernel]: gamma = 1, lattice rewards (for the naive policy's
return-to-go laws); ties go to the lowest action index (values within `1e-10 * (1 + scale)`),
without a horizon first to the tied actions that can terminate soonest (the same rule as
[`rdo_gym.dp.solve`][rdo_gym.dp.solver.solve]).
"""

from __future__ import annotations

import numpy as np

from rdo_gym.dp.kernel import (
    DEFAULT_MAX_MEMORY,
    HORIZON_HINT,
    MAX_ITERATIONS,
    TIE_RTOL,
    TOLERANCE,
    Transitions,
    check_max_memory,
    check_mdp,
    check_memory,
    greedy,
    prepare,
    proper_greedy,
    return_bounds,
)
from rdo_gym.dp.model import TabularMDP
from rdo_gym.dp.policy import TabularPolicy
from rdo_gym.objectives import CVaR

__all__ = ["risk_neutral_policy", "naive_cvar_policy"]


def _expected_backup(mdp: TabularMDP, V: np.ndarray) -> np.ndarray:
    """`Q[a, s] = sum_m p * (r + V[s'] if not terminated else r)`."""
    cont = np.where(mdp.terminated, 0.0, V[mdp.next_state])
    return np.einsum("sam,sam->as", mdp.prob, mdp.reward + cont)


def risk_neutral_policy(mdp: TabularMDP, max_memory: float = DEFAULT_MAX_MEMORY) -> TabularPolicy:
    """Deterministic policy maximizing `E[G]` (undiscounted).

    Time-dependent `(H, S)` with a horizon, stationary `(S,)` otherwise (value iteration to
    1e-12; raises if it diverges).

    Args:
        mdp: the model.
        max_memory: the memory budget in bytes (the policy table and the backups).
    """
    check_mdp(mdp)
    max_memory = check_max_memory(max_memory)
    S, A, M = mdp.prob.shape
    check_memory(8.0 * ((mdp.horizon or 1) * S + 6 * S * A * M),
                 f"risk_neutral_policy ({S} states x {mdp.horizon or 'no'} horizon)", max_memory)
    atol = TIE_RTOL * (1.0 + float(np.abs(mdp.reward).max()) * (mdp.horizon or 1))
    if mdp.horizon is not None:
        table = np.zeros((mdp.horizon, S), dtype=np.int64)
        V = np.zeros(S)
        for t in range(mdp.horizon - 1, -1, -1):
            table[t], V = greedy(_expected_backup(mdp, V), atol)
        return TabularPolicy(table, time_dependent=True, name="risk-neutral")
    V = np.zeros(S)
    for _ in range(MAX_ITERATIONS):
        new = _expected_backup(mdp, V).max(axis=0)
        delta = float(np.abs(new - V).max())
        V = new
        if not np.isfinite(delta) or delta > 1e12:
            break
        if delta <= TOLERANCE * (1.0 + float(np.abs(V).max())):
            # The stock-free tie rule is the solver's on a one-cell grid (no stock).
            Q = _expected_backup(mdp, V)[:, :, None]
            no_stock = Transitions(mdp, np.zeros(mdp.prob.shape, dtype=np.int64), 1)
            act = proper_greedy(Q, atol * (1.0 + float(np.abs(V).max())), no_stock)[:, 0]
            return TabularPolicy(act, time_dependent=False, name="risk-neutral")
    raise ValueError("risk-neutral value iteration did not converge without a horizon (unbounded or "
                     f"non-terminating returns); give the MDP a horizon: {HORIZON_HINT}")


def naive_cvar_policy(mdp: TabularMDP, alpha: float,
                      max_memory: float = DEFAULT_MAX_MEMORY) -> TabularPolicy:
    """The "naive" CVaR policy (no stock), time-dependent `(H, S)`; needs a horizon.

    Backward over `t`: the return-to-go law of each action is `r + G_{t+1}(s')` with the naive
    policy from `t + 1` on (exact, categorical on the reward lattice); the action maximizing
    `CVaR(alpha).value` of that law is chosen.

    Args:
        mdp: the model, with a horizon.
        alpha: the CVaR level in (0, 1].
        max_memory: the memory budget in bytes (the return-to-go laws of every state and action).
    """
    objective, lattice = prepare(mdp, CVaR(alpha), 1.0)
    H = mdp.horizon
    if H is None:
        raise ValueError("naive_cvar_policy needs an MDP with a finite horizon (the greedy CVaR of the "
                         f"return-to-go has no fixed point in general): {HORIZON_HINT}")
    max_memory = check_max_memory(max_memory)
    units = lattice.units
    S, A, M = mdp.prob.shape

    def check_budget(spread: int, final: bool) -> None:
        L = spread + 1
        size = f"{S} states x {'' if final else '>= '}{L} returns x {A} actions"
        check_memory(8.0 * (8 * A * S * L + H * S), f"naive_cvar_policy ({size})", max_memory, final=final)

    # Return-to-go laws from every state: the range over all states (the bounds widen with the
    # steps left, so the last row bounds them all).
    lo, hi = return_bounds(mdp, lattice, every_step=False, states=np.ones(S, dtype=bool),
                           on_spread=check_budget)
    g_lo, g_hi = int(lo.min()), int(hi.max())
    L = g_hi - g_lo + 1
    atoms = lattice.step * (g_lo + np.arange(L)).astype(np.float64)
    atol = TIE_RTOL * (1.0 + float(np.abs(atoms).max()))
    live = mdp.prob > 0
    j = np.arange(L)
    eta = np.zeros((S, L))
    eta[:, -g_lo] = 1.0
    table = np.zeros((H, S), dtype=np.int64)
    rows = np.arange(S)
    for t in range(H - 1, -1, -1):
        ext = np.append(eta.reshape(-1), 0.0)  # index S * L reads probability 0
        Z = np.zeros((A, S, L))
        for a in range(A):
            for m in range(M):
                r = units[:, a, m]
                pt = np.where(live[:, a, m] & mdp.terminated[:, a, m], mdp.prob[:, a, m], 0.0)
                Z[a, rows, r - g_lo] += pt
                pn = np.where(live[:, a, m] & ~mdp.terminated[:, a, m], mdp.prob[:, a, m], 0.0)
                if np.any(pn > 0):
                    src = j - r[:, None]  # G = r + G' => G' index = G index - r
                    flat = np.where((src >= 0) & (src < L), mdp.next_state[:, a, m, None] * L + src, S * L)
                    Z[a] += pn[:, None] * ext[flat]
        cvar = objective.value(np.broadcast_to(atoms, Z.shape), Z, axis=-1)
        table[t], _ = greedy(cvar, atol)
        eta = Z[table[t], rows]
    return TabularPolicy(table, time_dependent=True, name=f"naive CVaR({alpha:g})")
