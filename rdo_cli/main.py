"""The ``rdo`` command: ``demo``, ``train``, ``evaluate``, ``solve``, ``plot``.

    rdo demo                                            # DηN vs the exact CVaR optimum, a few minutes
    rdo train rdo/CVaRGrid-v0 -o cvar:0.1 --hyperparams relabel_stocks=true
    rdo train --resume runs/CVaRGrid-v0-detan-cvar_0.1-seed0
    rdo evaluate runs/CVaRGrid-v0-detan-cvar_0.1-seed0
    rdo solve FrozenLake-v1 -o prob:1
    rdo plot runs/A runs/B --out returns.png

Every failure (unknown env id, malformed objective, missing run folder, a bad option value...)
prints one line ``rdo: error: ...`` on stderr and exits with status 2; ``--debug`` adds the
traceback. A training stopped by SIGINT/SIGTERM is saved and exits with ``128 + signal``.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import traceback
import warnings
from pathlib import Path

from rdo_cli.config import ALGOS, DEVICES, TrainingOptions, parse_hyperparams, parse_objective
from rdo_cli.errors import CliError, Interrupted
from rdo_cli.formatting import one_line

__all__ = ["main", "build_parser"]

_SPECS = ("Objective specs: mean, cvar:ALPHA (0 < ALPHA <= 1), target:G, prob:T (P(G >= T)), "
          "homeostasis:SETPOINT[:INITIAL].")
# A negative number, also in exponent form (-1e3) or -inf: a value, not an option (argparse only
# knows -1 and -1.5).
_NEGATIVE_NUMBER = re.compile(r"^-(?:(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d+)?|inf(?:inity)?)$", re.I)


class _UsageError(CliError):
    """A command line argparse refuses."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (raised, printed by :func:`main`) and negative numbers such
    as ``-1e3`` read as values."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str):
        raise _UsageError(message)


def _whole(low: int):
    """argparse type: a whole number >= ``low``, also written ``1e5`` or ``100_000`` (not ``1.5``)."""
    def parse(text: str) -> int:
        try:
            value = float(text)  # also 1e5 and 100_000
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number (e.g. 100000, 1e5 or 100_000), got {text!r}") \
                from None
        if not math.isfinite(value) or not value.is_integer():
            raise argparse.ArgumentTypeError(f"expected a whole number (e.g. 100000, 1e5 or 100_000), got {text!r}")
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        return int(value)
    return parse


def _number(text: str) -> float:
    """argparse type: a real number (``-1e3``, ``0.5``...)."""
    try:
        return float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _add_globals(p: argparse.ArgumentParser, top: bool) -> None:
    """``--threads`` and ``--debug``, accepted before and after the command name."""
    default = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    p.add_argument("--threads", type=_whole(1), default=default(1), metavar="N",
                   help="torch CPU threads (default 1: the fastest for these small networks on the CPU)")
    p.add_argument("--debug", action="store_true", default=default(False),
                   help="on an error, print the full traceback above the one-line message")


def _add_common_eval(p: argparse.ArgumentParser, episodes: int) -> None:
    p.add_argument("--episodes", type=_whole(2), default=episodes, metavar="N",
                   help=f"Monte Carlo episodes, at least 2 (default {episodes})")
    p.add_argument("--seed", type=_whole(0), default=0, help="seed of the first evaluation episode (default 0)")
    p.add_argument("-o", "--objective", default=None, metavar="SPEC",
                   help="evaluate (and let DηN act) on this objective instead of the run's, e.g. target:4")


def _epilog(*examples: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in examples) + "\n\n" + _SPECS


_TRAIN_DESCRIPTION = """\
Train with the env's preset (rdo_envs/presets/ALGO.yml) and save a run folder (model.zip, run.yml,
monitor.csv, progress.csv, train.log) for 'rdo evaluate' and 'rdo plot'.

The run folder is saved every --checkpoint-every steps, at the end, when training fails and on
SIGTERM/SIGINT; 'rdo train --resume RUN' continues it. torch uses one CPU thread unless --threads N
is given (the fastest for these small networks)."""


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train DηN (or QR-DQN) on an env for an objective",
                       description=_TRAIN_DESCRIPTION,
                       epilog=_epilog("rdo train rdo/CVaRGrid-v0 -o cvar:0.1 -n 1e5 --seed 1",
                                      "rdo train mypkg:MyEnv-v0 -o target:10 --eval-freq 5000",
                                      "rdo train --resume runs/CVaRGrid-v0-detan-cvar_0.1-seed1"))
    _add_globals(p, top=False)
    p.add_argument("env_id", nargs="?", default=None, metavar="ENV_ID",
                   help="a Gymnasium id, e.g. rdo/CVaRGrid-v0, CartPole-v1, FrozenLake-v1, or module:Id for an "
                   "env registered by importing module (not with --resume)")
    p.add_argument("-o", "--objective", default=None, metavar="SPEC",
                   help="objective spec, e.g. cvar:0.1 (required, except with --resume)")
    p.add_argument("--algo", choices=ALGOS, default="detan",
                   help="detan (stock-augmented, acts on the objective) or qrdqn (plain QR-DQN, the mean)")
    p.add_argument("-n", "--timesteps", type=_whole(1), default=None, metavar="N",
                   help="total env steps, e.g. 100000, 1e5 or 100_000 (default: the preset's, or 1e5; with "
                   "--resume: a new total)")
    p.add_argument("--seed", type=_whole(0), default=0, help="seed of the model and of its envs (default 0)")
    p.add_argument("-f", "--out", type=Path, default=None, metavar="DIR",
                   help="run folder (default runs/ENV-ALGO-OBJECTIVE-seedSEED)")
    p.add_argument("--resume", type=Path, default=None, metavar="RUN",
                   help="continue the run saved in this folder to its total steps (run.yml's, or -n)")
    p.add_argument("--hyperparams", nargs="+", metavar="KEY=VALUE", default=[],
                   help="override preset entries, values in YAML: learning_rate=1e-3 "
                   "'policy_kwargs={net_arch: [64, 64]}' relabel_stocks=true")
    p.add_argument("--no-preset", action="store_true", help="start from the algorithm's defaults, not the preset")
    p.add_argument("--stock-range", type=_number, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="initial stocks sampled in training, finite, e.g. -1e3 0 (default: the benchmark's; for "
                   "other envs the objective's fixed c0; required for cvar)")
    p.add_argument("--stock-scale", type=_number, default=None, help="factor on the stock in the observation")
    p.add_argument("--gamma", type=_number, default=None, help="discount in (0, 1] (default: the benchmark's, else 1)")
    p.add_argument("--env-kwargs", nargs="+", metavar="KEY=VALUE", default=[], help="gym.make keyword arguments")
    p.add_argument("--n-envs", type=_whole(1), default=1, metavar="N",
                   help="training envs stepped together (SB3 DummyVecEnv; default 1)")
    p.add_argument("--device", choices=DEVICES, default="cpu",
                   help="torch device (default cpu: the fastest for these small networks; auto picks cuda when "
                   "available)")
    p.add_argument("--checkpoint-every", type=_whole(0), default=None, metavar="N",
                   help="save the run folder every N steps (default: every 10%% of the run, at most every 10000 "
                   "steps; 0: only at the end, on an error and on SIGTERM/SIGINT)")
    p.add_argument("--save-replay-buffer", action="store_true",
                   help="checkpoints include the replay buffer (replay_buffer.pkl), so that --resume continues "
                   "with it")
    p.add_argument("--eval-freq", type=_whole(0), default=0, metavar="N",
                   help="evaluate the objective every N steps (stdout and training_evaluations.csv; default 0: "
                   "never)")
    p.add_argument("--eval-episodes", type=_whole(2), default=100, metavar="N",
                   help="episodes of each --eval-freq evaluation (default 100)")
    p.add_argument("--tensorboard-log", type=Path, default=None, metavar="DIR",
                   help="also log to TensorBoard, in DIR/RUN_FOLDER_NAME")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or evaluation lines")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rdo", description="Optimize what you care about in the return distribution: DηN, "
                     "exact distributional DP and benchmarks.",
                     epilog=_epilog("rdo demo", "rdo solve rdo/CVaRGrid-v0 -o cvar:0.1",
                                    "rdo train rdo/CVaRGrid-v0 -o cvar:0.1 --threads 2",
                                    "rdo evaluate runs/CVaRGrid-v0-detan-cvar_0.1-seed0"))
    _add_globals(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="train DηN on the CVaR benchmark and compare it with the exact optimum",
                       description="Solve rdo/CVaRGrid-v0 exactly, train DηN (stock relabelling, the preset), "
                       "evaluate it and the baselines, print a table and plot the return distributions.",
                       epilog=_epilog("rdo demo", "rdo demo --alpha 0.25 -n 2e4 --out my-demo"))
    _add_globals(p, top=False)
    p.add_argument("--alpha", type=float, default=0.1, choices=(0.05, 0.1, 0.25), help="CVaR level (default 0.1)")
    p.add_argument("-n", "--timesteps", type=_whole(1), default=None, metavar="N",
                   help="env steps, e.g. 1e5 (default: the preset's, 100k)")
    p.add_argument("--seed", type=_whole(0), default=0, help="seed of the model (default 0)")
    p.add_argument("--episodes", type=_whole(2), default=2000, metavar="N", help="evaluation episodes (default 2000)")
    p.add_argument("--out", type=Path, default=Path("rdo-demo"), help="run folder (default ./rdo-demo)")

    _add_train(sub)

    p = sub.add_parser("evaluate", help="Monte Carlo value of a saved run, against the DP optimum if known",
                       description="Evaluate a run folder's model on its objective (or -o's); the result is "
                       "also written to evaluation.yml and evaluation.csv in the run folder.",
                       epilog=_epilog("rdo evaluate runs/CVaRGrid-v0-detan-cvar_0.1-seed0 --episodes 5000",
                                      "rdo evaluate runs/tg4 -o target:8 --json"))
    _add_globals(p, top=False)
    p.add_argument("run", type=Path, help="a run folder written by 'rdo train' (or its model.zip)")
    _add_common_eval(p, 1000)
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--no-save", action="store_true", help="do not write evaluation.yml/.csv into the run folder")

    p = sub.add_parser("solve", help="exact DP optimum and policy summary of a tabular env",
                       epilog=_epilog("rdo solve rdo/CVaRGrid-v0 -o cvar:0.1",
                                      "rdo solve FrozenLake-v1 -o prob:1 --horizon 30"),
                       description="rdo/ benchmarks and Gymnasium toy-text envs with a transition table "
                       "(FrozenLake-v1, Taxi, CliffWalking); the TimeLimit is the horizon.")
    _add_globals(p, top=False)
    p.add_argument("env_id", metavar="ENV_ID",
                   help="a tabular Gymnasium id (rdo/ benchmark or toy-text env), or module:Id")
    p.add_argument("-o", "--objective", required=True, metavar="SPEC", help="objective spec, e.g. prob:1, cvar:0.1")
    p.add_argument("--horizon", type=_whole(1), default=None,
                   help="override a toy-text env's time limit (benchmarks: --env-kwargs horizon=H)")
    p.add_argument("--env-kwargs", nargs="+", metavar="KEY=VALUE", default=[], help="gym.make keyword arguments")

    p = sub.add_parser("plot", help="return-distribution CDFs of saved runs against the optimum (PNG)",
                       epilog=_epilog("rdo plot runs/A runs/B --labels DηN QR-DQN --out returns.png"))
    _add_globals(p, top=False)
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run folders (same env)")
    p.add_argument("--out", type=Path, default=Path("returns.png"),
                   help="image file, .png (default returns.png), .pdf or .svg")
    p.add_argument("--labels", nargs="+", default=None, help="one label per run (default: the folder names)")
    _add_common_eval(p, 1000)
    return parser


def _demo(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli.demo import run_demo

    run_demo(alpha=args.alpha, timesteps=args.timesteps, seed=args.seed, episodes=args.episodes, out=args.out)


# Options that --resume takes from run.yml: giving them with it is an error.
_FIXED_BY_RUN = ("env_id", "objective", "algo", "seed", "out", "hyperparams", "no_preset", "stock_range",
                 "stock_scale", "gamma", "env_kwargs", "n_envs", "device", "checkpoint_every",
                 "save_replay_buffer", "eval_freq", "eval_episodes", "tensorboard_log", "force")


def _option_name(dest: str) -> str:
    return {"env_id": "ENV_ID", "objective": "-o/--objective", "out": "-f/--out"}.get(
        dest, "--" + dest.replace("_", "-"))


def _train(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli.provenance import command_line
    from rdo_cli.train import resume, train

    if args.resume is not None:
        defaults = vars(build_parser().parse_args(["train"]))
        given = [d for d in _FIXED_BY_RUN if getattr(args, d) != defaults[d]]
        if given:
            raise CliError(f"--resume continues the run as recorded in its run.yml: drop {_option_name(given[0])} "
                           "(only -n/--timesteps, -q and --threads go with --resume)")
        config, _, folder = resume(args.resume, timesteps=args.timesteps, command=command_line(argv),
                                   progress=not args.quiet)
    else:
        if args.env_id is None:
            raise CliError("the following arguments are required: ENV_ID (or --resume RUN)")
        if args.objective is None:
            raise CliError("the following arguments are required: -o/--objective")
        steps = args.timesteps
        options = TrainingOptions(n_envs=args.n_envs, device=args.device, save_replay_buffer=args.save_replay_buffer,
                                  eval_freq=args.eval_freq, eval_episodes=args.eval_episodes,
                                  tensorboard_log=None if args.tensorboard_log is None else str(args.tensorboard_log),
                                  checkpoint_every=args.checkpoint_every)
        config, _, folder = train(args.env_id, args.objective, algo=args.algo, timesteps=steps,
                                  seed=args.seed, out=args.out, overrides=parse_hyperparams(args.hyperparams),
                                  use_preset=not args.no_preset, stock_range=args.stock_range,
                                  stock_scale=args.stock_scale, gamma=args.gamma,
                                  env_kwargs=parse_hyperparams(args.env_kwargs, "--env-kwargs"), training=options,
                                  command=command_line(argv), force=args.force, progress=not args.quiet)
    print(f"trained {config.algo} on {config.env_id} for {config.objective}: {config.steps_done} steps "
          f"({config.train_seconds:.0f} s of training) -> {folder}")
    print(f"next: rdo evaluate {folder}")


def _objective_option(args: argparse.Namespace):
    return None if args.objective is None else parse_objective(args.objective)


def _evaluate(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli.evaluate import evaluate_command

    print(evaluate_command(args.run, episodes=args.episodes, seed=args.seed, objective=_objective_option(args),
                           as_json=args.json, save=not args.no_save))


def _solve(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli.solve import format_solution, solve_env

    env, mdp, ref = solve_env(args.env_id, args.objective, horizon=args.horizon,
                              env_kwargs=parse_hyperparams(args.env_kwargs, "--env-kwargs"))
    print(format_solution(args.env_id, env, mdp, ref))


def _plot(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli.plot import plot_runs

    plot_runs(args.runs, args.out, labels=args.labels, episodes=args.episodes, seed=args.seed,
              objective=_objective_option(args))


_COMMANDS = {"demo": _demo, "train": _train, "evaluate": _evaluate, "solve": _solve, "plot": _plot}


def _fail(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"rdo: error: {one_line(message)}", file=sys.stderr)
    return 2


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings (the libraries', e.g. DηN's c0 at the edge of its range) as one line each."""
    print(f"rdo: warning: {one_line(str(message))}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rdo`` console script; returns the exit status."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as err:
        return _fail(str(err), False)
    debug = args.debug
    import torch

    torch.set_num_threads(args.threads)
    try:
        _COMMANDS[args.command](args, argv)
    except CliError as err:
        return _fail(str(err), debug)
    except Interrupted as err:
        print(f"rdo: interrupted by {err.signal_name}: {one_line(str(err))}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        print("rdo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rdo solve ... | head`: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as err:  # a bug or an unforeseen failure: still one line (the traceback with --debug)
        hint = "" if debug else " (run with --debug for the traceback)"
        return _fail(f"{type(err).__name__}: {err}{hint}", debug)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
