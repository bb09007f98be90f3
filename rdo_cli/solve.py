"""`rdo solve`: the exact optimum of a tabular env for an objective, with a policy summary."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rdo_cli.config import check_env_id, is_benchmark, parse_objective
from rdo_cli.envs import check_objective_for_env, make_plain_env, tabular_model, unreachable_warning
from rdo_cli.errors import CliError
from rdo_cli.formatting import num, plural
from rdo_gym.dp import ExactReference, TabularMDP, exact_reference

__all__ = ["solve_env", "format_solution", "sample_episode"]

_FROZEN_LAKE_ARROWS = "<v>^"  # FrozenLake's actions: 0 left, 1 down, 2 right, 3 up


def solve_env(env_id: str, objective: str, *, horizon: int | None = None,
              env_kwargs: dict[str, Any] | None = None) -> tuple[gym.Env, TabularMDP, ExactReference]:
    """Build `env_id`'s exact model and solve it; CliError if it has none or the DP refuses it.

    Args:
        env_id: A Gymnasium id with a tabular model.
        objective: The objective spec.
        horizon: Overrides a toy-text env's time limit.
        env_kwargs: `gym.make` keyword arguments.

    Returns:
        `(env, mdp, reference)`.
    """
    check_env_id(env_id)
    obj = parse_objective(objective)
    if horizon is not None and horizon < 1:
        raise CliError(f"--horizon must be a positive integer, got {horizon}")
    if horizon is not None and is_benchmark(env_id):
        raise CliError(f"--horizon {horizon}: {env_id} has its horizon as an env argument: use --env-kwargs "
                       f"horizon={horizon} "
                       "(so that the env and its exact model change together)")
    env = make_plain_env(env_id, env_kwargs)
    check_objective_for_env(env, obj)
    mdp = tabular_model(env, horizon)
    if mdp is None:
        raise CliError(f"{env_id} has no exact tabular model (an rdo/ benchmark or a toy-text env with a "
                       "transition table P, such as FrozenLake-v1, Taxi, CliffWalking)")
    warning = unreachable_warning(obj, mdp)
    if warning:
        import sys

        print(f"rdo: warning: {warning}", file=sys.stderr)
    try:
        ref = exact_reference(mdp, obj)
    except (ValueError, MemoryError) as err:
        hint = " (here: pass --horizon H)" if mdp.horizon is None and "horizon" in str(err) else ""
        raise CliError(f"the exact DP cannot solve {env_id} for {obj}: {err}{hint}") from None
    return env, mdp, ref


def sample_episode(mdp: TabularMDP, ref: ExactReference, seed: int = 0,
                   max_steps: int = 100) -> list[tuple[int, float, int, float]]:
    """`(state, stock, action, reward)` of one episode of the optimal policy drawn from the exact model.

    Args:
        mdp: The model.
        ref: Its exact reference (with the optimal solution).
        seed: The seed of the draw.
        max_steps: The most steps drawn without a horizon.
    """
    rng = np.random.default_rng(seed)
    policy = ref.solution.policy
    s, stock = int(rng.choice(mdp.n_states, p=mdp.initial)), ref.initial_stock
    steps = mdp.horizon if mdp.horizon is not None else max_steps
    path = []
    for t in range(min(steps, max_steps)):
        a = policy.action(s, stock, t)
        m = int(rng.choice(mdp.n_outcomes, p=mdp.prob[s, a]))
        r = float(mdp.reward[s, a, m])
        path.append((s, stock, a, r))
        stock += r
        if mdp.terminated[s, a, m]:
            break
        s = int(mdp.next_state[s, a, m])
    return path


def _episode_lines(path: list[tuple[int, float, int, float]], max_lines: int = 20) -> list[str]:
    """One line per step, runs of identical steps (e.g. slipping in place) on one line."""
    lines, t = [], 0
    while t < len(path):
        end = t
        while end + 1 < len(path) and path[end + 1] == path[t]:
            end += 1
        s, c, a, r = path[t]
        when = f"{t}" if end == t else f"{t}-{end}"
        lines.append(f"  {when}: state {s}, stock {num(c)} -> action {a}, reward {num(r)}")
        t = end + 1
    if len(lines) > max_lines:
        lines = [*lines[:max_lines - 1], f"  ... ({len(lines) - max_lines + 1} more lines, to step {len(path) - 1})"]
    return lines


def _action_map(env: gym.Env, mdp: TabularMDP, ref: ExactReference) -> list[str]:
    """FrozenLake-style maps: the optimal first action of every cell at `t = 0`, stock `c0`."""
    desc = getattr(env.unwrapped, "desc", None)
    if desc is None or np.asarray(desc).size != mdp.n_states:
        return []
    desc = np.asarray(desc).astype(str)
    arrows = _FROZEN_LAKE_ARROWS if "FrozenLake" in type(env.unwrapped).__name__ else "0123456789"
    rows = []
    for i, row in enumerate(desc):
        cells = []
        for j, ch in enumerate(row):
            if ch in "HG":
                cells.append(ch)
                continue
            try:
                cells.append(arrows[ref.solution.policy.action(i * desc.shape[1] + j, ref.initial_stock, 0)])
            except ValueError:  # stock outside the part of the grid the DP solved for this cell
                cells.append("?")
        rows.append(" ".join(cells))
    return ["", f"optimal first action per cell (t = 0, stock c0 = {num(ref.initial_stock)}; "
            f"{'< left, v down, > right, ^ up' if arrows == _FROZEN_LAKE_ARROWS else 'action index'}; "
            "H hole, G goal):", *("  " + r for r in rows)]


def format_solution(env_id: str, env: gym.Env, mdp: TabularMDP, ref: ExactReference, max_path: int = 100) -> str:
    """The terminal report of `rdo solve`.

    Args:
        env_id: The env id.
        env: The env.
        mdp: Its model.
        ref: Its exact reference.
        max_path: The most steps of the sampled episode.
    """
    obj = ref.objective
    atoms, probs = ref.solution.return_distribution
    order = np.argsort(atoms)
    atoms, probs = atoms[order], probs[order]
    mean = float(atoms @ probs)
    better = "higher" if obj.higher_is_better else "lower"
    lines = [f"{env_id}: {plural(mdp.n_states, 'state')}, {plural(mdp.n_actions, 'action')}, horizon {mdp.horizon}",
             f"objective         {obj}  ({better} is better)",
             f"DP optimum        {num(ref.optimum, '.6g')}   (initial stock c0 = {num(ref.initial_stock)})",
             f"risk-neutral      {num(ref.risk_neutral, '.6g')}   (the policy maximizing E[G])"]
    if ref.naive is not None:
        lines.append(f"naive (no stock)  {num(ref.naive, '.6g')}   (CVaR of the return-to-go at every step)")
    lines += ["", f"return distribution of the optimal policy: mean {num(mean, '.4g')}, {plural(atoms.size, 'atom')}"]
    top = np.sort(np.argsort(probs)[::-1][:12])
    lines += [f"  P(G = {num(atoms[i])}) = {probs[i]:.4g}" for i in top]
    if atoms.size > top.size:
        lines.append(f"  ... ({atoms.size - top.size} less likely {'atom' if atoms.size - top.size == 1 else 'atoms'})")
    path = sample_episode(mdp, ref, seed=0, max_steps=max_path)
    g = sum(step[3] for step in path)
    lines += ["", f"one episode of the optimal policy (drawn from the model, seed 0; return {num(g)}; "
              "t: state, stock -> action, reward):", *_episode_lines(path)]
    lines += _action_map(env, mdp, ref)
    return "\n".join(lines)
