"""Options and output of ``rdo``: global options on either side of the command, --debug, numbers
such as 1e5 and -1e3, help texts with examples, output formatting (no -0, singular/plural, progress
within the total), warnings for unreachable targets, the n/a normalized score."""

from __future__ import annotations

import argparse

import pytest
import torch
import yaml

from rdo_cli.formatting import num, plural
from rdo_cli.main import build_parser, main

TINY = ["learning_starts=50", "buffer_size=2000", "target_update_interval=100"]
COMMANDS = ("demo", "train", "evaluate", "solve", "plot", "tune")


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.fixture
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("argv", [["--threads", "2", "solve", "FrozenLake-v1", "-o", "prob:1"],
                                  ["solve", "FrozenLake-v1", "-o", "prob:1", "--threads", "2"]])
def test_threads_before_or_after_the_command(capsys, keep_threads, argv):
    assert main(argv) == 0
    assert torch.get_num_threads() == 2


def test_one_torch_thread_by_default(capsys, keep_threads):
    torch.set_num_threads(2)
    assert main(["solve", "FrozenLake-v1", "-o", "prob:1"]) == 0
    assert torch.get_num_threads() == 1
    assert "one CPU thread unless --threads N" in " ".join(subparsers()["train"].format_help().split())


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_after_the_line(capsys, where):
    argv = ["evaluate", "no/such/run"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.splitlines()[-1].startswith("rdo: error: ")


def test_an_unforeseen_error_is_one_line_pointing_to_debug(capsys, monkeypatch):
    from rdo_cli import solve

    def boom(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(solve, "format_solution", boom)
    assert main(["solve", "FrozenLake-v1", "-o", "prob:1"]) == 2
    err = capsys.readouterr().err
    assert err == "rdo: error: RuntimeError: boom second line (run with --debug for the traceback)\n"


@pytest.mark.parametrize("text, steps", [("1e5", 100_000), ("100_000", 100_000), ("2000", 2000), ("1.0e3", 1000)])
def test_timesteps_accept_whole_numbers_in_any_notation(text, steps):
    args = build_parser().parse_args(["train", "rdo/CVaRGrid-v0", "-o", "mean", "-n", text])
    assert args.timesteps == steps and isinstance(args.timesteps, int)


def test_negative_numbers_are_values():
    args = build_parser().parse_args(["train", "CartPole-v1", "-o", "cvar:0.1", "--stock-range", "-1e3", "-0.5"])
    assert args.stock_range == [-1000.0, -0.5]


def test_every_command_help_has_examples_and_every_argument_a_help_text():
    for name, parser in subparsers().items():
        text = parser.format_help()
        assert "examples:\n  rdo " + name in text, name
        for action in parser._actions:
            assert action.help, f"rdo {name}: {action.dest} has no help text"
    assert "examples:" in build_parser().format_help()
    assert set(subparsers()) == set(COMMANDS)


def test_formatting_has_no_negative_zero_and_counts_in_words():
    assert num(-0.0) == "0" and num(-0.0, ".4f") == "0.0000" and num(-1e-9, ".4f") == "0.0000"
    assert num(-1.5) == "-1.5" and num(float("-inf")) == "-inf"
    assert plural(1, "atom") == "1 atom" and plural(3, "atom") == "3 atoms" and plural(0, "episode") == "0 episodes"


def test_solve_output_for_a_sure_return_and_a_zero_target(capsys):
    assert main(["solve", "FrozenLake-v1", "-o", "target:1", "--env-kwargs", "is_slippery=false"]) == 0
    out = capsys.readouterr().out
    assert "mean 1, 1 atom\n" in out and "1 atoms" not in out
    assert main(["solve", "FrozenLake-v1", "-o", "target:0", "--env-kwargs", "is_slippery=false"]) == 0
    out = capsys.readouterr().out
    assert "c0 = 0)" in out and "-0" not in out


def test_progress_never_passes_the_total(capsys, tmp_path):
    folder = tmp_path / "r"
    # train_freq 4 collects 4 steps at a time: 10 requested steps end at 12.
    assert main(["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.25", "-n", "10", "-f", str(folder),
                 "--hyperparams", "learning_starts=5", "train_freq=4"]) == 0
    err = capsys.readouterr().err
    assert "[train] 10/10 steps (100%)" in err and "11/10" not in err and "12/10" not in err
    assert yaml.safe_load((folder / "run.yml").read_text())["steps_done"] >= 10


@pytest.fixture(scope="module")
def cvar_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "detan"
    assert main(["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.25", "-n", "200", "-f", str(folder), "-q",
                 "--hyperparams", *TINY]) == 0
    return folder


def test_normalized_score_na_when_the_optimum_is_risk_neutral(capsys, cvar_run):
    assert main(["evaluate", str(cvar_run), "--episodes", "5", "-o", "mean", "--no-save"]) == 0
    assert "normalized score n/a (optimum = risk-neutral)\n" in capsys.readouterr().out


def test_evaluate_with_a_zero_target_prints_no_negative_zero(capsys, cvar_run):
    assert main(["evaluate", str(cvar_run), "--episodes", "5", "-o", "target:0", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "initial stock c0 0 (5)" in out and " -0" not in out


@pytest.mark.parametrize("argv, warned", [
    (["solve", "rdo/TargetGrid-v0", "-o", "target:40"], "target 40 of target:40 lies outside the returns this env "
                                                         "can reach [-11, 18]"),
    (["solve", "rdo/TargetGrid-v0", "-o", "prob:19"], "threshold 19 of prob:19 lies outside"),
    (["solve", "FrozenLake-v1", "-o", "target:-1"], "target -1 of target:-1 lies outside the returns this env can "
                                                    "reach [0, 1]"),
    (["solve", "rdo/TargetGrid-v0", "-o", "target:4"], None),
    (["train", "rdo/TargetGrid-v0", "-o", "target:40", "-n", "10", "-q", "-f", "{tmp}/t"], "target 40 of target:40"),
    (["evaluate", "{run}", "-o", "target:99", "--episodes", "5", "--no-save"], "target 99 of target:99"),
])
def test_targets_outside_the_exact_return_range_are_warned(capsys, tmp_path, cvar_run, argv, warned):
    argv = [a.format(tmp=tmp_path, run=cvar_run) for a in argv]
    assert main(argv) == 0
    err = capsys.readouterr().err
    warnings = [ln for ln in err.splitlines() if ln.startswith("rdo: warning:")]
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warned in warnings[0]


def test_hyperparameters_in_exponent_notation_are_numbers(tmp_path):
    folder = tmp_path / "lr"
    assert main(["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.25", "-n", "60", "-f", str(folder), "-q",
                 "--hyperparams", "learning_rate=1e-3", "buffer_size=1e3", "learning_starts=20"]) == 0
    params = yaml.safe_load((folder / "run.yml").read_text())["hyperparams"]
    assert params["learning_rate"] == 0.001 and params["buffer_size"] == 1000 and isinstance(params["buffer_size"], int)


def test_library_warnings_are_one_line_each(capsys, monkeypatch):
    import warnings

    from rdo_cli import solve

    def warns(*args, **kwargs):
        warnings.warn("DEtaN chose c0=8 at the edge\nof the searched range", UserWarning, stacklevel=1)
        return "report"

    monkeypatch.setattr(solve, "format_solution", warns)
    assert main(["solve", "FrozenLake-v1", "-o", "prob:1"]) == 0
    out, err = capsys.readouterr()
    assert out == "report\n" and err == "rdo: warning: DEtaN chose c0=8 at the edge of the searched range\n"
