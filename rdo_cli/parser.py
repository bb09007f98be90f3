"""The `rdo` argument parser: the commands, their options and help (with examples), and the
option types (whole numbers written `1e5` or `100_000`; negative numbers such as `-1e3` read
as values). argparse's refusals are raised as [`UsageError`][rdo_cli.parser.UsageError] (one line, printed by
[`rdo_cli.main.main`][rdo_cli.main.main]) instead of argparse's usage text and exit."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from rdo_cli.config import ALGOS, DEVICES
from rdo_cli.errors import CliError

__all__ = ["build_parser", "UsageError"]

_SPECS = ("Objective specs: mean, cvar:ALPHA (0 < ALPHA <= 1), target:G, prob:T (P(G >= T)), "
          "homeostasis:SETPOINT[:INITIAL].")
# A negative number, also in exponent form (-1e3) or -inf: a value, not an option (argparse only
# knows -1 and -1.5).
_NEGATIVE_NUMBER = re.compile(r"^-(?:(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d+)?|inf(?:inity)?)$", re.I)


class UsageError(CliError):
    """A command line argparse refuses."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (raised, printed by [`main`][rdo_cli.main]) and negative numbers such
    as `-1e3` read as values."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str):
        raise UsageError(message)


def _whole(low: int):
    """argparse type: a whole number >= `low`, also written `1e5` or `100_000` (not `1.5`)."""
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
    """argparse type: a real number (`-1e3`, `0.5`...)."""
    try:
        return float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _add_globals(p: argparse.ArgumentParser, top: bool) -> None:
    """`--threads` and `--debug`, accepted before and after the command name."""
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
                   help="detan (stock-augmented, acts on the objective; Discrete actions), qrdqn (plain QR-DQN, "
                   "the mean), detatqc (stock-augmented TQC; Box actions) or tqc (plain TQC, the mean)")
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
    p.add_argument("--preset", type=Path, default=None, metavar="FILE",
                   help="train with this preset file's entry for ENV_ID instead of the shipped preset (the YAML of "
                   "rdo_envs/presets, e.g. the best.yml of rdo tune; --hyperparams and other options override it)")
    p.add_argument("--stock-range", type=_number, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="initial stocks sampled in training, finite, e.g. -1e3 0 (default: the benchmark's; for "
                   "other envs the objective's fixed c0, and for cvar a range estimated from the returns of the "
                   "warm-up, widened as they grow, with its stock scale)")
    p.add_argument("--stock-scale", type=_number, default=None,
                   help="factor on the stock in the observation")
    p.add_argument("--stock-representation", choices=("raw", "discounted"), default=None,
                   help="the stock in the observation: raw C_t, or discounted gamma^t C_t with gamma^t, bounded in "
                   "long discounted episodes (default: the stock wrapper's for the discount)")
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


_TUNE_DESCRIPTION = """\
Search DηN's hyperparameters with Optuna: each trial trains --n-timesteps steps with its own seed
(--seed + the trial's number), evaluates the objective --n-evaluations times (the pruner sees each)
and scores the last one, normalized against the exact optimum where the env has one. The best trial is
written as a preset file, STUDY_FOLDER/best.yml, for 'rdo train --preset' and the RL Zoo's -conf.

The study lives in --storage (default: a journal file in the study folder runs/tune/STUDY, no server;
or a database URL such as postgresql://user@host/db, so that the same command on several machines
joins one study). Its --n-trials trials are queued when it is created and the workers share them.
Ctrl-C keeps the finished trials; 'rdo tune --resume STUDY_FOLDER' runs the rest."""


def _add_tune(sub) -> None:
    from rdo_cli.tune import PRUNERS, SAMPLERS

    p = sub.add_parser("tune", help="search DηN's hyperparameters with Optuna; the best trial becomes a preset file",
                       description=_TUNE_DESCRIPTION,
                       epilog=_epilog("rdo tune rdo/CVaRGrid-v0 -o cvar:0.1 --n-trials 20 -n 1e4",
                                      "rdo tune rdo/CVaRGrid-v0 -o cvar:0.1 --n-trials 100 --storage "
                                      "postgresql://rdo@db/optuna --study-name cvar   # on every machine",
                                      "rdo tune --resume runs/tune/CVaRGrid-v0-detan-cvar_0.1 --n-trials 40",
                                      "rdo train rdo/CVaRGrid-v0 --preset "
                                      "runs/tune/CVaRGrid-v0-detan-cvar_0.1/best.yml"))
    _add_globals(p, top=False)
    p.add_argument("env_id", nargs="?", default=None, metavar="ENV_ID",
                   help="a Gymnasium id, e.g. rdo/CVaRGrid-v0 (not with --resume)")
    p.add_argument("-o", "--objective", default=None, metavar="SPEC", help="objective spec, e.g. cvar:0.1")
    p.add_argument("--n-trials", type=_whole(1), default=None, metavar="N",
                   help="trials of the study in all, over all its workers (default 20; with --resume: a new total)")
    p.add_argument("--n-jobs", type=_whole(1), default=1, metavar="N", help="worker processes here (default 1)")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="a journal file, sqlite:///FILE or a database URL (postgresql://...); default "
                   "STUDY_FOLDER/study.journal")
    p.add_argument("--study-name", default=None, metavar="NAME",
                   help="the study's name (default ENV-detan-OBJECTIVE, e.g. CVaRGrid-v0-detan-cvar_0.1)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default tpe)")
    p.add_argument("--pruner", choices=PRUNERS, default="median", help="Optuna pruner (default median)")
    p.add_argument("--n-startup-trials", type=_whole(0), default=5, metavar="N",
                   help="random trials before TPE models the results, and finished trials before the pruner "
                   "prunes (default 5)")
    p.add_argument("--n-evaluations", type=_whole(1), default=4, metavar="N",
                   help="objective evaluations per trial, evenly spaced, the last at the end (default 4)")
    p.add_argument("-n", "--n-timesteps", type=_whole(1), default=None, metavar="N",
                   help="training steps per trial (default 10000)")
    p.add_argument("--seed", type=_whole(0), default=0,
                   help="trial k trains with seed SEED + k; also the evaluation episodes' seed (default 0)")
    p.add_argument("--eval-episodes", type=_whole(2), default=200, metavar="N",
                   help="episodes per evaluation (default 200)")
    p.add_argument("--stock-range", type=_number, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="DηN's training stocks, as for rdo train (default: the benchmark's)")
    p.add_argument("--hyperparams", nargs="+", metavar="KEY=VALUE", default=[],
                   help="fixed entries over the env's preset, not searched (values in YAML), e.g. learning_starts=100")
    p.add_argument("--env-kwargs", nargs="+", metavar="KEY=VALUE", default=[], help="gym.make keyword arguments")
    p.add_argument("-f", "--out", type=Path, default=None, metavar="DIR",
                   help="study folder: best.yml, trials.csv, each trial's evaluations (default runs/tune/STUDY)")
    p.add_argument("--resume", type=Path, nargs="?", const=True, default=None, metavar="STUDY_FOLDER",
                   help="continue a study: queue its failed or interrupted trials again (and more, up to "
                   "--n-trials) and run them; a study folder, or --storage URL --study-name NAME")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-trial lines")
    p.add_argument("--worker-of", nargs=3, default=None, metavar=("STORAGE", "NAME", "FOLDER"), help=argparse.SUPPRESS)
    p.add_argument("--worker-index", type=_whole(1), default=1, help=argparse.SUPPRESS)
    p.add_argument("--worker-fresh-seed", action="store_true", help=argparse.SUPPRESS)


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

    _add_tune(sub)

    p = sub.add_parser("evaluate", help="Monte Carlo value of a saved run, against the DP optimum if known",
                       description="Evaluate a run folder's model on its objective (or -o's); the result is "
                       "also written to evaluation.yml and evaluation.csv in the run folder.",
                       epilog=_epilog("rdo evaluate runs/CVaRGrid-v0-detan-cvar_0.1-seed0 --episodes 5000",
                                      "rdo evaluate runs/tg4 -o target:8 --json"))
    _add_globals(p, top=False)
    p.add_argument("run", type=Path, help="a run folder written by 'rdo train' (or its model.zip)")
    _add_common_eval(p, 1000)
    p.add_argument("--search-episodes", type=_whole(1), default=0, metavar="N",
                   help="CVaR / mean-CVaR: choose c0 by Monte Carlo, N episodes per candidate of the training range, "
                   "instead of DηN's learned search (default: the learned search)")
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
