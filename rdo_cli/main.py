"""The `rdo` command: `demo`, `train`, `tune`, `evaluate`, `solve`, `plot`.

    rdo demo                                            # DηN vs the exact CVaR optimum, a few minutes
    rdo train rdo/CVaRGrid-v0 -o cvar:0.1 --hyperparams relabel_stocks=true
    rdo train --resume runs/CVaRGrid-v0-detan-cvar_0.1-seed0
    rdo tune rdo/CVaRGrid-v0 -o cvar:0.1 --n-trials 20
    rdo train rdo/CVaRGrid-v0 --preset runs/tune/CVaRGrid-v0-detan-cvar_0.1/best.yml
    rdo evaluate runs/CVaRGrid-v0-detan-cvar_0.1-seed0
    rdo solve FrozenLake-v1 -o prob:1
    rdo plot runs/A runs/B --out returns.png

Every failure (unknown env id, malformed objective, missing run folder, a bad option value...)
prints one line `rdo: error: ...` on stderr and exits with status 2; `--debug` adds the
traceback. A training stopped by SIGINT/SIGTERM is saved and exits with `128 + signal`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

from rdo_cli.config import TrainingOptions, parse_hyperparams, parse_objective
from rdo_cli.errors import CliError, Interrupted
from rdo_cli.formatting import one_line
from rdo_cli.parser import UsageError, build_parser

__all__ = ["main", "build_parser"]


def _demo(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli.demo import run_demo

    run_demo(alpha=args.alpha, timesteps=args.timesteps, seed=args.seed, episodes=args.episodes, out=args.out)


# Options that --resume takes from run.yml: giving them with it is an error.
_FIXED_BY_RUN = ("env_id", "objective", "algo", "seed", "out", "hyperparams", "no_preset", "preset", "stock_range",
                 "stock_scale", "stock_representation", "gamma", "env_kwargs", "n_envs", "device", "checkpoint_every",
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
        overrides = parse_hyperparams(args.hyperparams)
        use_preset = not args.no_preset
        if args.preset is not None:
            _apply_preset_file(args, overrides)
            use_preset = False  # the file's entry is the whole preset
        if args.objective is None:
            raise CliError("the following arguments are required: -o/--objective")
        steps = args.timesteps
        options = TrainingOptions(n_envs=args.n_envs, device=args.device, save_replay_buffer=args.save_replay_buffer,
                                  eval_freq=args.eval_freq, eval_episodes=args.eval_episodes,
                                  tensorboard_log=None if args.tensorboard_log is None else str(args.tensorboard_log),
                                  checkpoint_every=args.checkpoint_every)
        config, _, folder = train(args.env_id, args.objective, algo=args.algo, timesteps=steps,
                                  seed=args.seed, out=args.out, overrides=overrides,
                                  use_preset=use_preset, stock_range=args.stock_range,
                                  stock_scale=args.stock_scale, stock_representation=args.stock_representation,
                                  gamma=args.gamma,
                                  env_kwargs=parse_hyperparams(args.env_kwargs, "--env-kwargs"), training=options,
                                  command=command_line(argv), force=args.force, progress=not args.quiet)
    print(f"trained {config.algo} on {config.env_id} for {config.objective}: {config.steps_done} steps "
          f"({config.train_seconds:.0f} s of training) -> {folder}")
    print(f"next: rdo evaluate {folder}")


def _apply_preset_file(args: argparse.Namespace, overrides: dict) -> None:
    """`rdo train --preset FILE`: the file's entry for ENV_ID under the command line's options (in place)."""
    from rdo_cli.preset_file import read_preset_file
    from rdo_gym.presets import STOCK_AGENTS

    if args.no_preset:
        raise CliError("--preset FILE and --no-preset exclude each other")
    entry = read_preset_file(args.preset, args.env_id, args.algo)
    merged = {**entry.overrides(), **overrides}
    if args.algo not in STOCK_AGENTS:
        merged.pop("relabel_stocks", None)
    overrides.clear()
    overrides.update(merged)
    if args.objective is None:
        args.objective = entry.preset.objective
    if args.gamma is None:
        args.gamma = entry.preset.gamma
    if args.stock_scale is None and entry.stock_scale is not None:
        args.stock_scale = entry.stock_scale
    if args.stock_range is None and entry.stock_range is not None:
        args.stock_range = entry.stock_range


def _tune(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli import tune

    if args.worker_of is not None:
        storage, name, folder = args.worker_of
        tune.worker(storage, name, folder, index=args.worker_index, fresh_seed=args.worker_fresh_seed,
                    quiet=args.quiet)
        return
    if args.resume is not None:
        defaults = vars(build_parser().parse_args(["tune"]))
        fixed = ("env_id", "objective", "sampler", "pruner", "n_startup_trials", "n_evaluations", "n_timesteps",
                 "seed", "eval_episodes", "stock_range", "env_kwargs", "hyperparams", "out")
        given = [d for d in fixed if getattr(args, d) != defaults[d]]
        if given:
            raise CliError(f"--resume continues the study with its recorded settings: drop {_tune_option(given[0])} "
                           "(only --n-trials, --n-jobs, --storage, --study-name, -q and --threads go with --resume)")
        folder = None if args.resume is True else args.resume
        tune.resume(folder, storage=args.storage, study_name=args.study_name, n_trials=args.n_trials,
                    n_jobs=args.n_jobs, threads=args.threads, quiet=args.quiet)
        return
    if args.env_id is None:
        raise CliError("the following arguments are required: ENV_ID (or --resume STUDY_FOLDER)")
    if args.objective is None:
        raise CliError("the following arguments are required: -o/--objective")
    objective = str(parse_objective(args.objective))
    steps = 10_000 if args.n_timesteps is None else args.n_timesteps
    if steps < args.n_evaluations:
        raise CliError(f"-n/--n-timesteps {steps} must be at least --n-evaluations {args.n_evaluations}")
    stock_range = None if args.stock_range is None else tuple(float(x) for x in args.stock_range)
    settings = tune.TuneSettings(env_id=args.env_id, objective=objective, n_timesteps=steps,
                                 n_evaluations=args.n_evaluations, eval_episodes=args.eval_episodes, seed=args.seed,
                                 sampler=args.sampler, pruner=args.pruner, n_startup_trials=args.n_startup_trials,
                                 stock_range=stock_range, hyperparams=parse_hyperparams(args.hyperparams),
                                 env_kwargs=parse_hyperparams(args.env_kwargs, "--env-kwargs"))
    tune.tune(settings, n_trials=20 if args.n_trials is None else args.n_trials, n_jobs=args.n_jobs,
              storage=args.storage, study_name=args.study_name, folder=args.out, threads=args.threads,
              quiet=args.quiet)


def _tune_option(dest: str) -> str:
    return {"env_id": "ENV_ID", "objective": "-o/--objective", "out": "-f/--out",
            "n_timesteps": "-n/--n-timesteps"}.get(dest, "--" + dest.replace("_", "-"))


def _objective_option(args: argparse.Namespace):
    return None if args.objective is None else parse_objective(args.objective)


def _evaluate(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli.evaluate import evaluate_command

    print(evaluate_command(args.run, episodes=args.episodes, seed=args.seed, objective=_objective_option(args),
                           as_json=args.json, save=not args.no_save, search_episodes=args.search_episodes))


def _solve(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli.solve import format_solution, solve_env

    env, mdp, ref = solve_env(args.env_id, args.objective, horizon=args.horizon,
                              env_kwargs=parse_hyperparams(args.env_kwargs, "--env-kwargs"))
    print(format_solution(args.env_id, env, mdp, ref))


def _plot(args: argparse.Namespace, argv: list[str]) -> None:
    from rdo_cli.plot import plot_runs

    plot_runs(args.runs, args.out, labels=args.labels, episodes=args.episodes, seed=args.seed,
              objective=_objective_option(args))


_COMMANDS = {"demo": _demo, "train": _train, "tune": _tune, "evaluate": _evaluate, "solve": _solve, "plot": _plot}


def _fail(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"rdo: error: {one_line(message)}", file=sys.stderr)
    return 2


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings (the libraries', e.g. DηN's c0 at the edge of its range) as one line each."""
    print(f"rdo: warning: {one_line(str(message))}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rdo` console script; returns the exit status."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as err:
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
