"""`rdo train` / `rdo evaluate` on Gymnasium's toy-text envs, scored against their exact optima."""

from __future__ import annotations

import json

import pytest

import rdo_envs
from rdo_cli.main import main


@pytest.mark.parametrize("env_id, objective", [("Blackjack-v1", "prob:1"), ("FrozenLake-v1", "prob:1")])
def test_train_and_evaluate_report_the_exact_optimum(capsys, tmp_path, env_id, objective):
    out = tmp_path / "run"
    assert main(["train", env_id, "-o", objective, "--timesteps", "300", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--episodes", "50", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    ref = rdo_envs.external_reference(env_id, objective)
    # Blackjack has no transition table: its optimum comes from the card-rule model of rdo_envs.external
    assert report["optimum"] == pytest.approx(ref.optimum) and report["risk_neutral"] == pytest.approx(ref.risk_neutral)
    assert 0.0 <= report["value"] <= 1.0


def test_blackjack_env_kwargs_reach_the_reference(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "Blackjack-v1", "-o", "prob:1", "--timesteps", "300", "--out", str(out),
                 "--env-kwargs", "sab=False", "natural=True"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--episodes", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["optimum"] == pytest.approx(rdo_envs.external_reference("Blackjack-v1", "prob:1", sab=False,
                                                                          natural=True).optimum)
    assert report["optimum"] != pytest.approx(rdo_envs.external_reference("Blackjack-v1", "prob:1").optimum)
