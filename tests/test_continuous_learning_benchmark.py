"""benchmarks/continuous_learning.py: a smoke run of every kind of agent, scored against the exact optimum."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import rdo_envs

ROOT = Path(__file__).resolve().parents[1]


def _load():
    path = ROOT / "benchmarks" / "continuous_learning.py"
    spec = importlib.util.spec_from_file_location("rdo_continuous_learning_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore:DEtaTQC chose the initial stock")  # 150 steps: an untrained net
def test_smoke_run_scores_each_agent_and_resumes(tmp_path, capsys):
    bench = _load()
    args = ["--settings", "prob30", "cvar0.5", "--agents", "detatqc-integer", "tqc", "sac-terminal", "detatqc-T0.5",
            "detatqc-ent-init0.02", "detatqc-midpoint",
            "--seeds", "1", "--steps", "150", "--episodes", "40", "--batch", "16", "--width", "8",
            "--out", str(tmp_path)]
    bench.main(args)
    rows = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    # the temperature, entropy-initialization and midpoint variants only run on the probability objective
    assert sorted((r["setting"], r["agent"]) for r in rows) == [
        ("cvar0.5", "detatqc-integer"), ("cvar0.5", "sac-terminal"), ("cvar0.5", "tqc"),
        ("prob30", "detatqc-T0.5"), ("prob30", "detatqc-ent-init0.02"), ("prob30", "detatqc-integer"),
        ("prob30", "detatqc-midpoint"), ("prob30", "sac-terminal"), ("prob30", "tqc")]
    for r in rows:
        ref = rdo_envs.reference("rdo/WealthGoal-v0", r["objective"])
        assert r["optimum"] == ref.optimum and r["normalized"] == pytest.approx(ref.normalized(r["value"]))
        if r["setting"] == "prob30":
            assert 0.0 <= r["value"] <= 1.0
            if r["agent"].startswith("detatqc"):
                assert r["c0"] == -30.0  # prob:30's own initial stock
        elif r["agent"] == "detatqc-integer":
            assert -40.0 <= r["c0"] <= 0.0 and float(r["c0"]).is_integer()  # searched on the integer range
    assert "detatqc-integer" in (tmp_path / "table.md").read_text()
    capsys.readouterr()
    bench.main(args)  # finished runs are skipped
    assert capsys.readouterr().out == "" and len((tmp_path / "runs.jsonl").read_text().splitlines()) == 9
