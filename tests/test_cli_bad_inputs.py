"""A catalogue of bad ``rdo`` command lines: each exits with status 2 and prints exactly one line on
stderr, ``rdo: error: ...``, naming the argument at fault (and no traceback)."""

from __future__ import annotations

import shutil

import pytest
import torch

from rdo_cli.main import main

TINY = ["learning_starts=50", "buffer_size=2000", "target_update_interval=100"]
TRAIN = ["train", "rdo/CVaRGrid-v0", "-o", "cvar:0.1"]

# (command line, a text the message must contain: the argument's name, or the value at fault).
# Placeholders: {run} a trained run folder; {yaml}, {keys}, {zip}, {nomodel}, {empty} broken copies;
# {tmp} a scratch folder.
CASES = [
    # rdo train: numbers
    ([*TRAIN, "-n", "1.5"], "-n/--timesteps"),
    ([*TRAIN, "-n", "0"], "-n/--timesteps"),
    ([*TRAIN, "-n", "many"], "-n/--timesteps"),
    ([*TRAIN, "-n", "inf"], "-n/--timesteps"),
    ([*TRAIN, "--seed", "-1"], "--seed"),
    ([*TRAIN, "--threads", "0"], "--threads"),
    (["--threads", "two", *TRAIN], "--threads"),
    ([*TRAIN, "--n-envs", "0"], "--n-envs"),
    ([*TRAIN, "--checkpoint-every", "-5"], "--checkpoint-every"),
    ([*TRAIN, "--eval-freq", "1.5"], "--eval-freq"),
    ([*TRAIN, "--eval-episodes", "1"], "--eval-episodes"),
    # rdo train: choices and stocks
    ([*TRAIN, "--algo", "ppo"], "--algo"),
    ([*TRAIN, "--device", "tpu"], "--device"),
    ([*TRAIN, "--stock-range", "0"], "--stock-range"),
    ([*TRAIN, "--stock-range", "low", "high"], "--stock-range"),
    ([*TRAIN, "--stock-range", "0", "inf"], "--stock-range"),
    ([*TRAIN, "--stock-range", "nan", "1"], "--stock-range"),
    ([*TRAIN, "--stock-range", "5", "1"], "--stock-range"),
    ([*TRAIN, "--stock-scale", "0"], "--stock-scale"),
    ([*TRAIN, "--stock-scale", "inf"], "--stock-scale"),
    ([*TRAIN, "--gamma", "0"], "--gamma"),
    ([*TRAIN, "--gamma", "1.5"], "--gamma"),
    # rdo train: hyperparameters and env kwargs
    ([*TRAIN, "--hyperparams", "batch_size=-5"], "batch_size"),
    ([*TRAIN, "--hyperparams", "batch_size=2.5"], "batch_size"),
    ([*TRAIN, "--hyperparams", "buffer_size=0"], "buffer_size"),
    ([*TRAIN, "--hyperparams", "learning_starts=-1"], "learning_starts"),
    ([*TRAIN, "--hyperparams", "learning_rate=0"], "learning_rate"),
    ([*TRAIN, "--hyperparams", "learning_rate=fast"], "learning_rate"),
    ([*TRAIN, "--hyperparams", "exploration_fraction=2"], "exploration_fraction"),
    ([*TRAIN, "--hyperparams", "train_freq=0"], "train_freq"),
    ([*TRAIN, "--hyperparams", "gradient_steps=0"], "gradient_steps"),
    ([*TRAIN, "--hyperparams", "target_update_interval=true"], "target_update_interval"),
    ([*TRAIN, "--hyperparams", "policy_kwargs={net_arch: [64, 0]}"], "net_arch"),
    ([*TRAIN, "--hyperparams", "policy_kwargs={n_quantiles: 0}"], "n_quantiles"),
    ([*TRAIN, "--hyperparams", "oops"], "--hyperparams"),
    ([*TRAIN, "--hyperparams", "gamma=0.9"], "--gamma"),
    ([*TRAIN, "--hyperparams", "device=cuda"], "--device"),
    ([*TRAIN, "-n", "10", "--hyperparams", "learning_rat=1"], "learning_rat"),
    (["train", "FrozenLake-v1", "-o", "mean", "--env-kwargs", "oops"], "--env-kwargs"),
    (["train", "FrozenLake-v1", "-o", "mean", "--env-kwargs", "map_name=9x9"], "map_name"),
    # rdo train: what to train
    (["train", "rdo/CVaRGrid-v0"], "-o/--objective"),
    (["train", "-o", "mean"], "ENV_ID"),
    (["train", "rdo/CVaRGrid-v0", "-o", "quantile:0.5"], "quantile"),
    (["train", "rdo/CVaRGrid-v0", "-o", "cvar:2"], "alpha"),
    (["train", "NoSuchEnv-v0", "-o", "mean"], "NoSuchEnv-v0"),
    (["train", "nosuchpkg_xyz:Env-v0", "-o", "mean"], "nosuchpkg_xyz"),
    (["train", "Pendulum-v1", "-o", "mean", "-n", "10"], "Pendulum-v1"),
    ([*TRAIN, "-n", "10", "-f", "{run}"], "--force"),
    (["train", "--resume", "{tmp}/nope"], "--resume"),
    (["train", "--resume", "{run}", "-o", "mean"], "-o/--objective"),
    (["train", "--resume", "{run}", "--seed", "3"], "--seed"),
    (["train", "--resume", "{run}", "-n", "10"], "-n/--timesteps"),
    (["train", "--resume", "{nomodel}"], "model.zip"),
    # rdo evaluate
    (["evaluate", "{tmp}/no/such/run"], "no/such/run"),
    (["evaluate", "{empty}"], "model.zip"),
    (["evaluate", "{nomodel}"], "model.zip"),
    (["evaluate", "{zip}"], "model.zip"),
    (["evaluate", "{yaml}"], "run.yml"),
    (["evaluate", "{keys}"], "run.yml"),
    (["evaluate", "{run}", "--episodes", "1"], "--episodes"),
    (["evaluate", "{run}", "--seed", "x"], "--seed"),
    (["evaluate", "{run}", "-o", "cvar:0"], "alpha"),
    (["evaluate"], "run"),
    # rdo solve
    (["solve", "FrozenLake-v1", "-o", "prob:1", "--horizon", "0"], "--horizon"),
    (["solve", "rdo/CVaRGrid-v0", "-o", "cvar:0.1", "--horizon", "30"], "--horizon"),
    (["solve", "CartPole-v1", "-o", "mean"], "CartPole-v1"),
    (["solve", "FrozenLak-v1", "-o", "prob:1"], "FrozenLak-v1"),
    (["solve", "FrozenLake-v1"], "-o/--objective"),
    (["solve", "FrozenLake-v1", "-o", "cvar"], "cvar"),
    (["solve", "rdo/Homeostasis-v0", "-o", "homeostasis:3"], "homeostasis:3"),
    # rdo plot
    (["plot", "{run}", "--out", "/proc/x.png"], "--out"),
    (["plot", "{run}", "--out", "{tmp}/x.txt"], "--out"),
    (["plot", "{run}", "--out", "{tmp}"], "--out"),
    (["plot", "{run}", "--labels", "a", "b", "--out", "{tmp}/x.png"], "--labels"),
    (["plot", "{tmp}/none", "--out", "{tmp}/x.png"], "none"),
    (["plot", "{run}", "--episodes", "1e9.5"], "--episodes"),
    # rdo demo
    (["demo", "--alpha", "0.3"], "--alpha"),
    (["demo", "--episodes", "0"], "--episodes"),
    (["demo", "-n", "1.5"], "-n/--timesteps"),
    # the command itself
    ([], "COMMAND"),
    (["fit"], "COMMAND"),
    (["solve", "FrozenLake-v1", "-o", "mean", "--frobnicate"], "--frobnicate"),
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A tiny trained run and broken copies of it."""
    root = tmp_path_factory.mktemp("bad")
    run = root / "run"
    assert main([*TRAIN, "-n", "100", "-f", str(run), "-q", "--hyperparams", *TINY]) == 0
    out = {"run": run}
    for name in ("yaml", "keys", "zip", "nomodel"):
        shutil.copytree(run, root / name)
        out[name] = root / name
    (root / "yaml" / "run.yml").write_text("env_id: rdo/CVaRGrid-v0\nalgo: [detan\nobjective: cvar:0.1\n")
    (root / "keys" / "run.yml").write_text("env_id: rdo/CVaRGrid-v0\nalgo: detan\n")
    (root / "zip" / "model.zip").write_bytes(b"not a zip at all")
    (root / "nomodel" / "model.zip").unlink()
    (root / "empty").mkdir()
    out["empty"] = root / "empty"
    return out


def fill(text: str, tmp, folders) -> str:
    for key, path in {"tmp": tmp, **folders}.items():
        text = text.replace("{" + key + "}", str(path))
    return text


@pytest.mark.parametrize("argv, names", CASES, ids=[" ".join(a) or "(none)" for a, _ in CASES])
def test_bad_command_line(capsys, tmp_path, monkeypatch, folders, argv, names):
    if "--device" in argv and "cuda" in argv and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    monkeypatch.chdir(tmp_path)
    argv = [fill(a, tmp_path, folders) for a in argv]
    code = main(argv)
    _, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("rdo: error: "), err
    assert "Traceback" not in err
    assert fill(names, tmp_path, folders) in lines[0]


def test_the_catalogue_covers_every_command():
    commands = {argv[0] if argv and not argv[0].startswith("-") else (argv[2] if argv else "") for argv, _ in CASES}
    assert {"train", "evaluate", "solve", "plot", "demo"} <= commands
    assert len(CASES) >= 80
