"""What a run folder holds: model.zip and run.yml (status, steps, command lines, versions), the
Monitor CSV, SB3's progress CSV, the training log, evaluations during training (--eval-freq),
TensorBoard logs, and the evaluations ``rdo evaluate`` saves."""

from __future__ import annotations

import csv
import json
import platform

import pytest
import yaml

from rdo_cli.main import main

TINY = ["learning_starts=50", "buffer_size=2000", "target_update_interval=100"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    folder = root / "run"
    argv = ["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.25", "-n", "400", "-f", str(folder), "--seed", "2",
            "--eval-freq", "200", "--eval-episodes", "10", "--tensorboard-log", str(root / "tb"),
            "--hyperparams", *TINY]
    assert main(argv) == 0
    return folder


def test_run_yml_records_status_steps_command_and_versions(run_folder):
    config = yaml.safe_load((run_folder / "run.yml").read_text())
    assert config["status"] == "finished" and config["error"] is None
    assert config["steps_done"] == config["timesteps"] == 400
    assert config["commands"] == [f"rdo train rdo/CVaRGrid-v0 -o cvar:0.25 -n 400 -f {run_folder} --seed 2 "
                                  f"--eval-freq 200 --eval-episodes 10 --tensorboard-log {run_folder.parent / 'tb'} "
                                  "--hyperparams " + " ".join(TINY)]
    versions = config["versions"]
    assert versions["python"] == platform.python_version()
    assert set(versions) == {"python", "rdo", "torch", "stable-baselines3", "sb3-contrib", "gymnasium", "numpy"}
    import gymnasium
    import numpy

    assert versions["gymnasium"] == gymnasium.__version__ and versions["numpy"] == numpy.__version__
    assert config["training"] == {"n_envs": 1, "device": "cpu", "checkpoint_every": 40, "save_replay_buffer": False,
                                  "eval_freq": 200, "eval_episodes": 10,
                                  "tensorboard_log": str(run_folder.parent / "tb")}


def test_training_logs_are_in_the_folder(run_folder):
    monitor = (run_folder / "monitor.csv").read_text().splitlines()
    assert monitor[0].startswith("#") and monitor[1] == "r,l,t" and len(monitor) > 3  # SB3's Monitor: episodes
    progress = list(csv.DictReader((run_folder / "progress.csv").open()))
    assert progress and "time/total_timesteps" in progress[0]  # SB3's logger
    log = (run_folder / "train.log").read_text()
    assert "[train] 400/400 steps (100%)" in log and "[eval] 200 steps: cvar:0.25 = " in log
    assert list((run_folder.parent / "tb" / "run").glob("events.out.tfevents.*"))


def test_eval_freq_writes_the_objective_during_training(run_folder):
    rows = list(csv.DictReader((run_folder / "training_evaluations.csv").open()))
    assert [int(r["steps"]) for r in rows] == [200, 400]
    assert all(r["objective"] == "cvar:0.25" and int(r["episodes"]) == 10 for r in rows)
    assert all(float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"]) for r in rows)


def test_eval_lines_go_to_stdout(capsys, tmp_path):
    assert main(["train", "rdo/TargetGrid-v0", "-o", "target:4", "-n", "200", "-f", str(tmp_path / "r"),
                 "--eval-freq", "100", "--eval-episodes", "4", "--hyperparams", *TINY]) == 0
    out = capsys.readouterr().out
    assert out.count("[eval] ") == 2 and "[eval] 100 steps: target:4 = " in out


def test_evaluate_saves_its_numbers_and_episodes_in_the_run_folder(capsys, run_folder):
    assert main(["evaluate", str(run_folder), "--episodes", "12", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    saved = yaml.safe_load((run_folder / "evaluation.yml").read_text())
    assert saved == report and saved["episodes"] == 12 and saved["steps_trained"] == 400
    rows = list(csv.DictReader((run_folder / "evaluation.csv").open()))
    assert len(rows) == 12 and set(rows[0]) == {"episode", "initial_stock", "return"}
    assert sorted({float(r["initial_stock"]) for r in rows}) == report["initial_stocks"]


def test_evaluate_no_save_and_a_read_only_folder(capsys, run_folder, tmp_path):
    import os
    import shutil

    ro = tmp_path / "ro"
    shutil.copytree(run_folder, ro)
    for name in ("evaluation.yml", "evaluation.csv"):
        (ro / name).unlink(missing_ok=True)
    assert main(["evaluate", str(ro), "--episodes", "5", "--no-save"]) == 0
    assert not (ro / "evaluation.yml").exists()
    os.chmod(ro, 0o555)
    try:
        if os.access(ro, os.W_OK):  # root writes anyway
            pytest.skip("the folder stays writable for this user")
        assert main(["evaluate", str(ro), "--episodes", "5"]) == 0
        assert "rdo: warning: the evaluation is not saved" in capsys.readouterr().err
    finally:
        os.chmod(ro, 0o755)


def test_evaluate_reports_an_unfinished_run(capsys, run_folder, tmp_path):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(run_folder, partial)
    config = yaml.safe_load((partial / "run.yml").read_text())
    (partial / "run.yml").write_text(yaml.safe_dump({**config, "status": "interrupted", "steps_done": 1,
                                                     "timesteps": 1000}))
    assert main(["evaluate", str(partial), "--episodes", "5"]) == 0
    assert "trained 1 step of 1000 (interrupted) for cvar:0.25" in capsys.readouterr().out


def test_run_yml_of_an_earlier_version_still_loads(tmp_path, run_folder):
    from rdo_cli.run_folder import load_config

    config = yaml.safe_load((run_folder / "run.yml").read_text())
    for key in ("steps_done", "status", "error", "training", "commands", "versions"):
        del config[key]
    (tmp_path / "run.yml").write_text(yaml.safe_dump(config))
    old = load_config(tmp_path)
    assert old.status == "finished" and old.steps_done == 400
