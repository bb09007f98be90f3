"""`rdo evaluate` and `rdo plot` on RL Zoo run folders: a DηN run trained through the launcher is
evaluated at DηN's own c0 exactly as the launcher's own evaluate does, with the exact normalized score; a
PPO run on the terminal reward is reported on the wrapper's objective; bad Zoo folders give one error line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

pytest.importorskip("rl_zoo3")

import rdo_envs  # noqa: E402
from rdo_cli.main import main  # noqa: E402
from rdo_cli.zoo_folder import is_zoo_folder, zoo_paths  # noqa: E402

ENV_ID = "rdo/CVaRGrid-v0"
NAME = "rdo-CVaRGrid-v0"


def run(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def zoo_runs(tmp_path_factory):
    """A tiny DηN run through the launcher (shipped hyperparameters) and a tiny PPO run on the terminal reward."""
    folder = tmp_path_factory.mktemp("zoo-folders")
    run("-m", "rdo_sb3.zoo", "train", "--algo", "detan", "--env", ENV_ID, "--gym-packages", "rdo_envs", "-conf",
        "rdo_envs.presets.zoo.detan", "-f", "logs", "-n", "600", "--eval-freq", "300", "--seed", "0",
        "--num-threads", "1", "-params", "learning_starts:100", cwd=folder)
    c0 = rdo_envs.reference(ENV_ID, "cvar:0.1").initial_stock
    (folder / "ppo.yml").write_text(f"""
rdo/CVaRGrid-v0:
  n_timesteps: 128
  policy: MlpPolicy
  n_steps: 64
  batch_size: 32
  gamma: 1.0
  env_wrapper:
    - rdo_gym.StockAugmentation: {{gamma: 1.0, initial_stock: {c0}, flatten: true, stock_scale: 0.1}}
    - rdo_gym.TerminalObjectiveReward: {{objective: "cvar:0.1"}}
""")
    run("-m", "rl_zoo3.train", "--algo", "ppo", "--env", ENV_ID, "--gym-packages", "rdo_envs", "-conf",
        str(folder / "ppo.yml"), "-f", "logs", "--eval-freq", "-1", "--seed", "0", "--num-threads", "1", cwd=folder)
    return folder, folder / "logs" / "detan" / f"{NAME}_1", folder / "logs" / "ppo" / f"{NAME}_1", c0


def evaluate_json(capsys, *argv):
    capsys.readouterr()
    assert main(["evaluate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_zoo_folders_are_told_from_rdo_run_folders(zoo_runs, tmp_path):
    _, detan, ppo, _ = zoo_runs
    assert is_zoo_folder(detan) and is_zoo_folder(ppo) and is_zoo_folder(detan / "best_model.zip")
    assert zoo_paths(detan) == (detan, detan / f"{NAME}.zip")  # the final model by default
    assert zoo_paths(detan / "best_model.zip") == (detan, detan / "best_model.zip")
    assert main(["train", ENV_ID, "-o", "cvar:0.1", "-n", "50", "-f", str(tmp_path / "r"), "-q"]) == 0
    assert not is_zoo_folder(tmp_path / "r")


def test_rdo_evaluate_matches_the_launchers_evaluate_on_a_detan_zoo_run(zoo_runs, capsys):
    folder, detan, _, _ = zoo_runs
    out = evaluate_json(capsys, str(detan), "--episodes", "200", "--no-save")
    assert out["kind"] == "rl-zoo" and out["algo"] == "detan" and out["objective"] == "cvar:0.1"
    assert out["steps_trained"] == 600 and out["episodes"] == 200
    ref = rdo_envs.reference(ENV_ID, "cvar:0.1")
    assert out["normalized"] == pytest.approx(ref.normalized(out["value"]))
    assert out["optimum"] == pytest.approx(ref.optimum)
    # the launcher's own evaluation of the same model, episodes and seed gives the same value
    zoo = run("-m", "rdo_sb3.zoo", "evaluate", "--env", ENV_ID, "--gym-packages", "rdo_envs", "-f", "logs",
              "-n", "200", "--seed", "0", cwd=folder)
    line = next(x for x in zoo.splitlines() if x.startswith("cvar:0.1: value "))
    assert line.startswith(f"cvar:0.1: value {out['value']:.4g} ")
    # DηN chose its own c0 in its training range (uniform-int:-8:8), not the env's sampled stocks
    assert len(out["initial_stocks"]) == 1 and -8 <= out["initial_stocks"][0] <= 8


def test_rdo_evaluate_reads_best_model_zip_and_saves_in_the_zoo_folder(zoo_runs, capsys):
    _, detan, _, _ = zoo_runs
    capsys.readouterr()
    assert main(["evaluate", str(detan / "best_model.zip"), "--episodes", "50"]) == 0
    text = capsys.readouterr().out
    assert "RL Zoo run of detan on rdo/CVaRGrid-v0 (best_model.zip)" in text and "normalized score" in text
    saved = yaml.safe_load((detan / "evaluation.yml").read_text())
    assert saved["model"].endswith("best_model.zip") and saved["episodes"] == 50


def test_rdo_evaluate_reports_a_terminal_reward_agent_on_the_wrappers_objective(zoo_runs, capsys):
    _, _, ppo, c0 = zoo_runs
    out = evaluate_json(capsys, str(ppo), "--episodes", "50", "--no-save")
    assert out["algo"] == "ppo" and out["objective"] == "cvar:0.1" and out["initial_stocks"] == [c0]
    assert out["normalized"] == pytest.approx(rdo_envs.reference(ENV_ID, "cvar:0.1").normalized(out["value"]))
    capsys.readouterr()
    assert main(["evaluate", str(ppo), "-o", "mean", "--episodes", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rdo: error: -o mean: ")


def test_rdo_plot_takes_zoo_and_rdo_folders_together(zoo_runs, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    _, detan, ppo, _ = zoo_runs
    out = tmp_path / "returns.png"
    assert main(["plot", str(detan), str(ppo), "--episodes", "20", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.stat().st_size > 0 and f"detan-{NAME}_1: cvar:0.1 = " in text
    assert f"ppo-{NAME}_1: cvar:0.1 = " in text and text.count("cvar:0.1 = ") == 2


def test_a_zoo_folder_without_a_model_or_with_normalization_gives_one_error_line(zoo_runs, tmp_path, capsys):
    _, detan, _, _ = zoo_runs
    broken = tmp_path / "broken"
    shutil.copytree(detan, broken)
    for model in broken.glob("*.zip"):
        model.unlink()
    normalized = tmp_path / "normalized"
    shutil.copytree(detan, normalized)
    config = normalized / NAME / "config.yml"
    saved = yaml.load(config.read_text(), Loader=yaml.UnsafeLoader)  # the Zoo's OrderedDict
    saved["normalize"] = True
    config.write_text(yaml.dump(saved))
    for folder, needle in ((broken, "without a model"), (normalized, "VecNormalize")):
        capsys.readouterr()
        assert main(["evaluate", str(folder), "--episodes", "5"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("rdo: error: ") and needle in err[0], err
