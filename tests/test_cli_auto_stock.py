"""`rdo train ENV -o cvar:...` on a Gymnasium env with no stock flag: the automatic stock range."""

from __future__ import annotations

import csv
import json

import yaml

from rdo_cli.main import main


def test_cvar_on_cartpole_needs_no_stock_flag_and_evaluates_during_training(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "CartPole-v1", "-o", "cvar:0.1", "-n", "1500", "--eval-freq", "1000",
                 "--eval-episodes", "5", "-f", str(out)]) == 0
    run = yaml.safe_load((out / "run.yml").read_text())
    auto = run["stock_range_auto"]
    low, high = run["stock_range"]
    # CartPole's returns are positive: the initial stocks c0 = -G lie below 0 and cover minus the returns seen
    assert low < high <= 0 and run["stock_scale"] > 0 and auto
    with open(out / "training_evaluations.csv") as f:  # the evaluation env follows the automatic scale
        rows = list(csv.DictReader(f))
    assert [int(r["steps"]) for r in rows] == [1000] and float(rows[0]["value"]) > 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--episodes", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["objective"] == "cvar:0.1" and report["value"] > 0


def test_tune_refuses_a_searched_c0_without_a_stock_range_in_one_line(capsys, tmp_path):
    code = main(["tune", "CartPole-v1", "-o", "cvar:0.1", "--n-trials", "1", "-n", "500", "-f", str(tmp_path / "t")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("rdo: error:") and "--stock-range LOW HIGH" in err[0]
