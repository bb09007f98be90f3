"""``rdo`` on envs beyond the benchmarks: ``module:EnvId`` ids (a user's own package), observation
spaces SB3 cannot take (Blackjack's Tuple, flattened), several training envs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from rdo_cli.main import main

#: A user's env package: ``mypkg_envs:MyCount-v0`` (5 steps, reward = action; ``nan_at`` pays NaN
#: from that step on, counted over the process; ``delay`` sleeps in each step).
ENV_MODULE = '''
import time

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class CountEnv(gym.Env):
    def __init__(self, nan_at=None, delay=0.0):
        self.observation_space = spaces.Box(0.0, 5.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.nan_at, self.delay, self.total, self.t = nan_at, delay, 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        if self.delay:
            time.sleep(self.delay)
        self.t += 1
        self.total += 1
        reward = float(action)
        if self.nan_at is not None and self.total >= self.nan_at:
            reward = float("nan")
        return np.array([self.t], np.float32), reward, self.t >= 5, False, {}


gym.register("MyCount-v0", entry_point=CountEnv)
'''

ENV_ID = "mypkg_envs:MyCount-v0"
TINY = ["learning_starts=50", "buffer_size=2000", "target_update_interval=100"]


def write_env_module(folder: Path) -> Path:
    """Write ``mypkg_envs.py`` into ``folder`` (to put on PYTHONPATH); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mypkg_envs.py").write_text(ENV_MODULE)
    return folder


def rdo(*argv: str, pythonpath: Path | None = None, cwd: Path | None = None, timeout: float = 300):
    """``python -m rdo_cli ARGV`` in a subprocess (``pythonpath`` prepended to PYTHONPATH)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "rdo_cli", *argv], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if not ln.startswith("rdo: warning:")]
    assert len(lines) == 1 and lines[0].startswith("rdo: error: "), stderr
    return lines[0]


def test_a_users_module_env_trains_and_evaluates_in_a_subprocess(tmp_path):
    mods = write_env_module(tmp_path / "mods")
    run = tmp_path / "run"
    done = rdo("train", ENV_ID, "-o", "target:3", "-n", "300", "-f", str(run), "-q", "--hyperparams", *TINY,
               pythonpath=mods)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load((run / "run.yml").read_text())["env_id"] == ENV_ID
    ev = rdo("evaluate", str(run), "--episodes", "5", "--json", pythonpath=mods)
    assert ev.returncode == 0, ev.stderr
    report = json.loads(ev.stdout)
    assert report["env_id"] == ENV_ID and report["initial_stocks"] == [-3.0]


def test_module_prefix_of_the_documented_benchmark_id(capsys):
    assert main(["solve", "rdo_envs:rdo/CVaRGrid-v0", "-o", "cvar:0.1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rdo_envs:rdo/CVaRGrid-v0: 10 states, 4 actions, horizon 16")
    assert "DP optimum        -3.76094" in out


def test_a_missing_module_is_one_clear_line(tmp_path):
    bad = rdo("train", "nosuchpkg_xyz:MyEnv-v0", "-o", "mean", cwd=tmp_path)
    assert bad.returncode == 2
    line = one_error_line(bad.stderr)
    assert "cannot import module 'nosuchpkg_xyz'" in line and "PYTHONPATH" in line


def test_a_module_that_does_not_register_the_id(capsys, tmp_path, monkeypatch):
    (tmp_path / "emptymod_xyz.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["solve", "emptymod_xyz:Nothing-v0", "-o", "mean"]) == 2
    assert "unknown environment id 'emptymod_xyz:Nothing-v0'" in capsys.readouterr().err


def test_blackjack_tuple_observations_are_flattened_end_to_end(capsys, tmp_path):
    for algo in ("detan", "qrdqn"):
        folder = tmp_path / algo
        code = main(["train", "Blackjack-v1", "-o", "prob:1", "--algo", algo, "-n", "200", "-f", str(folder), "-q",
                     "--hyperparams", "learning_starts=50"])
        assert code == 0, capsys.readouterr().err
        assert main(["evaluate", str(folder), "--episodes", "10", "--json"]) == 0
        report = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert 0.0 <= report["value"] <= 1.0


def test_several_training_envs_write_one_monitor_file_each(capsys, tmp_path):
    folder = tmp_path / "vec"
    assert main(["train", "rdo/TargetGrid-v0", "-o", "target:4", "-n", "300", "--n-envs", "2", "-f", str(folder),
                 "-q", "--hyperparams", *TINY]) == 0
    config = yaml.safe_load((folder / "run.yml").read_text())
    assert config["training"]["n_envs"] == 2 and config["status"] == "finished" and config["steps_done"] >= 300
    assert (folder / "0.monitor.csv").exists() and (folder / "1.monitor.csv").exists()
    assert main(["evaluate", str(folder), "--episodes", "5"]) == 0
