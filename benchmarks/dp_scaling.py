"""Scaling of exact stock-augmented DP (``rdo_gym.dp.solve``) on gridworlds, against a loop version.

For growing grid size N x N, horizon H and stock range K, times ``solve(mdp, "cvar:0.1")`` (the
full call: bounds, backward induction over (t, state, stock), CVaR outer search, exact forward
pass) and its peak memory (tracemalloc), and, in the same run, a straightforward per-state Python
loop implementation of the same recursion on the sizes it can finish within a budget. The loop
results are checked against the solver's (the reported values of every candidate initial stock).
Prints a markdown table, the speed-up ratios and the growth exponent of time in the work
``H * S * K * A * M``.

    .venv/bin/python benchmarks/dp_scaling.py [--quick] [--loop-budget SECONDS]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from rdo_gym.dp import TabularMDP, solve  # noqa: E402
from rdo_gym.objectives import CVaR  # noqa: E402

MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]  # up, right, down, left


def gridworld(n: int, horizon: int, seed: int = 0, slip: float = 0.2) -> TabularMDP:
    """N x N grid, 4 moves (intended with prob 1 - slip, each perpendicular slip / 2), walls stop.

    Every cell has a reward in {-1, 0, +1} (seeded) paid on entering it; entering the far corner
    ends the episode with reward +1. Start in the near corner. Outcomes per action: M = 3.
    """
    rng = np.random.default_rng(seed)
    cell_reward = rng.integers(-1, 2, size=(n, n))
    S, A, M = n * n, 4, 3
    prob = np.zeros((S, A, M))
    nxt = np.zeros((S, A, M), dtype=np.int64)
    rew = np.zeros((S, A, M))
    term = np.zeros((S, A, M), dtype=bool)
    goal = S - 1
    for i in range(n):
        for j in range(n):
            s = i * n + j
            for a in range(A):
                for m, (d, p) in enumerate(((a, 1 - slip), ((a + 1) % 4, slip / 2), ((a + 3) % 4, slip / 2))):
                    di, dj = MOVES[d]
                    i2, j2 = min(max(i + di, 0), n - 1), min(max(j + dj, 0), n - 1)
                    s2 = i2 * n + j2
                    prob[s, a, m], nxt[s, a, m] = p, s2
                    rew[s, a, m] = 1 if s2 == goal else cell_reward[i2, j2]
                    term[s, a, m] = s2 == goal
    init = np.zeros(S)
    init[0] = 1.0
    return TabularMDP(prob, nxt, rew, term, init, horizon)


def loop_solve(mdp: TabularMDP, objective: CVaR, sol) -> np.ndarray:
    """The same backward recursion as the solver, one (t, state, stock, action, outcome) at a time.

    Uses the solver's stock grid (``sol.grid``) and returns ``value_from_utility(c, U_0(c))`` for
    every candidate stock ``c`` in ``sol.candidate_stocks``.
    """
    grid = sol.grid
    K, S, A, M, H = grid.size, mdp.n_states, mdp.n_actions, mdp.n_outcomes, mdp.horizon
    values = grid.values().tolist()
    f = [float(objective.utility(c)) for c in values]
    prob, nxt = mdp.prob.tolist(), mdp.next_state.tolist()
    rew = np.round(mdp.reward / grid.step).astype(int).tolist()
    term = mdp.terminated.tolist()
    V = [f[:] for _ in range(S)]
    for _t in range(H):
        newV = []
        for s in range(S):
            row = []
            for k in range(K):
                best = -np.inf
                for a in range(A):
                    q = 0.0
                    for m in range(M):
                        p = prob[s][a][m]
                        if p == 0.0:
                            continue
                        k2 = min(max(k + rew[s][a][m], 0), K - 1)
                        if term[s][a][m]:
                            q += p * float(objective.utility(values[k] + grid.step * rew[s][a][m]))
                        else:
                            q += p * V[nxt[s][a][m]][k2]
                    if q > best:
                        best = q
                row.append(best)
            newV.append(row)
        V = newV
    out = []
    for c in sol.candidate_stocks:
        k = int(round(c / grid.step - grid.base_units)) - grid.offset
        eu = sum(mdp.initial[s] * V[s][k] for s in range(S))
        out.append(objective.value_from_utility(c, eu))
    return np.array(out)


def timed(fn, repeats: int) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    parser.add_argument("--loop-budget", type=float, default=60.0,
                        help="skip the loop version when its predicted time exceeds this (seconds)")
    args = parser.parse_args()
    sizes = [(3, 5), (4, 10), (5, 10), (5, 20), (7, 20), (10, 20), (10, 35), (10, 50), (20, 50), (20, 100)]
    if args.quick:
        sizes = sizes[:3]
    objective = CVaR(0.1)
    rows = []
    loop_rate = None  # seconds per unit of work, measured on the previous loop run
    print("| grid | states S | horizon H | stocks K | work H*S*K*A*M | solve (s) | peak MiB | "
          "loop (s) | loop / solve | CVaR* | c0* |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, H in sizes:
        mdp = gridworld(n, H)
        t_vec, sol = timed(lambda mdp=mdp: solve(mdp, objective), repeats=3)
        tracemalloc.start()
        solve(mdp, objective)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        K = sol.grid.size
        work = H * mdp.n_states * K * mdp.n_actions * mdp.n_outcomes
        t_loop = None
        if loop_rate is None or loop_rate * work <= args.loop_budget:
            t_loop, loop_values = timed(lambda mdp=mdp, sol=sol: loop_solve(mdp, objective, sol), repeats=1)
            np.testing.assert_allclose(loop_values, sol.candidate_values, atol=1e-9)
            loop_rate = t_loop / work
        rows.append((n, mdp.n_states, H, K, work, t_vec, peak, t_loop))
        loop_txt = f"{t_loop:.2f} | {t_loop / t_vec:.0f}x" if t_loop is not None else "- (over budget) | -"
        print(f"| {n}x{n} | {mdp.n_states} | {H} | {K} | {work:.2e} | {t_vec:.3f} | {peak:.1f} | "
              f"{loop_txt} | {sol.value:.4f} | {sol.initial_stock:g} |", flush=True)
    work = np.array([r[4] for r in rows], dtype=float)
    t_vec = np.array([r[5] for r in rows])
    big = work >= work.max() / 100  # fit on the larger sizes (fixed overheads dominate small ones)
    slope = np.polyfit(np.log(work[big]), np.log(t_vec[big]), 1)[0] if big.sum() >= 2 else float("nan")
    looped = [r for r in rows if r[7] is not None]
    ratios = [r[7] / r[5] for r in looped]
    print()
    print(f"growth exponent of solve time in the work H*S*K*A*M (sizes with work >= max/100): {slope:.2f}")
    if looped:
        lw = np.array([r[4] for r in looped], dtype=float)
        lt = np.array([r[7] for r in looped])
        lslope = np.polyfit(np.log(lw), np.log(lt), 1)[0] if len(looped) >= 2 else float("nan")
        print(f"growth exponent of loop time: {lslope:.2f}")
        print(f"loop / solve speed-up on the largest size both finished ({looped[-1][0]}x{looped[-1][0]}, "
              f"H={looped[-1][2]}, K={looped[-1][3]}): {ratios[-1]:.0f}x (target >= 50x); "
              f"min over sizes: {min(ratios):.0f}x")
    for n, _, H, K, _, t, peak, t_loop in rows:
        if (n, H) == (10, 50):
            ratio = f", loop / solve {t_loop / t:.0f}x" if t_loop is not None else ""
            print(f"target case 10x10, H=50, K={K}: {t:.2f} s (target < 10 s), peak {peak:.0f} MiB{ratio}")
    n, S, H, K, _, t, peak, _ = rows[-1]
    print(f"largest case {n}x{n}, H={H}, K={K}: {t:.2f} s, peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
