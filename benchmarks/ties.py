"""Ties of flat utilities: DηN's two tie rules on toy-text envs written by others, scored exactly.

With a 0/1 utility (``prob:1`` on FrozenLake) every learned quantile starts below the threshold,
every action scores exactly 0 and the tie rule decides what the agent does and bootstraps. For
each setting, tie rule (``random``, ``mean``) and seed this trains DηN with the env's preset
(``rdo_envs.preset(env_id)``, ``rdo_envs/presets/external.yml``) on
``rdo_envs.make_external_env(env_id, objective)``, turns its greedy policy into a tabular policy
(the action at every reachable ``(state, stock, t)`` read from the network) and scores it exactly on
the env's model (``rdo_gym.dp.evaluate``): no Monte Carlo noise. The DP optimum is
``rdo_envs.external_reference``. The ``mean`` objective is the reference agent (for 0/1 returns
it has the same optimal policy as ``prob:1``).

    python benchmarks/ties.py                                   # FrozenLake 4x4: prob:1 and mean, 3 seeds
    python benchmarks/ties.py --settings frozenlake-prob --seeds 1 --steps 5000   # smoke
    python benchmarks/ties.py --settings cliff-cvar blackjack-prob

Prints one line per run and the table (per seed, means, the ratio mean-rule / random-rule);
``--out DIR`` also writes ``runs.jsonl`` (one line per finished run; ``--resume`` skips those)
and ``table.md``. One process, one torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TIE_RULES = ("random", "mean")


@dataclass(frozen=True)
class Setting:
    """An external env (with kwargs), the training objective and the statistic reported."""

    env_id: str
    objective: str
    env_kwargs: tuple[tuple[str, object], ...] = ()
    #: The reported score: ``"p_goal"`` (P(G >= 1)) or ``"value"`` (the objective's value).
    score: str = "value"
    #: DEtaN's ``return_step`` (the lattice of the returns; ``None``: the plain utility).
    return_step: float | None = None


SETTINGS: dict[str, Setting] = {
    "frozenlake-prob": Setting("FrozenLake-v1", "prob:1", score="p_goal"),
    "frozenlake-mean": Setting("FrozenLake-v1", "mean", score="p_goal"),
    # The same event as prob:1 for integer returns (P(G >= 0.5) = P(G >= 1)), with the threshold
    # between two atoms: a learned quantile of the atom 1 counts whether it lands at 0.9999 or 1.0001.
    "frozenlake-prob-half": Setting("FrozenLake-v1", "prob:0.5", score="p_goal"),
    "cliff-cvar": Setting("CliffWalkingSlippery-v1", "cvar:0.1"),
    "blackjack-prob": Setting("Blackjack-v1", "prob:1"),
    # prob:1 scored with the lattice utility (return_step=1): the threshold compared half a step below.
    "frozenlake-prob-lattice": Setting("FrozenLake-v1", "prob:1", score="p_goal", return_step=1.0),
    "frozenlake8-prob-lattice": Setting("FrozenLake-v1", "prob:1", (("map_name", "8x8"),), score="p_goal",
                                        return_step=1.0),
    "blackjack-prob-lattice": Setting("Blackjack-v1", "prob:1", return_step=1.0),
}
DEFAULT_SETTINGS = ("frozenlake-prob", "frozenlake-mean")


def exact_score(model, env, setting: Setting, initial_stock: float) -> dict:
    """The exact law of ``G`` under the agent's greedy policy, from the env's tabular model.

    Args:
        model: The trained DηN.
        env: Its stock-augmented env (``env.unwrapped`` has ``model`` and ``observation_at``).
        setting: The setting.
        initial_stock: The agent's ``c0``.

    Returns:
        ``value`` (the objective's), ``p_goal`` (``P(G >= 1)``) and ``mean`` of the greedy policy.
    """
    from rdo_gym import make_objective
    from rdo_gym.dp import evaluate

    base, scale = env.unwrapped, env.stock_layout.scale
    cache: dict[tuple[int, float, int], int] = {}

    def policy(state: int, stock: float, t: int) -> int:
        key = (state, stock, t if base.horizon is not None else 0)
        if key not in cache:
            obs = np.append(base.observation_at(state, t if base.horizon is not None else 0),
                            np.float32(scale * stock)).astype(np.float32)
            cache[key] = int(model.predict(obs, deterministic=True)[0])
        return cache[key]

    result = evaluate(base.model, policy, make_objective(setting.objective), initial_stock=initial_stock)
    atoms, probs = result.return_distribution
    return {"value": float(result.value), "p_goal": float(probs[atoms >= 1 - 1e-9].sum()),
            "mean": float(np.dot(atoms, probs))}


def run(setting_name: str, tie_break: str, seed: int, steps: int | None) -> dict:
    """Train one DηN and score its greedy policy exactly."""
    import torch

    import rdo_envs
    from rdo_sb3 import make_model

    torch.set_num_threads(1)
    setting = SETTINGS[setting_name]
    kwargs = dict(setting.env_kwargs)
    preset = rdo_envs.preset(setting.env_id, "detan")
    steps = steps or preset.n_timesteps
    env = rdo_envs.make_external_env(setting.env_id, setting.objective, **kwargs)
    start, cpu = time.perf_counter(), time.process_time()
    model = make_model(preset, env, objective=setting.objective, seed=seed, tie_break=tie_break,
                       return_step=setting.return_step)
    model.learn(steps)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    first, _ = env.reset(seed=10_000 + seed)
    c0, _ = model.choose_initial_stock(first)
    ref = rdo_envs.external_reference(setting.env_id, setting.objective, **kwargs)
    goal_ref = rdo_envs.external_reference(setting.env_id, "prob:1", **kwargs) if setting.score == "p_goal" else ref
    score = exact_score(model, env, setting, float(c0))
    reported = score[setting.score]
    return {"setting": setting_name, "tie_break": tie_break, "seed": seed, "steps": steps,
            "env_id": setting.env_id, "objective": setting.objective, "initial_stock": float(c0),
            **score, "score": reported, "optimum": goal_ref.optimum,
            "fraction_of_optimum": reported / goal_ref.optimum if goal_ref.optimum else float("nan"),
            "normalized": ref.normalized(score["value"]), "risk_neutral": ref.risk_neutral,
            "train_wall_s": wall, "train_cpu_s": cpu}


def table(runs: list[dict]) -> str:
    """Per setting and tie rule: the score per seed and its mean; then the ratio of the two rules."""
    lines = ["| setting | objective | tie rule | score per seed | mean | DP optimum | mean / optimum | "
             "train wall s (mean) |", "|---|---|---|---|---|---|---|---|"]
    means: dict[tuple[str, str], float] = {}
    for name in SETTINGS:
        for rule in TIE_RULES:
            mine = sorted((r for r in runs if r["setting"] == name and r["tie_break"] == rule), key=lambda r: r["seed"])
            if not mine:
                continue
            scores = np.array([r["score"] for r in mine])
            means[name, rule] = float(scores.mean())
            stat = "P(goal)" if SETTINGS[name].score == "p_goal" else "value"
            lines.append(f"| {name} | `{mine[0]['objective']}` | {rule} | {stat} "
                         + ", ".join(f"{s:.3f}" for s in scores) + f" | {scores.mean():.3f} | "
                         f"{mine[0]['optimum']:.3f} | {scores.mean() / mine[0]['optimum']:.3f} | "
                         f"{np.mean([r['train_wall_s'] for r in mine]):.0f} |")
    ratios = [f"| {name} | {means[name, 'mean'] / means[name, 'random']:.2f} |" if means[name, "random"]
              else f"| {name} | inf (random rule: {means[name, 'random']:.3f}) |"
              for name in SETTINGS if (name, "mean") in means and (name, "random") in means]
    if ratios:
        lines += ["", "| setting | score of tie rule 'mean' / score of 'random' |", "|---|---|", *ratios]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--tie-rules", nargs="+", default=list(TIE_RULES), choices=list(TIE_RULES))
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (first-seed, first-seed + 1, ...)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: the preset's)")
    parser.add_argument("--out", type=Path, default=None, help="write runs.jsonl and table.md here")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out/runs.jsonl")
    args = parser.parse_args(argv)
    runs: list[dict] = []
    log = None
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        log = args.out / "runs.jsonl"
        if args.resume and log.exists():
            runs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        else:
            log.write_text("")
    done = {(r["setting"], r["tie_break"], r["seed"], r["steps"]) for r in runs}
    start = time.perf_counter()
    for name in args.settings:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for rule in args.tie_rules:
                import rdo_envs

                steps = args.steps or rdo_envs.preset(SETTINGS[name].env_id).n_timesteps
                if (name, rule, seed, steps) in done:
                    continue
                r = run(name, rule, seed, args.steps)
                print(f"[{time.perf_counter() - start:6.0f}s] {name:16s} tie={rule:6s} seed {seed}: "
                      f"score {r['score']:.3f} ({r['fraction_of_optimum']:.3f} of the DP optimum "
                      f"{r['optimum']:.3f}), value {r['value']:.3f}, c0 {r['initial_stock']:g}; "
                      f"{r['steps']} steps in {r['train_wall_s']:.0f}s wall, {r['train_cpu_s']:.0f}s CPU", flush=True)
                runs.append(r)
                if log is not None:
                    with log.open("a") as f:
                        f.write(json.dumps(r) + "\n")
    wanted = set(args.settings)
    text = table([r for r in runs if r["setting"] in wanted])
    print(text)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"total: {time.perf_counter() - start:.0f}s wall, {usage.ru_utime + usage.ru_stime:.0f}s CPU", flush=True)
    if args.out is not None:
        command = "python benchmarks/ties.py " + " ".join(argv if argv is not None else sys.argv[1:])
        (args.out / "table.md").write_text(f"Command: `{command.strip()}`\n\n{text}\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
