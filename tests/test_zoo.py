"""RL Baselines3 Zoo integration: the launcher ``python -m rdo_sb3.zoo`` trains, enjoys and evaluates
DηN through the real rl-zoo3 with only the files rdo ships; the Zoo hyperparameter file mirrors rdo's
presets; any SB3 agent runs on the terminal reward through the plain Zoo."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

rl_zoo3 = pytest.importorskip("rl_zoo3")

import rdo_envs  # noqa: E402
from rdo_envs.presets import zoo as zoo_presets  # noqa: E402
from rdo_gym import StockAugmentation, make_initial_stock  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "rdo/CVaRGrid-v0"
RUN = "rdo-CVaRGrid-v0_1"


def run(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


# -- the launcher ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short DηN run through the launcher with the shipped hyperparameters (-n 300)."""
    folder = tmp_path_factory.mktemp("zoo")
    out = run("-m", "rdo_sb3.zoo", "train", "--algo", "detan", "--env", ENV_ID, "--gym-packages", "rdo_envs",
              "-conf", "rdo_envs.presets.zoo.detan", "-f", "logs", "-n", "300", "--eval-freq", "300",
              "--seed", "0", "--num-threads", "1", "-params", "learning_starts:100", cwd=folder)
    return folder, out


def test_train_through_the_zoo_with_the_shipped_file(trained):
    folder, out = trained
    run_dir = folder / "logs" / "detan" / RUN
    assert (run_dir / "rdo-CVaRGrid-v0.zip").exists()
    assert (run_dir / "best_model.zip").exists()  # saved on the objective
    assert "Objective eval num_timesteps=300: cvar:0.1 = " in out and "normalized" in out
    rows = list(csv.DictReader(open(run_dir / "objective_evaluations.csv")))
    assert [r["timesteps"] for r in rows] == ["300"] and rows[0]["objective"] == "cvar:0.1"
    assert rows[0]["episodes"] == "200" and rows[0]["normalized"] != ""
    assert not (run_dir / "evaluations.npz").exists()  # the Zoo's mean-reward EvalCallback gave way
    config = yaml.load(open(run_dir / "rdo-CVaRGrid-v0" / "config.yml"), Loader=yaml.UnsafeLoader)
    config = dict(config)
    assert config["objective"] == "cvar:0.1" and config["relabel_stocks"] is True


def test_enjoy_starts_at_the_agents_own_stock_and_reports_the_objective(trained):
    folder, _ = trained
    out = run("-m", "rdo_sb3.zoo", "enjoy", "--algo", "detan", "--env", ENV_ID, "--gym-packages", "rdo_envs",
              "-f", "logs", "--no-render", "-n", "100", "--num-threads", "1", cwd=folder)
    assert "Episode Reward" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("cvar:0.1: value ") and "at the agent's own initial stock" in summary


def test_evaluate_reports_the_objective_against_the_exact_optimum(trained):
    folder, _ = trained
    out = run("-m", "rdo_sb3.zoo", "evaluate", "--env", ENV_ID, "--gym-packages", "rdo_envs", "-f", "logs",
              "-n", "50", "--reference", "rdo_envs.reference", "--load-best", cwd=folder)
    exact = rdo_envs.reference(ENV_ID, "cvar:0.1")
    assert "best_model.zip" in out and "cvar:0.1: value " in out and "over 50 episodes" in out
    assert f"exact optimum {exact.optimum:.4g} at c0* = {exact.initial_stock:g}" in out


def test_register_adds_detan_and_keeps_the_zoos_qrdqn():
    from rl_zoo3 import ALGOS
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
    from sb3_contrib import QRDQN

    from rdo_sb3 import DEtaN
    from rdo_sb3.zoo import register

    register()
    register()  # idempotent
    assert ALGOS["detan"] is DEtaN and ALGOS["qrdqn"] is QRDQN
    assert "detan" in HYPERPARAMS_SAMPLER and "detan" in HYPERPARAMS_CONVERTER


def test_the_detan_sampler_never_tunes_gamma():
    optuna = pytest.importorskip("optuna")
    from rdo_sb3.zoo import convert_detan_params, sample_detan_params

    trial = optuna.create_study().ask()
    params = sample_detan_params(trial, 4, 1, {"using_her_replay_buffer": False})
    assert "gamma" not in params and "n_quantiles" in params["policy_kwargs"]
    converted = convert_detan_params(dict(trial.params))
    assert "gamma" not in converted


def test_importing_the_launcher_does_not_import_the_zoo():
    code = "import sys, rdo_sb3, rdo_sb3.zoo; print('rl_zoo3' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


# -- the hyperparameter file ---------------------------------------------------------------------------
def test_the_zoo_file_is_package_data_and_a_module():
    path = Path(zoo_presets.path("detan"))
    assert path.is_file() and path.parent == ROOT / "rdo_envs" / "presets" / "zoo"
    assert "presets/zoo/*.yml" in (ROOT / "pyproject.toml").read_text()
    from rdo_envs.presets.zoo import detan

    assert detan.hyperparams == yaml.safe_load(path.read_text())
    assert detan.hyperparams is not detan.hyperparams  # a fresh copy each time (the Zoo edits it)


@pytest.mark.parametrize("env_id", rdo_envs.ENV_IDS)
def test_the_zoo_entries_carry_rdo_presets_and_the_benchmark_stock(env_id):
    entry = zoo_presets.load("detan")[env_id]
    preset = yaml.safe_load((ROOT / "rdo_envs" / "presets" / "detan.yml").read_text())[env_id]
    for key, value in preset.items():
        assert entry[key] == value, key
    info = rdo_envs.benchmark_info(env_id)
    (name, kwargs), = entry["env_wrapper"][0].items()
    assert name == "rdo_gym.StockAugmentation"
    assert kwargs["gamma"] == info.gamma == entry["gamma"] and kwargs["stock_scale"] == info.stock_scale
    assert kwargs["flatten"] is True
    sampler = make_initial_stock(kwargs["initial_stock"])
    assert (sampler.low, sampler.high, sampler.integer) == (*info.training_stocks, True)
    import gymnasium as gym

    env = StockAugmentation(gym.make(env_id), **kwargs)
    assert env.stock_layout.support.low == info.training_stocks[0]
    (callback, settings), = entry["callback"][0].items()
    assert callback == "rdo_sb3.ObjectiveEvalCallback" and settings["reference"] == "rdo_envs.reference"


# -- any SB3 agent on the terminal reward, through the plain Zoo -----------------------------------------
def test_ppo_on_the_terminal_reward_through_the_plain_zoo(tmp_path):
    c0 = rdo_envs.reference(ENV_ID, "cvar:0.1").initial_stock
    conf = tmp_path / "ppo.yml"
    conf.write_text(f"""
rdo/CVaRGrid-v0:
  n_timesteps: 256
  policy: MlpPolicy
  n_steps: 64
  batch_size: 32
  gamma: 1.0
  env_wrapper:
    - rdo_gym.StockAugmentation: {{gamma: 1.0, initial_stock: {c0}, flatten: true, stock_scale: 0.1}}
    - rdo_gym.TerminalObjectiveReward: {{objective: "cvar:0.1"}}
  callback:
    - rdo_sb3.ObjectiveEvalCallback: {{eval_freq: 128, n_eval_episodes: 20, reference: rdo_envs.reference,
                                       log_path: logs/objective}}
""")
    out = run("-m", "rl_zoo3.train", "--algo", "ppo", "--env", ENV_ID, "--gym-packages", "rdo_envs", "-conf",
              str(conf), "-f", "logs", "--eval-freq", "-1", "--seed", "0", "--num-threads", "1", cwd=tmp_path)
    assert "Objective eval num_timesteps=128: cvar:0.1 = " in out
    rows = list(csv.DictReader(open(tmp_path / "logs" / "objective" / "objective_evaluations.csv")))
    assert [r["timesteps"] for r in rows] == ["128", "256"]
    assert all(float(r["mean_initial_stock"]) == c0 for r in rows)


# -- DηTQC through the launcher ------------------------------------------------------------------------------
def test_detatqc_trains_enjoys_and_evaluates_through_the_launcher(tmp_path):
    env_id = "rdo/WealthGoal-v0"
    out = run("-m", "rdo_sb3.zoo", "train", "--algo", "detatqc", "--env", env_id, "--gym-packages", "rdo_envs",
              "-conf", "rdo_envs.presets.zoo.detatqc", "-f", "logs", "-n", "200", "--eval-freq", "200",
              "--seed", "0", "--num-threads", "1", "-params", "learning_starts:100", "batch_size:16",
              "policy_kwargs:dict(net_arch=[16],n_quantiles=5)", "-params", "buffer_size:500", cwd=tmp_path)
    run_dir = tmp_path / "logs" / "detatqc" / "rdo-WealthGoal-v0_1"
    assert (run_dir / "rdo-WealthGoal-v0.zip").exists() and (run_dir / "best_model.zip").exists()
    assert "Objective eval num_timesteps=200: cvar:0.5 = " in out and "normalized" in out
    out = run("-m", "rdo_sb3.zoo", "enjoy", "--algo", "detatqc", "--env", env_id, "--gym-packages", "rdo_envs",
              "-f", "logs", "--no-render", "-n", "30", "--num-threads", "1", cwd=tmp_path)
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("cvar:0.5: value ") and "at the agent's own initial stock" in summary
    out = run("-m", "rdo_sb3.zoo", "evaluate", "--algo", "detatqc", "--env", env_id, "--gym-packages", "rdo_envs",
              "-f", "logs", "-n", "30", "--reference", "rdo_envs.reference", cwd=tmp_path)
    exact = rdo_envs.reference(env_id, "cvar:0.5")
    assert f"exact optimum {exact.optimum:.4g}" in out and "over 30 episodes" in out
    out = run("-m", "rdo_cli", "evaluate", str(run_dir), "--episodes", "20", cwd=tmp_path)  # rdo's own CLI too
    assert "RL Zoo run of detatqc on rdo/WealthGoal-v0" in out and "at the agent's own initial stock" in out


def test_register_adds_detatqc_and_keeps_the_zoos_tqc():
    optuna = pytest.importorskip("optuna")
    from rl_zoo3 import ALGOS
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER
    from sb3_contrib import TQC

    from rdo_sb3 import DEtaTQC
    from rdo_sb3.zoo import register, sample_detatqc_params

    register()
    assert ALGOS["detatqc"] is DEtaTQC and ALGOS["tqc"] is TQC and "detatqc" in HYPERPARAMS_SAMPLER
    params = sample_detatqc_params(optuna.create_study().ask(), 1, 1, {"using_her_replay_buffer": False})
    assert "gamma" not in params and "learning_rate" in params


def test_the_detatqc_zoo_entry_carries_the_rdo_preset_and_the_benchmark_stock():
    entry = zoo_presets.load("detatqc")["rdo/WealthGoal-v0"]
    preset = yaml.safe_load((ROOT / "rdo_envs" / "presets" / "detatqc.yml").read_text())["rdo/WealthGoal-v0"]
    assert all(entry[k] == v for k, v in preset.items())
    info = rdo_envs.benchmark_info("rdo/WealthGoal-v0")
    (name, kwargs), = entry["env_wrapper"][0].items()
    sampler = make_initial_stock(kwargs["initial_stock"])
    assert name == "rdo_gym.StockAugmentation" and kwargs["stock_scale"] == info.stock_scale
    assert (sampler.low, sampler.high, sampler.integer) == (*info.training_stocks, True)
    from rdo_envs.presets.zoo import detatqc

    assert detatqc.hyperparams == zoo_presets.load("detatqc")
