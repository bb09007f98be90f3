"""``rdo train`` keeps what it trained: periodic atomic checkpoints, a saved run on SIGTERM, on
SIGKILL (the last checkpoint) and on an error, and ``--resume`` to completion."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from test_cli_envs import ENV_ID, TINY, one_error_line, rdo, write_env_module

from rdo_cli.main import main
from rdo_cli.run_folder import atomic_write


def read_run(folder: Path) -> dict:
    return yaml.safe_load((folder / "run.yml").read_text())


def start_training(folder: Path, mods: Path, total: int, *extra: str) -> subprocess.Popen:
    """A slow training (3 ms per env step) of the module env in a subprocess, checkpointing every 200 steps."""
    import os

    env = {**os.environ, "PYTHONPATH": str(mods)}
    argv = [sys.executable, "-m", "rdo_cli", "train", ENV_ID, "-o", "target:3", "-n", str(total), "-f", str(folder),
            "--checkpoint-every", "200", "--env-kwargs", "delay=0.003", "--hyperparams", *TINY, *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_checkpoint(folder: Path, proc: subprocess.Popen, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (folder / "run.yml").exists():
            config = read_run(folder)
            if config["steps_done"] >= 200:
                return config
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("no checkpoint was written")


def test_sigterm_saves_the_run_and_resume_completes_it(tmp_path):
    mods = write_env_module(tmp_path / "mods")
    folder = tmp_path / "run"
    proc = start_training(folder, mods, 1500, "--save-replay-buffer")
    wait_for_checkpoint(folder, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines()[-1].startswith("rdo: interrupted by SIGTERM: saved the run after ")
    assert "Traceback" not in err
    config = read_run(folder)
    assert config["status"] == "interrupted" and 200 <= config["steps_done"] < 1500 and config["timesteps"] == 1500
    assert (folder / "replay_buffer.pkl").exists() and zipfile.is_zipfile(folder / "model.zip")
    episodes_before = len((folder / "monitor.csv").read_text().splitlines())

    done = rdo("train", "--resume", str(folder), "-q", pythonpath=mods)
    assert done.returncode == 0, done.stderr
    config = read_run(folder)
    assert config["status"] == "finished" and config["steps_done"] >= 1500 and config["error"] is None
    assert len(config["commands"]) == 2 and config["commands"][1].endswith(f"train --resume {folder} -q")
    assert len((folder / "monitor.csv").read_text().splitlines()) > episodes_before  # appended, not restarted
    assert f"{config['steps_done']} steps" in done.stdout
    from rdo_sb3 import DEtaN

    assert DEtaN.load(folder / "model.zip").num_timesteps == config["steps_done"]


def test_sigkill_leaves_the_last_checkpoint_which_resumes(tmp_path):
    mods = write_env_module(tmp_path / "mods")
    folder = tmp_path / "run"
    proc = start_training(folder, mods, 1000, "-q")
    wait_for_checkpoint(folder, proc)
    proc.kill()  # SIGKILL: no handler runs, possibly mid-write
    proc.communicate(timeout=60)
    config = read_run(folder)  # a complete run.yml (the previous checkpoint's, at worst)
    assert config["status"] == "running" and config["steps_done"] >= 200
    assert zipfile.is_zipfile(folder / "model.zip")
    done = rdo("train", "--resume", str(folder), "-q", pythonpath=mods)
    assert done.returncode == 0, done.stderr
    assert read_run(folder)["status"] == "finished"


def test_an_error_mid_run_saves_a_failed_run_with_its_error_line(capsys, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_env_module(tmp_path / "mods")))
    folder = tmp_path / "nan"
    code = main(["train", ENV_ID, "-o", "mean", "-n", "1000", "-f", str(folder), "-q", "--env-kwargs", "nan_at=600",
                 "--hyperparams", *TINY])
    err = capsys.readouterr().err
    assert code == 2
    line = one_error_line(err)
    assert "training failed after 599 of 1000 steps" in line and "reward=nan" in line
    assert f"rdo train --resume {folder}" in line
    config = read_run(folder)
    assert config["status"] == "failed" and config["steps_done"] == 599 and "reward=nan" in config["error"]
    assert zipfile.is_zipfile(folder / "model.zip")
    # This env pays NaN from its 600th step in a process: the remaining 401 steps of a resume stay below it.
    assert main(["train", "--resume", str(folder), "-q"]) == 0
    config = read_run(folder)
    assert config["status"] == "finished" and config["error"] is None and config["steps_done"] >= 1000


def test_periodic_checkpoints_default_to_a_tenth_of_the_run(tmp_path, monkeypatch):
    from rdo_cli import run_folder
    from rdo_cli import train as train_module

    saved = []
    real = run_folder.save_run

    def spy(config, model, folder, **kwargs):
        saved.append((config.status, int(model.num_timesteps)))
        return real(config, model, folder, **kwargs)

    monkeypatch.setattr(train_module, "save_run", spy)
    assert main(["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.25", "-n", "500", "-f", str(tmp_path / "r"), "-q",
                 "--hyperparams", *TINY]) == 0
    statuses = [s for s, _ in saved]
    assert statuses[-1] == "finished" and set(statuses[:-1]) == {"running"}
    steps = [n for s, n in saved if s == "running"]
    assert steps == sorted(steps) and len(steps) >= 9 and all(n % 50 == 0 for n in steps)
    assert read_run(tmp_path / "r")["training"]["checkpoint_every"] == 50


def test_atomic_write_keeps_the_previous_file_when_a_write_fails(tmp_path):
    target = tmp_path / "model.zip"
    target.write_bytes(b"previous checkpoint")

    def dies_mid_write(tmp: Path) -> None:
        tmp.write_bytes(b"half a")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, dies_mid_write)
    assert target.read_bytes() == b"previous checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.zip"]  # no temporary file left


@pytest.mark.parametrize("argv, message", [
    (["train", "--resume", "{run}", "-o", "mean"], "drop -o/--objective"),
    (["train", "--resume", "{run}", "--hyperparams", "batch_size=8"], "drop --hyperparams"),
    (["train", "--resume", "{run}"], "already trained 100 of its 100 steps"),
    (["train", "--resume", "{run}", "-n", "50"], "give more than the 100 steps"),
    (["train", "--resume", "{missing}"], "no such run folder"),
])
def test_resume_refusals(capsys, tmp_path, argv, message):
    run = tmp_path / "run"
    assert main(["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.25", "-n", "100", "-f", str(run), "-q",
                 "--hyperparams", *TINY]) == 0
    capsys.readouterr()
    argv = [a.format(run=run, missing=tmp_path / "nope") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rdo: error: ") and err.count("\n") == 1 and message in err
