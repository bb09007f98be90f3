"""`rdo tune`: search DηN's hyperparameters for an env and objective with Optuna.

A study is a fixed number of trials (`--n-trials`). Each trial samples DηN's search space
([`rdo_sb3.tuning.sample_detan_params`][rdo_sb3.tuning.sample_detan_params]) over the env's preset, trains for
`--n-timesteps` steps with its own seed (`--seed` + the trial's number, recorded as the trial's `seed`),
evaluates the objective `--n-evaluations` times at the agent's own initial stock (the pruner sees each
evaluation) and scores the last one: the normalized score against the exact reference where the env has
one (1 = the optimum, 0 = the risk-neutral policy), else the objective's value oriented so that higher
is better.

Storage: by default an Optuna journal file in the study folder (`runs/tune/STUDY/study.journal`, no
server); `--storage` takes a journal file path, `sqlite:///FILE` or any database URL
(`postgresql://user@host/db`), so that the same command on several machines joins the same study. The
study's `--n-trials` trials are queued when it is created, and every worker takes the next queued one,
so that the workers together run exactly that many trials. `--n-jobs N` runs N worker processes here.

The best trial is written as a preset file (`STUDY_FOLDER/best.yml`) that `rdo train --preset` and
the RL Zoo launcher's `-conf` read; `trials.csv` lists every trial. Ctrl-C stops the workers: finished
trials stay in the study, the interrupted ones are marked failed, and `rdo tune --resume STUDY_FOLDER`
runs them again (with `--n-trials`: a new total).
"""

from __future__ import annotations

import csv
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rdo_cli.config import RunConfig, TrainingStocks, env_name, resolve_run
from rdo_cli.envs import make_env, reference_for
from rdo_cli.errors import CliError
from rdo_cli.formatting import one_line

__all__ = ["SAMPLERS", "PRUNERS", "TuneSettings", "StudyHandle", "tune", "resume", "default_study_name",
           "STUDY_FILE", "BEST_FILE", "TRIALS_FILE", "JOURNAL_FILE"]

SAMPLERS = ("tpe", "random", "qmc")
"""`--sampler` choices: Optuna's TPE (multivariate, with the constant liar for parallel workers),
random search, quasi-Monte Carlo (Sobol)."""
PRUNERS = ("median", "halving", "none")
"""`--pruner` choices: Optuna's median rule (a trial whose score falls below the median of the earlier trials'
at the same evaluation stops, from the second evaluation on, once `--n-startup-trials` trials finished),
successive halving (rungs at evaluations 1, 4, 16...), or none."""
STUDY_FILE = "study.yml"
"""The study folder's record of the storage and the study's name (what `--resume FOLDER` reads)."""
BEST_FILE = "best.yml"
"""The best trial as a preset file."""
TRIALS_FILE = "trials.csv"
"""Every trial: number, state, score, objective value, seed, seconds, parameters."""
JOURNAL_FILE = "study.journal"
"""The default storage: an Optuna journal file in the study folder."""
_ATTR = "rdo_settings"
_READY = "rdo_n_trials"


@dataclass(frozen=True)
class TuneSettings:
    """What defines a study (recorded in it; a worker joining it must agree).

    Attributes:
        env_id: The Gymnasium id.
        objective: The objective spec.
        n_timesteps: Training steps per trial.
        n_evaluations: Evaluations per trial (the pruner's intermediate values).
        eval_episodes: Episodes per evaluation.
        seed: Trial `k` trains with seed `seed + k`; the samplers of this command's workers are
            seeded from it.
        sampler: One of [`SAMPLERS`][rdo_cli.tune.SAMPLERS].
        pruner: One of [`PRUNERS`][rdo_cli.tune.PRUNERS].
        n_startup_trials: Trials sampled at random before TPE models the results, and trials
            completed before the pruner prunes.
        stock_range: DηN's training stocks (`None`: the benchmark's, or the objective's fixed `c0`).
        hyperparams: Fixed entries over the env's preset (not searched; the search space's keys are
            sampled over them).
        env_kwargs: `gym.make` keyword arguments.
    """

    env_id: str
    objective: str
    n_timesteps: int
    n_evaluations: int = 4
    eval_episodes: int = 200
    seed: int = 0
    sampler: str = "tpe"
    pruner: str = "median"
    n_startup_trials: int = 5
    stock_range: tuple[float, float] | None = None
    hyperparams: dict[str, Any] | None = None
    env_kwargs: dict[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        """The settings as JSON-able data (a study user attribute)."""
        out = asdict(self)
        out["stock_range"] = None if self.stock_range is None else [float(x) for x in self.stock_range]
        out["env_kwargs"] = dict(self.env_kwargs or {})
        out["hyperparams"] = dict(self.hyperparams or {})
        return out

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> TuneSettings:
        """The settings recorded in a study.

        Args:
            data: [`record`][rdo_cli.tune.TuneSettings.record]'s mapping.
        """
        data = dict(data)
        if data.get("stock_range") is not None:
            data["stock_range"] = tuple(float(x) for x in data["stock_range"])
        return cls(**data)


def default_study_name(env_id: str, objective: str) -> str:
    """`<env>-detan-<objective>` with characters unsafe in paths replaced (`CVaRGrid-v0-detan-cvar_0.1`).

    Args:
        env_id: The Gymnasium id.
        objective: The objective spec.
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{env_name(env_id).split('/')[-1]}-detan-{objective}")


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise CliError('rdo tune needs optuna: pip install "rdo[tune]" (or pip install optuna)') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _is_url(storage: str) -> bool:
    return "://" in storage


def make_storage(storage: str) -> Any:
    """An Optuna storage: a database URL (`sqlite:///f.db`, `postgresql://...`, `mysql://...`), or the path
    of a journal file (created if needed).

    Args:
        storage: The URL or path.
    """
    optuna = _optuna()
    if _is_url(storage):
        try:
            return _rdb_storage(optuna, _with_driver(storage))
        except ImportError as err:
            driver = "psycopg2-binary" if storage.startswith("postgres") else "the database driver"
            raise CliError(f"--storage {storage}: {err}; install {driver} (pip install \"rdo[tune]\")") from None
        except Exception as err:  # bad URL, unreachable server, authentication...
            raise CliError(f"--storage {storage}: cannot open the database: {type(err).__name__}: "
                           f"{one_line(str(err))}") from None
    path = Path(storage)
    if path.is_dir():
        raise CliError(f"--storage {storage} is a folder: give a journal file (e.g. {path / JOURNAL_FILE}) or a "
                       "database URL")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    except OSError as err:
        raise CliError(f"--storage {storage}: cannot write the journal file: {err.strerror or err}") from None


def _rdb_storage(optuna: Any, url: str, attempts: int = 5) -> Any:
    """`RDBStorage(url)`. Workers started together on a new database race to create its tables; the losers' integrity
    error ("already exists") means the schema is there now, so they retry."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (IntegrityError, ProgrammingError) as err:
            if attempt == attempts - 1 or "already exists" not in str(err):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _with_driver(url: str) -> str:
    """A `postgresql://` (or `postgres://`) URL without a driver names the installed one: `postgresql+psycopg2://`
    when psycopg2 is there (SQLAlchemy 2.1 would otherwise look for psycopg 3), else `postgresql+psycopg://`."""
    import importlib.util

    scheme, _, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres"):
        return url
    for module, driver in (("psycopg2", "psycopg2"), ("psycopg", "psycopg")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}://{rest}"
    return url


def _sampler(name: str, n_startup_trials: int, seed: int | None) -> Any:
    optuna = _optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(n_startup_trials=n_startup_trials, multivariate=True, constant_liar=True,
                                          seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
    raise CliError(f"--sampler {name!r}: expected one of {', '.join(SAMPLERS)}")


def _pruner(name: str, settings: TuneSettings) -> Any:
    optuna = _optuna()
    if name == "median":  # from the second evaluation on (steps count evaluations)
        return optuna.pruners.MedianPruner(n_startup_trials=settings.n_startup_trials, n_warmup_steps=2)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=4, min_early_stopping_rate=0)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise CliError(f"--pruner {name!r}: expected one of {', '.join(PRUNERS)}")


@dataclass
class StudyHandle:
    """An open study and where it lives.

    Attributes:
        study: The `optuna.Study`.
        storage: The Optuna storage object.
        storage_name: `--storage` as given (URL or journal path).
        name: The study's name.
        folder: The local study folder (`best.yml`, `trials.csv`, per-trial evaluations).
        settings: What defines the study.
    """

    study: Any
    storage: Any
    storage_name: str
    name: str
    folder: Path
    settings: TuneSettings
    created: bool = False

    @property
    def n_trials(self) -> int:
        """The study's total number of trials."""
        return int(self.study.user_attrs.get(_READY, 0))


def _run_config(settings: TuneSettings, stock_scale: float | None = None) -> RunConfig:
    config, _ = resolve_run(settings.env_id, settings.objective, algo="detan", timesteps=settings.n_timesteps,
                            seed=settings.seed, overrides=dict(settings.hyperparams or {}),
                            stock_range=settings.stock_range, stock_scale=stock_scale, env_kwargs=settings.env_kwargs)
    if config.stocks is not None and config.stocks.auto:  # trials sample the stock scale: no automatic range
        raise CliError(f"rdo tune {settings.env_id} -o {config.objective}: {config.objective}'s c0 is searched, so the "
                       "trials need a range of initial stocks: give --stock-range LOW HIGH (e.g. minus the returns "
                       "you expect; rdo train finds one automatically and writes it to run.yml)")
    return config


def _write_study_file(folder: Path, storage_name: str, name: str) -> None:
    import yaml

    from rdo_cli.run_folder import atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    storage = storage_name if _is_url(storage_name) else os.path.relpath(Path(storage_name).resolve(),
                                                                         folder.resolve())
    text = yaml.safe_dump({"storage": storage, "study_name": name}, sort_keys=False)
    atomic_write(folder / STUDY_FILE, lambda tmp: tmp.write_text(text))


def _read_study_file(folder: Path) -> tuple[str, str]:
    import yaml

    path = folder / STUDY_FILE
    if not path.is_file():
        raise CliError(f"--resume {folder}: no {STUDY_FILE} (a study folder written by rdo tune holds it; for a "
                       "database give --resume with --storage URL --study-name NAME)")
    data = yaml.safe_load(path.read_text()) or {}
    storage = str(data["storage"])
    if not _is_url(storage) and not Path(storage).is_absolute():
        storage = str(folder / storage)
    return storage, str(data["study_name"])


def _count_active(study: Any) -> int:
    optuna = _optuna()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING,
              optuna.trial.TrialState.WAITING)
    return len(study.get_trials(deepcopy=False, states=states))


def _enqueue(study: Any, count: int) -> None:
    for _ in range(count):
        study.enqueue_trial({})


def _load(storage: Any, name: str, storage_name: str, sampler: Any = None, pruner: Any = None) -> Any:
    optuna = _optuna()
    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        raise CliError(f"no study named {name!r} in {storage_name}") from None


def _differing(ours: dict[str, Any], theirs: dict[str, Any]) -> str | None:
    for key in ours:
        if ours[key] != theirs.get(key):
            return key
    return None


def open_study(settings: TuneSettings, *, n_trials: int, storage_name: str, name: str, folder: Path,
               worker: int = 0, wait_s: float = 120.0) -> tuple[StudyHandle, bool]:
    """Create the study (queueing its `n_trials` trials) or join it.

    Joining needs the same settings (the first that differs is named in the error). The sampler of
    worker `w` of the creating command is seeded with `settings.seed + w`; a worker joining a study
    created elsewhere draws fresh entropy, so that the machines explore different points.

    Args:
        settings: What defines the study.
        n_trials: The study's total number of trials (when creating it).
        storage_name: The journal path or database URL.
        name: The study's name.
        folder: The local study folder.
        worker: This worker's index within the command.
        wait_s: How long a joining worker waits for the creator to queue the trials.

    Returns:
        `(handle, created)`.
    """
    optuna = _optuna()
    storage = make_storage(storage_name)
    created = False
    try:
        sampler = _sampler(settings.sampler, settings.n_startup_trials, settings.seed + worker)
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize", sampler=sampler,
                                    pruner=_pruner(settings.pruner, settings), load_if_exists=False)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = _load(storage, name, storage_name)
    if created:
        study.set_user_attr(_ATTR, settings.record())
        _enqueue(study, n_trials)
        study.set_user_attr(_READY, int(n_trials))
    else:
        deadline = time.monotonic() + wait_s
        while _READY not in study.user_attrs:
            if time.monotonic() > deadline:
                raise CliError(f"study {name!r} in {storage_name} was created without rdo tune's settings (or its "
                               "creator stopped before queueing its trials); choose another --study-name")
            time.sleep(0.5)
        recorded = study.user_attrs[_ATTR]
        differs = _differing(settings.record(), recorded)
        if differs is not None:
            raise CliError(f"study {name!r} in {storage_name} was created with {_flag(differs)} "
                           f"{_shown(recorded.get(differs))}, not {_shown(settings.record()[differs])}: give the "
                           "same settings to join it, or choose another --study-name")
        seed = settings.seed + worker if worker > 0 else None
        study = _load(storage, name, storage_name, _sampler(settings.sampler, settings.n_startup_trials, seed),
                      _pruner(settings.pruner, settings))
    _write_study_file(folder, storage_name, name)
    return StudyHandle(study, storage, storage_name, name, folder, settings, created), created


def _flag(key: str) -> str:
    return {"env_id": "ENV_ID", "objective": "-o/--objective", "n_timesteps": "-n/--n-timesteps"}.get(
        key, "--" + key.replace("_", "-"))


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in value)
    return str(value)


def reopen_study(storage_name: str, name: str, folder: Path, *, worker: int = 0, fresh_seed: bool = False
                 ) -> StudyHandle:
    """An existing study of `rdo tune`, with its recorded settings, sampler and pruner.

    Args:
        storage_name: The journal path or database URL.
        name: The study's name.
        folder: The local study folder.
        worker: This worker's index within the command (seeds its sampler with `seed + worker`).
        fresh_seed: Draw the sampler's seed from fresh entropy instead.
    """
    storage = make_storage(storage_name)
    study = _load(storage, name, storage_name)
    if _ATTR not in study.user_attrs:
        raise CliError(f"study {name!r} in {storage_name} was not created by rdo tune (no recorded settings)")
    settings = TuneSettings.from_record(study.user_attrs[_ATTR])
    seed = None if fresh_seed else settings.seed + worker
    study = _load(storage, name, storage_name, _sampler(settings.sampler, settings.n_startup_trials, seed),
                  _pruner(settings.pruner, settings))
    return StudyHandle(study, storage, storage_name, name, folder, settings)


# -- the workers ---------------------------------------------------------------------------------
def _pop_queued(handle: StudyHandle) -> Any:
    """The next queued trial, taken atomically (the storage's compare-and-set of WAITING -> RUNNING), or `None`."""
    optuna = _optuna()
    storage = handle.storage
    study_id = storage.get_study_id_from_name(handle.name)
    waiting = optuna.trial.TrialState.WAITING
    for frozen in storage.get_all_trials(study_id, deepcopy=False, states=(waiting,)):
        try:
            if storage.set_trial_state_values(frozen._trial_id, state=optuna.trial.TrialState.RUNNING):
                return optuna.Trial(handle.study, frozen._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


class _TrialEnvs:
    """`stock_scale -> env` of a study's run configuration (the scale a trial samples)."""

    def __init__(self, config: RunConfig):
        self.config = config

    def __call__(self, stock_scale: float) -> Any:
        stocks = self.config.stocks
        scaled = TrainingStocks(stocks.range, stocks.integer, float(stock_scale))
        config = RunConfig(env_id=self.config.env_id, algo="detan", objective=self.config.objective,
                           preset=self.config.preset, timesteps=self.config.timesteps, seed=self.config.seed,
                           stocks=scaled, env_kwargs=self.config.env_kwargs)
        return make_env(config)


def _params_text(params: dict[str, Any]) -> str:
    short = {"learning_rate": "lr", "n_quantiles": "N", "target_update_interval": "target_update",
             "exploration_fraction": "expl", "exploration_final_eps": "final_eps", "relabel_stocks": "relabel",
             "stock_scale": "stock_scale", "net_arch": "net"}
    out = []
    for key, value in params.items():
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        out.append(f"{short.get(key, key)} {shown}")
    return ", ".join(out)


def _reference(config: RunConfig) -> Any:
    env = make_env(config)
    try:
        return reference_for(config, config.objective, env)
    finally:
        env.close()


def run_worker(handle: StudyHandle, *, worker: int = 0, quiet: bool = False, say: Any = print) -> int:
    """Run queued trials of the study until none is left; returns the number this worker ran.

    A trial that raises is marked failed (its error recorded as the trial's `error`) and the worker
    goes on; Ctrl-C marks the running trial failed and re-raises `KeyboardInterrupt`.

    Args:
        handle: The open study.
        worker: This worker's index (shown in the lines).
        quiet: No per-trial lines.
        say: Prints a line.
    """
    optuna = _optuna()
    from rdo_sb3.tuning import run_trial

    settings = handle.settings
    config = _run_config(settings)
    reference = _reference(config)
    envs = _TrialEnvs(config)
    ran = 0
    while True:
        trial = _pop_queued(handle)
        if trial is None:
            return ran
        ran += 1
        seed = settings.seed + trial.number
        log_path = str(handle.folder / "trials" / f"trial_{trial.number}")
        start = time.perf_counter()
        try:
            result = run_trial(trial, config.preset, envs, n_timesteps=settings.n_timesteps, seed=seed,
                               n_evaluations=settings.n_evaluations, eval_episodes=settings.eval_episodes,
                               eval_seed=settings.seed, reference=reference, log_path=log_path)
        except optuna.TrialPruned as pruned:
            handle.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            line = f"PRUNED ({pruned})"
        except KeyboardInterrupt:
            handle.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        except Exception as err:
            trial.set_user_attr("error", one_line(f"{type(err).__name__}: {err}"))
            handle.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            line = f"FAILED: {one_line(f'{type(err).__name__}: {err}')}"
        else:
            handle.study.tell(trial, result.score)
            value = f"{settings.objective} = {result.evaluation.value:.4g}"
            what = "normalized" if reference is not None else "score"
            line = f"{what} {result.score:.3f} ({value})"
        if not quiet:
            who = f" [worker {worker}]" if worker else ""
            say(f"[trial {trial.number}]{who} {line}, seed {seed}, {time.perf_counter() - start:.0f} s: "
                f"{_params_text(trial.params)}")


def _worker_command(handle: StudyHandle, worker: int, threads: int, quiet: bool) -> list[str]:
    storage = handle.storage_name if _is_url(handle.storage_name) else str(Path(handle.storage_name).resolve())
    command = [sys.executable, "-m", "rdo_cli", "--threads", str(threads), "tune", "--worker-of",
               storage, handle.name, str(handle.folder), "--worker-index", str(worker)]
    if not handle.created:  # joined a study created elsewhere: explore other points than its creator's workers
        command.append("--worker-fresh-seed")
    return command + (["-q"] if quiet else [])


def _run_workers(handle: StudyHandle, n_jobs: int, threads: int, quiet: bool, say: Any) -> None:
    """This process's worker and `n_jobs - 1` more processes (`rdo tune --worker-of ...`)."""
    children = [subprocess.Popen(_worker_command(handle, i, threads, quiet)) for i in range(1, n_jobs)]
    try:
        run_worker(handle, worker=0, quiet=quiet, say=say)
        for child in children:
            child.wait()
    except KeyboardInterrupt:
        for child in children:  # they got the terminal's SIGINT too; wait for them to mark their trials
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
        raise
    failed = [c.returncode for c in children if c.returncode != 0]
    if failed:
        say(f"rdo: warning: {len(failed)} worker process(es) exited with status {failed[0]}")


# -- the report ----------------------------------------------------------------------------------
def _rows(handle: StudyHandle) -> list[dict[str, Any]]:
    rows = []
    for t in handle.study.get_trials(deepcopy=False):
        rows.append({"number": t.number, "state": t.state.name, "score": t.value,
                     "value": t.user_attrs.get("value"), "seed": t.user_attrs.get("seed"),
                     "seconds": t.user_attrs.get("seconds"), "params": dict(t.params),
                     "error": t.user_attrs.get("error")})
    return rows


def _write_trials(handle: StudyHandle, rows: list[dict[str, Any]]) -> Path:
    from rdo_cli.run_folder import atomic_write

    names = sorted({k for r in rows for k in r["params"]})

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["number", "state", "score", "value", "seed", "seconds", *names])
            for r in rows:
                writer.writerow([r["number"], r["state"], "" if r["score"] is None else r["score"],
                                 "" if r["value"] is None else r["value"], r["seed"], r["seconds"],
                                 *[r["params"].get(n, "") for n in names]])

    handle.folder.mkdir(parents=True, exist_ok=True)
    return atomic_write(handle.folder / TRIALS_FILE, write)


def best_config(handle: StudyHandle) -> tuple[Any, RunConfig] | None:
    """The best completed trial and its run configuration (the study's preset with the trial's values),
    or `None` before any trial completed."""
    from rdo_sb3.tuning import params_to_hyperparameters

    optuna = _optuna()
    done = handle.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        return None
    best = max(done, key=lambda t: (t.value, -t.number))
    params = dict(best.params)
    config = _run_config(handle.settings, stock_scale=float(params["stock_scale"]))
    config.preset = config.preset.with_overrides(**params_to_hyperparameters(params))
    return best, config


def write_best(handle: StudyHandle) -> Path | None:
    """Write the best trial as a preset file `STUDY_FOLDER/best.yml` (None before any trial completed)."""
    from rdo_cli.preset_file import write_preset_file, zoo_entry

    found = best_config(handle)
    if found is None:
        return None
    best, config = found
    reference = "rdo_envs.reference" if config.benchmark else None
    name = env_name(config.env_id)
    score = f"score {best.value:.4f}" if best.value is not None else ""
    comment = (f"DηN preset tuned by rdo tune: study {handle.name}, trial {best.number} of {handle.n_trials} "
               f"({score}, {config.objective} = {best.user_attrs.get('value', math.nan):.4g}, seed "
               f"{best.user_attrs.get('seed')}, {handle.settings.n_timesteps} steps).\n"
               f"rdo train {name} --preset best.yml     (or: python -m rdo_sb3.zoo train --algo detan --env {name} "
               f"-conf best.yml)")
    flatten = True
    env = make_env(config)
    try:
        from gymnasium import spaces

        flatten = not isinstance(env.observation_space, spaces.Dict)
    finally:
        env.close()
    return write_preset_file(handle.folder / BEST_FILE, {name: zoo_entry(config, flatten=flatten,
                                                                         eval_episodes=handle.settings.eval_episodes,
                                                                         reference=reference)}, comment)


def report(handle: StudyHandle) -> str:
    """The final table (trials by score, best first), the best trial and the files written."""
    rows = _rows(handle)
    _write_trials(handle, rows)
    best_path = write_best(handle)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    total = handle.n_trials
    finished = counts.get("COMPLETE", 0) + counts.get("PRUNED", 0)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    lines = [f"study {handle.name} ({handle.storage_name}): {finished} of {total} trials finished ({summary})"]
    ranked = sorted(rows, key=lambda r: (r["state"] != "COMPLETE", -(r["score"] if r["score"] is not None
                                                                    else -math.inf), r["number"]))
    names = list(ranked[0]["params"]) if ranked else []
    header = f"{'trial':>5}  {'state':<8} {'score':>7} {'value':>9} {'seed':>5} {'s':>5}  params"
    lines.append(header)
    for r in ranked:
        score = "" if r["score"] is None else f"{r['score']:.3f}"
        value = "" if r["value"] is None else f"{r['value']:.4g}"
        seconds = "" if r["seconds"] is None else f"{r['seconds']:.0f}"
        seed = "" if r["seed"] is None else str(r["seed"])
        params = _params_text({k: r["params"][k] for k in names if k in r["params"]})
        lines.append(f"{r['number']:>5}  {r['state']:<8} {score:>7} {value:>9} {seed:>5} {seconds:>5}  {params}")
    if best_path is not None:
        best, config = best_config(handle)
        lines.append(f"best: trial {best.number}, score {best.value:.4f}; preset written to {best_path}")
        lines.append(f"train it: rdo train {config.env_id} --preset {best_path}")
    lines.append(f"all trials: {handle.folder / TRIALS_FILE}")
    return "\n".join(lines)


# -- the commands ---------------------------------------------------------------------------------
def tune(settings: TuneSettings, *, n_trials: int, n_jobs: int = 1, storage: str | None = None,
         study_name: str | None = None, folder: Path | None = None, threads: int = 1, quiet: bool = False,
         say: Any = print) -> StudyHandle:
    """`rdo tune ENV -o SPEC`: create (or join) the study, run its trials with `n_jobs` workers, print the report.

    Args:
        settings: What defines the study.
        n_trials: The study's total number of trials.
        n_jobs: Worker processes on this machine.
        storage: A journal path or database URL (default: `FOLDER/study.journal`).
        study_name: The study's name (default [`default_study_name`][rdo_cli.tune.default_study_name]).
        folder: The study folder (default `runs/tune/STUDY`).
        threads: torch threads per worker.
        quiet: No per-trial lines.
        say: Prints a line.
    """
    name = study_name or default_study_name(settings.env_id, settings.objective)
    folder = Path(folder) if folder is not None else Path("runs") / "tune" / name
    storage_name = storage if storage is not None else str(folder / JOURNAL_FILE)
    _run_config(settings)  # every argument checked before the study is created
    handle, created = open_study(settings, n_trials=n_trials, storage_name=storage_name, name=name, folder=folder)
    if not created and n_trials != handle.n_trials:
        say(f"rdo: note: joined study {name}, which has {handle.n_trials} trials (--n-trials {n_trials} is ignored; "
            f"rdo tune --resume {folder} --n-trials N sets a new total)")
    left = len(handle.study.get_trials(deepcopy=False, states=(_optuna().trial.TrialState.WAITING,)))
    say(f"[tune] study {name} ({storage_name}): {'created' if created else 'joined'}, {left} of "
        f"{handle.n_trials} trials queued, {settings.n_timesteps} steps each, {n_jobs} worker(s)")
    _interruptible(handle, n_jobs, threads, quiet, say)
    return handle


def resume(folder: Path | None = None, *, storage: str | None = None, study_name: str | None = None,
           n_trials: int | None = None, n_jobs: int = 1, threads: int = 1, quiet: bool = False,
           say: Any = print) -> StudyHandle:
    """`rdo tune --resume`: queue the study's missing trials again (failed or interrupted ones; with
    `n_trials`, up to that new total) and run them.

    Args:
        folder: The study folder (its `study.yml` names the storage), or `None` with `storage` and `study_name`.
        storage: The journal path or database URL.
        study_name: The study's name.
        n_trials: A new total number of trials.
        n_jobs: Worker processes on this machine.
        threads: torch threads per worker.
        quiet: No per-trial lines.
        say: Prints a line.
    """
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise CliError(f"--resume {folder}: no such study folder")
        recorded_storage, recorded_name = _read_study_file(folder)
        storage = storage or recorded_storage
        study_name = study_name or recorded_name
    elif storage is None or study_name is None:
        raise CliError("--resume needs a study folder, or --storage URL and --study-name NAME")
    folder = folder if folder is not None else Path("runs") / "tune" / study_name
    handle = reopen_study(storage, study_name, folder)
    total = handle.n_trials if n_trials is None else int(n_trials)
    active = _count_active(handle.study)
    finished = len(handle.study.get_trials(deepcopy=False, states=(_optuna().trial.TrialState.COMPLETE,
                                                                   _optuna().trial.TrialState.PRUNED)))
    if n_trials is not None and n_trials < finished:
        raise CliError(f"--n-trials {n_trials} is the new total of the study: it already has {finished} finished "
                       "trials")
    _enqueue(handle.study, max(0, total - active))
    handle.study.set_user_attr(_READY, max(total, active))
    _write_study_file(folder, storage, study_name)
    left = len(handle.study.get_trials(deepcopy=False, states=(_optuna().trial.TrialState.WAITING,)))
    say(f"[tune] study {study_name} ({storage}): resumed, {left} of {handle.n_trials} trials queued")
    _interruptible(handle, n_jobs, threads, quiet, say)
    return handle


def worker(storage: str, study_name: str, folder: Path, *, index: int, fresh_seed: bool = False,
           quiet: bool = False) -> None:
    """One extra worker process of `rdo tune --n-jobs N` (`rdo tune --worker-of ...`): run queued trials.

    Args:
        storage: The journal path or database URL.
        study_name: The study's name.
        folder: The study folder.
        index: The worker's index (seeds its sampler with the study's seed + index).
        fresh_seed: Seed the sampler from fresh entropy instead.
        quiet: No per-trial lines.
    """
    handle = reopen_study(storage, study_name, Path(folder), worker=index, fresh_seed=fresh_seed)
    try:
        run_worker(handle, worker=index, quiet=quiet, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _interruptible(handle: StudyHandle, n_jobs: int, threads: int, quiet: bool, say: Any) -> None:
    try:
        _run_workers(handle, n_jobs, threads, quiet, say)
    except KeyboardInterrupt:
        say(report(handle))
        say(f"rdo: interrupted: the finished trials are kept in the study; continue with: rdo tune --resume "
            f"{handle.folder}")
        raise
    say(report(handle))
