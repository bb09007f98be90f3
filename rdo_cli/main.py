"""The ``rdo`` command: ``demo``, ``train``, ``evaluate``, ``solve``, ``plot``.

    rdo demo                                            # DηN vs the exact CVaR optimum, a few minutes
    rdo train rdo/CVaRGrid-v0 -o cvar:0.1 --hyperparams relabel_stocks=true
    rdo evaluate runs/CVaRGrid-v0-detan-cvar_0.1-seed0
    rdo solve FrozenLake-v1 -o prob:1
    rdo plot runs/A runs/B --out returns.png

User errors (unknown env id, malformed objective, missing run folder...) print one line
``rdo: error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rdo_cli.config import ALGOS, parse_hyperparams, parse_objective
from rdo_cli.errors import CliError

__all__ = ["main", "build_parser"]

_EPILOG = ("Objective specs: mean, cvar:ALPHA (0 < ALPHA <= 1), target:G, prob:T (P(G >= T)), "
           "homeostasis:SETPOINT[:INITIAL].")


def _at_least(low: int):
    """argparse type: an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    return parse


def _add_common_eval(p: argparse.ArgumentParser, episodes: int) -> None:
    p.add_argument("--episodes", type=_at_least(2), default=episodes,
                   help=f"Monte Carlo episodes, at least 2 (default {episodes})")
    p.add_argument("--seed", type=_at_least(0), default=0, help="seed of the evaluation episodes (default 0)")
    p.add_argument("-o", "--objective", default=None,
                   help="evaluate (and let DηN act) on this objective instead of the run's, e.g. target:4")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rdo", description="Optimize what you care about in the return "
                                     "distribution: DηN, exact distributional DP and benchmarks.",
                                     epilog=_EPILOG)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: fastest for these small networks)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="train DηN on the CVaR benchmark and compare it with the exact optimum",
                       description="Solve rdo/CVaRGrid-v0 exactly, train DηN (stock relabelling, the preset), "
                       "evaluate it and the baselines, print a table and plot the return distributions.")
    p.add_argument("--alpha", type=float, default=0.1, choices=(0.05, 0.1, 0.25), help="CVaR level (default 0.1)")
    p.add_argument("-n", "--timesteps", type=_at_least(1), default=None, help="env steps (default: the preset's, 100k)")
    p.add_argument("--seed", type=_at_least(0), default=0)
    p.add_argument("--episodes", type=_at_least(2), default=2000, help="evaluation episodes (default 2000)")
    p.add_argument("--out", type=Path, default=Path("rdo-demo"), help="run folder (default ./rdo-demo)")

    p = sub.add_parser("train", help="train DηN (or QR-DQN) on an env for an objective", epilog=_EPILOG,
                       description="Train with the env's preset (rdo_envs/presets/ALGO.yml) and save a run folder "
                       "(model.zip + run.yml) for 'rdo evaluate' and 'rdo plot'.")
    p.add_argument("env_id", help="a Gymnasium id, e.g. rdo/CVaRGrid-v0, CartPole-v1, FrozenLake-v1")
    p.add_argument("-o", "--objective", required=True, help="objective spec, e.g. cvar:0.1")
    p.add_argument("--algo", choices=ALGOS, default="detan",
                   help="detan (stock-augmented, acts on the objective) or qrdqn (plain QR-DQN, the mean)")
    p.add_argument("-n", "--timesteps", type=float, default=None, help="env steps (default: the preset's, or 1e5)")
    p.add_argument("--seed", type=_at_least(0), default=0)
    p.add_argument("-f", "--out", type=Path, default=None,
                   help="run folder (default runs/ENV-ALGO-OBJECTIVE-seedSEED)")
    p.add_argument("--hyperparams", nargs="+", metavar="KEY=VALUE", default=[],
                   help="override preset entries, values in YAML: learning_rate=1e-3 "
                   "'policy_kwargs={net_arch: [64, 64]}' relabel_stocks=true")
    p.add_argument("--no-preset", action="store_true", help="start from the algorithm's defaults, not the preset")
    p.add_argument("--stock-range", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="initial stocks sampled in training (default: the benchmark's; for other envs the "
                   "objective's fixed c0 — required for cvar)")
    p.add_argument("--stock-scale", type=float, default=None, help="factor on the stock in the observation")
    p.add_argument("--gamma", type=float, default=None, help="discount (default: the benchmark's, else 1)")
    p.add_argument("--env-kwargs", nargs="+", metavar="KEY=VALUE", default=[], help="gym.make keyword arguments")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    p = sub.add_parser("evaluate", help="Monte Carlo value of a saved run, against the DP optimum if known",
                       epilog=_EPILOG)
    p.add_argument("run", type=Path, help="a run folder written by 'rdo train' (or its model.zip)")
    _add_common_eval(p, 1000)
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")

    p = sub.add_parser("solve", help="exact DP optimum and policy summary of a tabular env", epilog=_EPILOG,
                       description="rdo/ benchmarks and Gymnasium toy-text envs with a transition table "
                       "(FrozenLake-v1, Taxi, CliffWalking); the TimeLimit is the horizon.")
    p.add_argument("env_id")
    p.add_argument("-o", "--objective", required=True, help="objective spec, e.g. prob:1, cvar:0.1")
    p.add_argument("--horizon", type=_at_least(1), default=None,
                   help="override a toy-text env's time limit (benchmarks: --env-kwargs horizon=H)")
    p.add_argument("--env-kwargs", nargs="+", metavar="KEY=VALUE", default=[], help="gym.make keyword arguments")

    p = sub.add_parser("plot", help="return-distribution CDFs of saved runs against the optimum (PNG)",
                       epilog=_EPILOG)
    p.add_argument("runs", type=Path, nargs="+", help="run folders (same env)")
    p.add_argument("--out", type=Path, default=Path("returns.png"), help="PNG file (default returns.png)")
    p.add_argument("--labels", nargs="+", default=None, help="one label per run (default: the folder names)")
    _add_common_eval(p, 1000)
    return parser


def _demo(args: argparse.Namespace) -> None:
    from rdo_cli.demo import run_demo

    run_demo(alpha=args.alpha, timesteps=args.timesteps, seed=args.seed, episodes=args.episodes, out=args.out)


def _train(args: argparse.Namespace) -> None:
    from rdo_cli.train import train

    config, _, folder = train(args.env_id, args.objective, algo=args.algo, timesteps=args.timesteps,
                              seed=args.seed, out=args.out, overrides=parse_hyperparams(args.hyperparams),
                              use_preset=not args.no_preset, stock_range=args.stock_range,
                              stock_scale=args.stock_scale, gamma=args.gamma,
                              env_kwargs=parse_hyperparams(args.env_kwargs), force=args.force,
                              progress=not args.quiet)
    print(f"trained {config.algo} on {config.env_id} for {config.objective}: {config.timesteps} steps in "
          f"{config.train_seconds:.0f} s -> {folder}")
    print(f"next: rdo evaluate {folder}")


def _objective_option(args: argparse.Namespace):
    return None if args.objective is None else parse_objective(args.objective)


def _evaluate(args: argparse.Namespace) -> None:
    from rdo_cli.evaluate import evaluate_command

    print(evaluate_command(args.run, episodes=args.episodes, seed=args.seed, objective=_objective_option(args),
                           as_json=args.json))


def _solve(args: argparse.Namespace) -> None:
    from rdo_cli.solve import format_solution, solve_env

    env, mdp, ref = solve_env(args.env_id, args.objective, horizon=args.horizon,
                              env_kwargs=parse_hyperparams(args.env_kwargs))
    print(format_solution(args.env_id, env, mdp, ref))


def _plot(args: argparse.Namespace) -> None:
    from rdo_cli.plot import plot_runs

    plot_runs(args.runs, args.out, labels=args.labels, episodes=args.episodes, seed=args.seed,
              objective=_objective_option(args))


_COMMANDS = {"demo": _demo, "train": _train, "evaluate": _evaluate, "solve": _solve, "plot": _plot}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rdo`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    import torch

    torch.set_num_threads(args.threads)
    try:
        _COMMANDS[args.command](args)
    except CliError as err:
        print(f"rdo: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rdo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rdo solve ... | head`: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
