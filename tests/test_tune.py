"""`rdo tune` and `rdo_sb3.tuning`: a tiny study on rdo/CVaRGrid-v0 completes with distinct recorded seeds and
scores that are the exact normalized scores; the best trial's preset file trains again (rdo train --preset
and the RL Zoo's -conf); two `rdo tune` processes on one journal file run exactly the study's trials;
Ctrl-C keeps the finished trials and --resume runs the rest; bad flags give one error line."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

optuna = pytest.importorskip("optuna")

import rdo_envs  # noqa: E402
from rdo_cli.main import main  # noqa: E402
from rdo_gym import make_objective  # noqa: E402
from rdo_sb3.tuning import (  # noqa: E402
    NET_ARCHS,
    PruningEvalCallback,
    params_to_hyperparameters,
    run_trial,
    sample_detan_params,
    trial_score,
)

ENV_ID = "rdo/CVaRGrid-v0"
STUDY = "CVaRGrid-v0-detan-cvar_0.1"
# Tiny trials: 300 steps, learning from step 50, two evaluations of 10 episodes.
TINY = ["-n", "300", "--n-evaluations", "2", "--eval-episodes", "10", "--hyperparams", "learning_starts=50"]
FIXED = {"learning_rate": 1e-3, "n_quantiles": 25, "target_update_interval": 100, "exploration_fraction": 0.2,
         "exploration_final_eps": 0.05, "relabel_stocks": 0.5, "stock_scale": 0.1, "net_arch": "small"}


def rdo(*args, cwd, timeout=300, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "rdo_cli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"exit {process.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    return out


def trials_of(storage, name=STUDY):
    study = optuna.load_study(study_name=name, storage=storage)
    return study.get_trials(deepcopy=False)


def journal(path):
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


# -- the library ------------------------------------------------------------------------------------
def test_the_search_space_maps_to_detan_keyword_arguments():
    trial = optuna.trial.FixedTrial(FIXED)
    params = sample_detan_params(trial)
    assert params.stock_scale == 0.1
    assert params.hyperparameters == {
        "learning_rate": 1e-3, "target_update_interval": 100, "exploration_fraction": 0.2,
        "exploration_final_eps": 0.05, "relabel_stocks": 0.5,
        "policy_kwargs": {"net_arch": NET_ARCHS["small"], "n_quantiles": 25}}
    # the best trial's preset is rebuilt from trial.params: it must be what the trial trained with
    assert params_to_hyperparameters(trial.params) == params.hyperparameters
    for relabel, expected in ((0.0, False), (1.0, True), (0.25, 0.25)):
        got = sample_detan_params(optuna.trial.FixedTrial({**FIXED, "relabel_stocks": relabel}))
        assert got.hyperparameters["relabel_stocks"] is expected or got.hyperparameters["relabel_stocks"] == expected


def test_the_search_space_never_tunes_gamma_and_stays_in_its_ranges():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        params = sample_detan_params(study.ask())
        h = params.hyperparameters
        assert "gamma" not in h
        assert 1e-4 <= h["learning_rate"] <= 3e-3 and 0.02 <= params.stock_scale <= 1.0
        assert 0.05 <= h["exploration_fraction"] <= 0.5 and 0.01 <= h["exploration_final_eps"] <= 0.2
        assert h["policy_kwargs"]["net_arch"] in NET_ARCHS.values()


def test_the_trial_score_is_the_normalized_score_or_the_oriented_value():
    ref = rdo_envs.reference(ENV_ID, "cvar:0.1")
    cvar = make_objective("cvar:0.1")
    assert trial_score(ref.optimum, cvar, ref) == pytest.approx(1.0)
    assert trial_score(ref.risk_neutral, cvar, ref) == pytest.approx(0.0)
    assert trial_score(-3.0, cvar) == -3.0  # higher is better: the value itself
    assert trial_score(2.5, make_objective("target:4")) == -2.5  # E|G - 4|: lower is better


def test_a_pruned_trial_stops_training_early():
    base = rdo_envs.preset(ENV_ID).with_overrides(learning_starts=50, buffer_size=2000)
    ref = rdo_envs.reference(ENV_ID, "cvar:0.1")
    made = []

    def make_env(scale):
        made.append(scale)
        return rdo_envs.make_stock_env(ENV_ID, stock_scale=scale)

    # any score below 1e9 is pruned, from the first report on
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1e9))
    trial = study.ask()
    steps_seen = []

    class Spy(PruningEvalCallback):
        def evaluate(self):
            steps_seen.append(self.num_timesteps)
            return super().evaluate()

    import rdo_sb3.tuning as tuning

    original = tuning.PruningEvalCallback
    tuning.PruningEvalCallback = Spy
    try:
        with pytest.raises(optuna.TrialPruned):
            run_trial(trial, base, make_env, n_timesteps=400, seed=3, n_evaluations=4, eval_episodes=5,
                      reference=ref)
    finally:
        tuning.PruningEvalCallback = original
    assert steps_seen == [100]  # stopped at the first of four evaluations
    assert trial.user_attrs["seed"] == 3 and trial.user_attrs["pruned_at"] == 100
    assert set(made) == {trial.params["stock_scale"]}  # the sampled stock scale reaches the env


# -- a tiny study through the command line ------------------------------------------------------------
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    out = finish(rdo("tune", ENV_ID, "-o", "cvar:0.1", "--n-trials", "3", *TINY, "--seed", "7", "--pruner", "none",
                     "--sampler", "random", cwd=folder))
    return folder, out


def test_a_tiny_study_completes_with_distinct_recorded_seeds(study):
    folder, out = study
    path = folder / "runs" / "tune" / STUDY
    trials = trials_of(journal(path / "study.journal"))
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert [t.user_attrs["seed"] for t in trials] == [7, 8, 9]
    ref = rdo_envs.reference(ENV_ID, "cvar:0.1")
    for t in trials:  # the score is the exact normalized score of the objective's value
        assert t.value == pytest.approx(ref.normalized(t.user_attrs["value"]))
        assert t.user_attrs["normalized"] == pytest.approx(t.value)
    rows = list(csv.DictReader(open(path / "trials.csv")))
    assert sorted(int(r["number"]) for r in rows) == [0, 1, 2] and {r["seed"] for r in rows} == {"7", "8", "9"}
    for n in range(3):
        assert f"[trial {n}] normalized " in out
        evaluations = list(csv.DictReader(open(path / "trials" / f"trial_{n}" / "objective_evaluations.csv")))
        assert [e["timesteps"] for e in evaluations] == ["150", "300"]
        assert float(evaluations[-1]["value"]) == pytest.approx(trials[n].user_attrs["value"])
    best = max(trials, key=lambda t: t.value)
    assert f"best: trial {best.number}, score {best.value:.4f}" in out
    assert "3 of 3 trials finished (3 complete)" in out


def test_the_best_preset_file_holds_the_best_trial(study):
    folder, _ = study
    path = folder / "runs" / "tune" / STUDY
    trials = trials_of(journal(path / "study.journal"))
    best = max(trials, key=lambda t: (t.value, -t.number))
    entry = yaml.safe_load((path / "best.yml").read_text())[ENV_ID]
    expected = params_to_hyperparameters(best.params)
    for key, value in expected.items():
        assert entry[key] == value, key
    assert entry["objective"] == "cvar:0.1" and entry["gamma"] == 1.0 and entry["n_timesteps"] == 300
    (wrapper, kwargs), = entry["env_wrapper"][0].items()
    assert wrapper == "rdo_gym.StockAugmentation" and kwargs["stock_scale"] == best.params["stock_scale"]
    assert kwargs["initial_stock"] == "uniform-int:-8:8"
    shipped = rdo_envs.preset(ENV_ID).kwargs()
    assert entry["batch_size"] == shipped["batch_size"]  # the keys not searched are the shipped preset's


def test_the_best_preset_trains_with_rdo_train(study, capsys):
    folder, _ = study
    best = folder / "runs" / "tune" / STUDY / "best.yml"
    run = folder / "from-preset"
    assert main(["train", ENV_ID, "--preset", str(best), "-n", "200", "-f", str(run), "-q"]) == 0
    recorded = yaml.safe_load((run / "run.yml").read_text())
    entry = yaml.safe_load(best.read_text())[ENV_ID]
    assert recorded["objective"] == "cvar:0.1" and recorded["steps_done"] == 200
    log = (run / "train.log").read_text()
    assert "--preset FILE: the file's entry" in log and "--no-preset" not in log
    assert recorded["stock_scale"] == entry["env_wrapper"][0]["rdo_gym.StockAugmentation"]["stock_scale"]
    for key in ("learning_rate", "target_update_interval", "exploration_fraction", "relabel_stocks", "policy_kwargs"):
        assert recorded["hyperparams"][key] == entry[key], key
    # the file's budget is the default; -n and --hyperparams override it
    run2 = folder / "from-preset-2"
    assert main(["train", ENV_ID, "--preset", str(best), "-f", str(run2), "-q", "--hyperparams",
                 "learning_starts=10", "-n", "100"]) == 0
    recorded = yaml.safe_load((run2 / "run.yml").read_text())
    assert recorded["hyperparams"]["learning_starts"] == 10 and recorded["steps_done"] == 100


def test_the_best_preset_trains_through_the_zoo_launcher(study):
    pytest.importorskip("rl_zoo3")
    folder, _ = study
    best = folder / "runs" / "tune" / STUDY / "best.yml"
    process = subprocess.run([sys.executable, "-m", "rdo_sb3.zoo", "train", "--algo", "detan", "--env", ENV_ID,
                              "--gym-packages", "rdo_envs", "-conf", str(best), "-f", "logs", "-n", "200",
                              "--eval-freq", "200", "--seed", "0", "--num-threads", "1", "-params",
                              "learning_starts:50"], cwd=folder, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    assert "Objective eval num_timesteps=200: cvar:0.1 = " in process.stdout
    config = dict(yaml.load(open(folder / "logs" / "detan" / "rdo-CVaRGrid-v0_1" / "rdo-CVaRGrid-v0" / "config.yml"),
                            Loader=yaml.UnsafeLoader))
    entry = yaml.safe_load(best.read_text())[ENV_ID]
    assert config["learning_rate"] == entry["learning_rate"]


# -- workers ----------------------------------------------------------------------------------------------
def test_two_processes_on_one_journal_run_exactly_the_studys_trials(tmp_path):
    storage = tmp_path / "shared.journal"
    common = ["tune", ENV_ID, "-o", "cvar:0.1", "--n-trials", "6", *TINY, "--storage", str(storage),
              "--study-name", "shared", "--sampler", "random"]
    first = rdo(*common, "-f", "a", cwd=tmp_path)
    second = rdo(*common, "-f", "b", cwd=tmp_path)
    outs = [finish(first), finish(second)]
    trials = trials_of(journal(storage), "shared")
    assert sorted(t.number for t in trials) == list(range(6))  # exactly 6, no duplicate numbers
    assert all(t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL for t in trials)
    assert len({t.user_attrs["seed"] for t in trials}) == 6
    ran = [sum(line.startswith("[trial ") for line in out.splitlines()) for out in outs]
    assert sum(ran) == 6
    assert sum("created" in out.splitlines()[0] for out in outs) == 1
    assert sum("joined" in out.splitlines()[0] for out in outs) == 1


def test_n_jobs_runs_worker_processes_on_the_study(tmp_path):
    out = finish(rdo("tune", ENV_ID, "-o", "cvar:0.1", "--n-trials", "4", *TINY, "--n-jobs", "2", "--sampler",
                     "random", cwd=tmp_path))
    trials = trials_of(journal(tmp_path / "runs" / "tune" / STUDY / "study.journal"))
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert "[worker 1]" in out  # the second process ran some of them
    assert "4 of 4 trials finished" in out


def test_joining_with_other_settings_names_the_flag(tmp_path, capsys):
    storage = str(tmp_path / "s.journal")
    assert main(["tune", ENV_ID, "-o", "cvar:0.1", "--n-trials", "1", *TINY, "--storage", storage, "-q",
                 "-f", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main(["tune", ENV_ID, "-o", "cvar:0.1", "--n-trials", "1", "-n", "400", "--n-evaluations", "2",
                 "--eval-episodes", "10", "--storage", storage, "-f", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rdo: error: ") and "-n/--n-timesteps 300" in err[0]


@pytest.mark.slow  # three 3000-step trials, an interrupt and two resumes: about a minute on one core
def test_ctrl_c_keeps_the_finished_trials_and_resume_runs_the_rest(tmp_path):
    process = rdo("tune", ENV_ID, "-o", "cvar:0.1", "--n-trials", "4", "-n", "3000", "--n-evaluations", "1",
                  "--eval-episodes", "10", "--sampler", "random", "--pruner", "none", cwd=tmp_path)
    folder = tmp_path / "runs" / "tune" / STUDY
    deadline = time.monotonic() + 240
    lines = []
    while time.monotonic() < deadline:  # wait for the first finished trial
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith("[trial 0]"):
            break
    assert lines[-1].startswith("[trial 0]"), "".join(lines)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert "rdo: interrupted" in out + err and f"rdo tune --resume {Path('runs/tune') / STUDY}" in out
    trials = trials_of(journal(folder / "study.journal"))
    states = [t.state for t in trials]
    assert states[0] == optuna.trial.TrialState.COMPLETE
    assert optuna.trial.TrialState.FAIL in states  # the interrupted trial
    done_before = {t.number: t.value for t in trials if t.state == optuna.trial.TrialState.COMPLETE}
    # resume: the failed trial is queued again; the study ends with its 4 finished trials
    out = finish(rdo("tune", "--resume", str(folder), cwd=tmp_path))
    trials = trials_of(journal(folder / "study.journal"))
    finished = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 4 and "4 of 4 trials finished" in out
    assert {t.number: t.value for t in finished if t.number in done_before} == done_before  # kept as they were
    # a new total adds trials
    out = finish(rdo("tune", "--resume", str(folder), "--n-trials", "5", "-q", cwd=tmp_path))
    assert "5 of 5 trials finished" in out


def test_a_postgresql_url_names_the_installed_driver():
    from rdo_cli.tune import _with_driver

    assert _with_driver("postgresql://u@h:5/db") == "postgresql+psycopg2://u@h:5/db"  # psycopg2-binary: rdo[tune]
    assert _with_driver("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert _with_driver("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"  # a chosen driver stays
    assert _with_driver("sqlite:///f.db") == "sqlite:///f.db"


# -- bad flags ------------------------------------------------------------------------------------------
TUNE = ["tune", ENV_ID, "-o", "cvar:0.1"]
BAD = [
    ([*TUNE, "--n-trials", "0"], "--n-trials"),
    ([*TUNE, "--n-trials", "many"], "--n-trials"),
    ([*TUNE, "--n-jobs", "0"], "--n-jobs"),
    ([*TUNE, "--sampler", "grid"], "--sampler"),
    ([*TUNE, "--pruner", "hyperband"], "--pruner"),
    ([*TUNE, "--n-evaluations", "0"], "--n-evaluations"),
    ([*TUNE, "-n", "1.5"], "-n/--n-timesteps"),
    ([*TUNE, "-n", "2", "--n-evaluations", "4"], "--n-evaluations"),
    ([*TUNE, "--eval-episodes", "1"], "--eval-episodes"),
    ([*TUNE, "--seed", "-1"], "--seed"),
    ([*TUNE, "--n-startup-trials", "-2"], "--n-startup-trials"),
    (["tune", ENV_ID], "-o/--objective"),
    (["tune", "-o", "cvar:0.1"], "ENV_ID"),
    (["tune", "NoSuchEnv-v0", "-o", "mean"], "NoSuchEnv-v0"),
    ([*TUNE[:3], "cvar:2"], "alpha"),
    ([*TUNE, "--storage", "{tmp}"], "--storage"),
    ([*TUNE, "--storage", "nosuchdb://x/y"], "--storage"),
    (["tune", "--resume", "{tmp}/nope"], "--resume"),
    (["tune", "--resume", "{tmp}"], "study.yml"),
    (["tune", "--resume", "{tmp}", "--seed", "3"], "--seed"),
    (["tune", "--resume"], "--resume"),
    (["train", ENV_ID, "--preset", "{tmp}/none.yml"], "--preset"),
    (["train", ENV_ID, "--preset", "{bad}"], "CartPole-v1"),
    (["train", ENV_ID, "--preset", "{zoo_only}", "-n", "10"], "normalize"),
    (["train", ENV_ID, "--preset", "{bad}", "--no-preset"], "--no-preset"),
]


@pytest.mark.parametrize("argv, needle", BAD, ids=[" ".join(a[1:]) for a, _ in BAD])
def test_bad_tune_flags_give_one_error_line(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yml").write_text("CartPole-v1: {objective: mean, gamma: 1.0, n_timesteps: 10}\n")
    (tmp_path / "zoo.yml").write_text(f"{ENV_ID}: {{objective: mean, gamma: 1.0, n_timesteps: 10, normalize: true}}\n")
    argv = [a.format(tmp=tmp_path, bad=tmp_path / "bad.yml", zoo_only=tmp_path / "zoo.yml") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rdo: error: "), err
    assert needle in err[0]
