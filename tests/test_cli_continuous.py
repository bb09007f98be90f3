"""`rdo train --algo detatqc | tqc`: the continuous-action agents end to end through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from sb3_contrib import TQC

from rdo_cli.main import main
from rdo_cli.run_folder import load_run
from rdo_sb3 import DEtaTQC

SMALL = ["--hyperparams", "learning_starts=50", "buffer_size=500", "batch_size=32",
         "policy_kwargs={net_arch: [16, 16], n_quantiles: 5}"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rdo: error:"), err
    return err[0]


def test_detatqc_trains_from_its_preset_evaluates_and_resumes(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "rdo/WealthGoal-v0", "-o", "cvar:0.5", "--algo", "detatqc", "-n", "200", "-f", str(out),
                 *SMALL]) == 0
    log = capsys.readouterr().err
    assert "the preset of rdo_envs/presets/detatqc.yml" in log
    run = yaml.safe_load((out / "run.yml").read_text())
    # the preset's settings (not SB3's defaults), the benchmark's training stocks and scale
    assert run["algo"] == "detatqc" and run["gamma"] == 1.0 and run["hyperparams"]["relabel_stocks"] == 0.5
    assert run["hyperparams"]["learning_rate"] == 1e-3 and run["stock_range"] == [-40.0, 0.0]
    assert run["stock_scale"] == pytest.approx(0.02)
    loaded = load_run(out)
    assert isinstance(loaded.model, DEtaTQC) and str(loaded.model.objective) == "cvar:0.5"
    assert loaded.model.relabel_stocks == 0.5 and loaded.model.gamma == 1.0
    loaded.env.close()

    assert main(["evaluate", str(out), "--episodes", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # DηTQC picks its own c0 by the outer search (within the training range), and the exact reference is shown
    assert report["algo"] == "detatqc" and report["objective"] == "cvar:0.5"
    assert all(-40.0 <= c <= 0.0 for c in report["initial_stocks"]) and np.isfinite(report["value"])
    assert report["optimum"] == pytest.approx(16.8729171338)

    assert main(["train", "--resume", str(out), "-n", "300"]) == 0
    capsys.readouterr()
    again = yaml.safe_load((out / "run.yml").read_text())
    assert again["steps_done"] == 300 and again["status"] == "finished"


def test_tqc_is_the_stock_free_peer(capsys, tmp_path):
    out = tmp_path / "peer"
    assert main(["train", "rdo/WealthGoal-v0", "-o", "prob:30", "--algo", "tqc", "-n", "120", "-f", str(out),
                 *SMALL, "relabel_stocks=0.5"]) == 0  # a stock agent's key is dropped, not refused
    capsys.readouterr()
    run = yaml.safe_load((out / "run.yml").read_text())
    assert run["algo"] == "tqc" and run["stock_range"] is None and "relabel_stocks" not in run["hyperparams"]
    loaded = load_run(out)
    assert type(loaded.model) is TQC and loaded.env.observation_space.shape == (2,)  # no stock: (wealth, time)
    loaded.env.close()
    assert main(["evaluate", str(out), "--episodes", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["algo"] == "tqc" and report["objective"] == "prob:30" and 0.0 <= report["value"] <= 1.0


def test_the_action_space_names_the_agent_that_fits(capsys, tmp_path):
    assert main(["train", "rdo/WealthGoal-v0", "-o", "cvar:0.5", "-n", "100", "-f", str(tmp_path / "a")]) == 2
    line = _one_error_line(capsys)
    assert "detan needs a Discrete action space" in line and "--algo detatqc" in line
    assert main(["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--algo", "detatqc", "-n", "100",
                 "-f", str(tmp_path / "b")]) == 2
    line = _one_error_line(capsys)
    assert "detatqc needs a Box action space" in line and "--algo detan" in line
    assert main(["train", "CartPole-v1", "-o", "mean", "--algo", "tqc", "-n", "100", "-f", str(tmp_path / "c")]) == 2
    assert "tqc needs a Box action space" in _one_error_line(capsys)


def test_detatqc_on_a_gymnasium_env_with_the_automatic_stock_range(capsys, tmp_path):
    out = tmp_path / "pendulum"
    assert main(["train", "Pendulum-v1", "-o", "cvar:0.2", "--algo", "detatqc", "-n", "300", "-f", str(out),
                 *SMALL]) == 0
    assert "stock range auto: discounted returns" in capsys.readouterr().err
    run = yaml.safe_load((out / "run.yml").read_text())
    low, high = run["stock_range"]
    assert run["stock_range_auto"] and 0.0 <= low < high  # Pendulum's returns are negative: c0 = -G >= 0
    assert main(["evaluate", str(out), "--episodes", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["algo"] == "detatqc"
