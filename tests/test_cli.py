"""The ``rdo`` command line: every command as a user runs it, errors as one line with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import numpy as np
import pytest
import yaml

import rdo_envs
from rdo_cli.main import main
from rdo_gym.dp import TabularMDP, solve

TINY = ["learning_starts=100", "buffer_size=2000", "exploration_fraction=0.5", "target_update_interval=100"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_console_script_points_to_main():
    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "rdo"]
    assert ep.value == "rdo_cli.main:main"


def test_module_entry_point_runs_and_errors_in_one_line():
    ok = subprocess.run([sys.executable, "-m", "rdo_cli", "--help"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0
    for cmd in ("demo", "train", "evaluate", "solve", "plot"):
        assert cmd in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "rdo_cli", "solve", "NoSuchEnv-v0", "-o", "mean"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]  # one line
    assert "Traceback" not in bad.stderr and "unknown environment id 'NoSuchEnv-v0'" in bad.stderr


@pytest.mark.parametrize("argv, message", [
    (["solve", "FrozenLak-v1", "-o", "prob:1"], "did you mean FrozenLake-v1"),
    (["train", "NoSuchEnv-v0", "-o", "cvar:0.1"], "unknown environment id"),
    (["solve", "FrozenLake-v1", "-o", "cvar:2"], "alpha must lie in (0, 1]"),
    (["solve", "FrozenLake-v1", "-o", "cvar"], "takes 1 argument"),
    (["train", "rdo/CVaRGrid-v0", "-o", "quantile:0.5"], "unknown objective 'quantile'"),
    (["solve", "CartPole-v1", "-o", "mean"], "no exact tabular model"),
    (["evaluate", "no/such/run"], "does not exist"),
    (["plot", "no/such/run", "--out", "x.png"], "does not exist"),
    (["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "-n", "10", "--hyperparams", "learning_rat=1"],
     "bad hyperparameters"),
    (["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--hyperparams", "oops"], "key=value"),
])
def test_user_errors_are_one_line_with_status_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("rdo: error: ") and err.count("\n") == 1
    assert message in err


def test_missing_model_file_in_an_existing_folder(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", str(tmp_path))
    assert code == 2 and "no model file" in err and "model.zip" in err


def test_solve_cvar_benchmark_prints_the_documented_optimum(capsys):
    code, out, _ = run(capsys, "solve", "rdo/CVaRGrid-v0", "-o", "cvar:0.1")
    assert code == 0
    ref = rdo_envs.REFERENCE_OPTIMA[("rdo/CVaRGrid-v0", "cvar:0.1")]
    assert f"DP optimum        {ref.optimum:.6g}   (initial stock c0 = {ref.initial_stock:g})" in out
    assert f"risk-neutral      {ref.risk_neutral:.6g}" in out
    assert f"naive (no stock)  {ref.naive:.6g}" in out
    # The sampled episode starts at c0* and ends at the goal or a fall; its stock bookkeeping adds up.
    lines = [ln for ln in out.splitlines() if ln.strip().startswith(("0:", "1:"))]
    assert "stock 3 ->" in lines[0]


def test_solve_frozenlake_matches_the_dp_and_draws_the_action_map(capsys):
    import gymnasium as gym

    code, out, _ = run(capsys, "solve", "FrozenLake-v1", "-o", "prob:1", "--horizon", "30")
    assert code == 0
    expected = solve(TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"), horizon=30), "prob:1").value
    assert f"DP optimum        {expected:.6g}" in out
    assert "horizon 30" in out
    grid = out.split("H hole, G goal):\n")[1].splitlines()[:4]
    assert [row.split()[-1] for row in grid][-1] == "G" and grid[1].split()[1] == "H"
    assert all(ch in "<v>^HG?" for row in grid for ch in row.split())


def test_solve_env_kwargs_reach_gym_make(capsys):
    code, out, _ = run(capsys, "solve", "FrozenLake-v1", "-o", "prob:1", "--env-kwargs", "is_slippery=false")
    assert code == 0
    assert "DP optimum        1   " in out  # deterministic lake: the goal is reached surely


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """A tiny DηN run and a tiny QR-DQN run on the CVaR benchmark (seconds, not a learning test)."""
    root = tmp_path_factory.mktemp("runs")
    for algo in ("detan", "qrdqn"):
        argv = ["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.25", "--algo", algo, "-n", "600", "--seed", "1",
                "-f", str(root / algo), "-q", "--hyperparams", *TINY]
        assert main(argv) == 0
    return root


def test_train_writes_a_run_folder_with_the_preset_and_overrides(trained_runs):
    for algo in ("detan", "qrdqn"):
        folder = trained_runs / algo
        assert (folder / "model.zip").stat().st_size > 10_000
        config = yaml.safe_load((folder / "run.yml").read_text())
        assert config["env_id"] == "rdo/CVaRGrid-v0" and config["algo"] == algo
        assert config["objective"] == "cvar:0.25" and config["timesteps"] == 600 and config["seed"] == 1
        assert config["hyperparams"]["learning_starts"] == 100  # override
        assert config["hyperparams"]["policy_kwargs"]["n_quantiles"] == 51  # from the preset
        assert config["gamma"] == 1.0
    detan = yaml.safe_load((trained_runs / "detan" / "run.yml").read_text())
    assert detan["stock_range"] == [-8.0, 8.0] and detan["stock_integer"] is True


def test_train_refuses_to_overwrite_a_run(capsys, trained_runs):
    code, _, err = run(capsys, "train", "rdo/CVaRGrid-v0", "-o", "cvar:0.25", "-n", "10",
                       "-f", str(trained_runs / "detan"))
    assert code == 2 and "--force" in err


@pytest.mark.parametrize("algo", ["detan", "qrdqn"])
def test_evaluate_json_reports_value_ci_and_reference(capsys, trained_runs, algo):
    code, out, _ = run(capsys, "evaluate", str(trained_runs / algo), "--episodes", "60", "--json")
    assert code == 0
    report = json.loads(out)
    ref = rdo_envs.REFERENCE_OPTIMA[("rdo/CVaRGrid-v0", "cvar:0.25")]
    assert report["episodes"] == 60 and report["objective"] == "cvar:0.25"
    assert report["optimum"] == pytest.approx(ref.optimum) and report["risk_neutral"] == pytest.approx(ref.risk_neutral)
    assert report["ci95"][0] <= report["value"] <= report["ci95"][1]
    gap = ref.optimum - ref.risk_neutral
    assert report["normalized"] == pytest.approx((report["value"] - ref.risk_neutral) / gap)


def test_evaluate_text_and_objective_override(capsys, trained_runs):
    code, out, _ = run(capsys, "evaluate", str(trained_runs / "detan" / "model.zip"), "--episodes", "30",
                       "-o", "cvar:0.1")
    assert code == 0
    ref = rdo_envs.REFERENCE_OPTIMA[("rdo/CVaRGrid-v0", "cvar:0.1")]
    assert "objective        cvar:0.1  (higher is better)" in out
    assert f"DP optimum       {ref.optimum:.4f}" in out
    assert "initial stock c0" in out  # DηN's own search


def test_evaluate_search_episodes_chooses_c0_by_monte_carlo(capsys, trained_runs):
    code, out, _ = run(capsys, "evaluate", str(trained_runs / "detan"), "--episodes", "20", "--search-episodes", "3",
                       "--json", "--no-save")
    assert code == 0
    report = json.loads(out)
    search = report["c0_search"]
    assert search["episodes_per_candidate"] == 3 and search["candidates"] == [float(c) for c in range(-8, 9)]
    best = search["candidates"][int(np.argmax(search["values"]))]
    assert search["initial_stock"] == best and report["initial_stocks"] == [best]  # every episode from there
    assert search["value"] == max(search["values"]) and search["env_steps"] >= 17 * 3
    code, out, _ = run(capsys, "evaluate", str(trained_runs / "detan"), "--episodes", "20", "--search-episodes", "3",
                       "--no-save")
    assert code == 0 and f"best c0 = {best:g}" in out and "17 candidates x 3 episodes" in out


@pytest.mark.parametrize("which, extra, message", [
    ("detan", ["-o", "target:3"], "target:3 fixes its own initial stock c0 = -3"),
    ("qrdqn", ["-o", "cvar:0.1"], "only a stock-augmented DηN or DηTQC chooses its initial stock"),
    ("detan", ["--search-episodes", "0"], "must be >= 1"),
])
def test_evaluate_search_episodes_errors(capsys, trained_runs, which, extra, message):
    argv = ["evaluate", str(trained_runs / which), "--episodes", "5", "--no-save"]
    code, _, err = run(capsys, *argv, *(extra if "--search-episodes" in extra else ["--search-episodes", "2", *extra]))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_plot_writes_a_png_of_both_runs(capsys, trained_runs, tmp_path):
    target = tmp_path / "cdf.png"
    code, out, _ = run(capsys, "plot", str(trained_runs / "detan"), str(trained_runs / "qrdqn"),
                       "--episodes", "30", "--out", str(target), "--labels", "DηN", "QR-DQN")
    assert code == 0 and f"wrote {target}" in out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 20_000
    assert out.count("cvar:0.25 = ") == 2


def test_plot_label_count_must_match(capsys, trained_runs, tmp_path):
    code, _, err = run(capsys, "plot", str(trained_runs / "detan"), "--labels", "a", "b",
                       "--out", str(tmp_path / "x.png"))
    assert code == 2 and "2 labels for 1 runs" in err


def test_train_stock_augments_any_env_for_a_fixed_c0_objective(capsys, tmp_path):
    folder = tmp_path / "cartpole"
    code, out, _ = run(capsys, "train", "CartPole-v1", "-o", "target:50", "-n", "300", "-f", str(folder), "-q",
                       "--hyperparams", "learning_starts=50")
    assert code == 0 and "trained detan on CartPole-v1 for target:50" in out
    code, out, _ = run(capsys, "evaluate", str(folder), "--episodes", "5", "--json")
    report = json.loads(out)
    assert code == 0 and "optimum" not in report  # no exact model for CartPole
    assert report["initial_stocks"] == [-50.0]  # every episode starts at the objective's c0 = -target
    config = yaml.safe_load((folder / "run.yml").read_text())
    assert config["stock_range"] is None and config["gamma"] == 1.0  # fixed c0, undiscounted by default


def test_demo_short_run_prints_the_table_and_plot(capsys, tmp_path):
    from rdo_cli.demo import run_demo

    numbers = run_demo(timesteps=800, episodes=50, out=tmp_path / "demo", stream=sys.stdout)
    out = capsys.readouterr().out
    ref = rdo_envs.REFERENCE_OPTIMA[("rdo/CVaRGrid-v0", "cvar:0.1")]
    assert numbers["optimum"] == pytest.approx(ref.optimum) and numbers["naive"] == pytest.approx(ref.naive)
    assert np.isfinite(numbers["agent"])
    for row in ("DP optimum (exact, stock-augmented)", "DηN (learned)", "naive CVaR (no stock)",
                "risk-neutral (max E[G])"):
        assert row in out
    assert f"{ref.optimum:9.3f}" in out and f"{ref.risk_neutral:9.3f}" in out
    assert (tmp_path / "demo" / "return_distributions.png").stat().st_size > 20_000
    assert (tmp_path / "demo" / "model.zip").exists() and (tmp_path / "demo" / "run.yml").exists()


def test_evaluate_lower_is_better_objective_and_a_zero_gap(capsys, trained_runs):
    code, out, _ = run(capsys, "evaluate", str(trained_runs / "detan"), "--episodes", "40", "-o", "target:-3", "--json")
    report = json.loads(out)
    ref = rdo_envs.reference("rdo/CVaRGrid-v0", "target:-3")
    assert code == 0 and report["higher_is_better"] is False and report["initial_stocks"] == [3.0]
    assert ref.optimum < ref.risk_neutral  # distances: the optimum is the smaller one
    gap = ref.optimum - ref.risk_neutral
    assert report["normalized"] == pytest.approx((report["value"] - ref.risk_neutral) / gap)
    # For the mean, the optimum is the risk-neutral policy: no normalized score (null, valid JSON).
    code, out, _ = run(capsys, "evaluate", str(trained_runs / "detan"), "--episodes", "20", "-o", "mean", "--json")
    assert code == 0 and json.loads(out)["normalized"] is None


@pytest.mark.parametrize("algo", ["detan", "qrdqn"])
def test_toy_text_runs_evaluate_against_the_dp(capsys, tmp_path, algo):
    import gymnasium as gym

    folder = tmp_path / algo
    assert main(["train", "FrozenLake-v1", "-o", "prob:1", "--algo", algo, "-n", "300", "-f", str(folder), "-q",
                 "--hyperparams", "learning_starts=50"]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "evaluate", str(folder), "--episodes", "30", "--json")
    report = json.loads(out)
    expected = solve(TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"), horizon=100), "prob:1").value
    assert code == 0 and report["optimum"] == pytest.approx(expected)
    assert 0.0 <= report["value"] <= 1.0  # a probability


def test_qrdqn_trains_and_is_evaluated_with_the_given_gamma(capsys, tmp_path):
    from sb3_contrib import QRDQN

    folder = tmp_path / "g"
    assert main(["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--algo", "qrdqn", "--gamma", "0.9", "-n", "200",
                 "-f", str(folder), "-q", "--hyperparams", "learning_starts=50"]) == 0
    config = yaml.safe_load((folder / "run.yml").read_text())
    assert config["gamma"] == 0.9 and config["hyperparams"]["gamma"] == 0.9
    assert config["stock_range"] is None  # QR-DQN has no stock
    assert QRDQN.load(folder / "model.zip").gamma == 0.9


@pytest.mark.parametrize("argv, message", [
    (["solve", "rdo/Homeostasis-v0", "-o", "homeostasis:3"], "homeostasis:3:3"),
    (["solve", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--horizon", "30"], "--env-kwargs horizon=30"),
    (["train", "Pendulum-v1", "-o", "mean", "-n", "10"], "Discrete action space"),
    (["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--stock-range", "5", "1"], "LOW <= HIGH"),
    (["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--gamma", "1.5"], "(0, 1]"),
    (["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--stock-scale", "0"], "positive"),
    (["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--hyperparams", "gamma=0.9"], "--gamma"),
    (["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--hyperparams", "policy_kwargs=dict(net_arch=[8])"],
     "policy_kwargs must be a mapping"),
    (["train", "FrozenLake-v1", "-o", "mean", "--env-kwargs", "map_name=9x9"], "cannot make"),
])
def test_more_user_errors(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("rdo: error: ") and err.count("\n") == 1
    assert message in err


@pytest.mark.parametrize("argv", [["evaluate", "x", "--episodes", "1"], ["evaluate", "x", "--seed", "-1"],
                                  ["solve", "FrozenLake-v1", "-o", "mean", "--horizon", "0"],
                                  ["demo", "--alpha", "0.3"], ["demo", "--episodes", "0"], ["train", "X", "-n", "1"]])
def test_bad_option_values_are_refused_before_any_work(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("rdo: error: ") and err.count("\n") == 1


def test_run_folders_that_do_not_fit_are_refused(capsys, trained_runs, tmp_path):
    import shutil

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(trained_runs / "detan" / "model.zip", mixed / "model.zip")
    config = yaml.safe_load((trained_runs / "detan" / "run.yml").read_text())
    (mixed / "run.yml").write_text(yaml.safe_dump({**config, "env_id": "rdo/TargetGrid-v0", "objective": "target:4"}))
    code, _, err = run(capsys, "evaluate", str(mixed))
    assert code == 2 and "does not fit" in err
    (mixed / "model.zip").write_bytes(b"not a zip")
    code, _, err = run(capsys, "evaluate", str(mixed))
    assert code == 2 and "cannot load" in err
    (mixed / "run.yml").write_text("env_id: [unclosed")
    code, _, err = run(capsys, "evaluate", str(mixed))
    assert code == 2 and "not a run file" in err


def test_plot_refuses_ambiguous_labels_and_mixed_objectives(capsys, trained_runs, tmp_path):
    import shutil

    other = tmp_path / "seed2" / "detan"
    shutil.copytree(trained_runs / "detan", other)
    code, _, err = run(capsys, "plot", str(trained_runs / "detan"), str(other), "--out", str(tmp_path / "p.png"))
    assert code == 2 and "share the label 'detan'" in err
    config = yaml.safe_load((other / "run.yml").read_text())
    (other / "run.yml").write_text(yaml.safe_dump({**config, "objective": "cvar:0.1"}))
    code, _, err = run(capsys, "plot", str(trained_runs / "detan"), str(other), "--labels", "a", "b",
                       "--out", str(tmp_path / "p.png"))
    assert code == 2 and "different objectives" in err


def test_interrupted_training_saves_the_model(tmp_path, monkeypatch):
    from stable_baselines3.common.callbacks import BaseCallback

    from rdo_cli import train as train_module

    class Interrupt(BaseCallback):
        def _on_step(self):
            if self.num_timesteps >= 150:
                raise KeyboardInterrupt
            return True

    monkeypatch.setattr(train_module, "ProgressLines", lambda steps, **kwargs: Interrupt())
    with pytest.raises(KeyboardInterrupt):
        train_module.train("rdo/CVaRGrid-v0", "cvar:0.1", timesteps=1000, out=tmp_path / "r",
                           overrides={"learning_starts": 50})
    config = yaml.safe_load((tmp_path / "r" / "run.yml").read_text())
    assert config["steps_done"] == 150 and config["timesteps"] == 1000 and config["status"] == "interrupted"
    assert (tmp_path / "r" / "model.zip").exists()


def test_evaluate_builds_the_env_once_and_reads_the_cached_benchmark_reference(capsys, trained_runs, monkeypatch):
    from rdo_cli import envs, run_folder

    built = []
    real = run_folder.make_env
    monkeypatch.setattr(run_folder, "make_env", lambda config: built.append(config.env_id) or real(config))
    monkeypatch.setattr(envs, "make_env", lambda *a, **k: pytest.fail("a second env was built"))

    def no_solve(*args, **kwargs):
        raise AssertionError("the benchmark's reference was recomputed instead of read from rdo_envs.reference")

    monkeypatch.setattr(envs, "exact_reference", no_solve)
    code, out, _ = run(capsys, "evaluate", str(trained_runs / "detan"), "--episodes", "20", "--json")
    assert code == 0 and built == ["rdo/CVaRGrid-v0"]
    assert json.loads(out)["optimum"] == pytest.approx(rdo_envs.reference("rdo/CVaRGrid-v0", "cvar:0.25").optimum)


def test_train_arguments_resolve_into_one_complete_configuration():
    from rdo_cli.config import resolve_run
    from rdo_gym import CVaR

    config, from_preset = resolve_run("rdo/CVaRGrid-v0", "cvar:0.1", algo="detan", seed=3,
                                      overrides={"learning_starts": 50}, timesteps=1e3)
    assert from_preset and isinstance(config.objective, CVaR) and config.timesteps == 1000 and config.seed == 3
    assert config.preset.gamma == config.gamma == 1.0 and config.preset.hyperparameters["learning_starts"] == 50
    assert config.preset.hyperparameters["relabel_stocks"] is True  # the benchmark's preset
    assert config.stocks.range == (-8.0, 8.0) and config.stocks.integer and config.stocks.scale == 0.1
    peer, _ = resolve_run("rdo/CVaRGrid-v0", "cvar:0.1", algo="qrdqn", gamma=0.9,
                          overrides={"relabel_stocks": True})
    assert peer.stocks is None and peer.gamma == 0.9 and "relabel_stocks" not in peer.preset.hyperparameters
