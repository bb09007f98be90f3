"""`rdo tune` on a real PostgreSQL server: two concurrent worker processes on one `postgresql://` storage run
exactly the study's trials (no duplicate trial number, seed or parameters), `--resume` finds the study from the
folder's `study.yml`, and the best trial's preset file trains with `rdo train --preset`.

The set-up starts a throw-away server (initdb, pg_ctl start on a free port, CREATE DATABASE; stopped and removed
afterwards). It is skipped, with the reason, when the server binaries, the driver or the server start fail.
Set `RDO_PG_BIN` to the folder of `initdb` and `pg_ctl` if they are elsewhere than on `PATH` or in
`/usr/lib/postgresql/*/bin`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

optuna = pytest.importorskip("optuna")
pytest.importorskip("psycopg2", reason="the PostgreSQL driver psycopg2 is not installed (pip install \"rdo[tune]\")")

from rdo_cli.main import main  # noqa: E402
from rdo_cli.tune import make_storage  # noqa: E402

ENV_ID = "rdo/CVaRGrid-v0"
TINY = ["-n", "300", "--n-evaluations", "2", "--eval-episodes", "10", "--hyperparams", "learning_starts=50"]


def _server_binaries() -> Path | None:
    candidates = [os.environ.get("RDO_PG_BIN", "")]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """`postgresql://postgres@127.0.0.1:PORT/rdo_tune` of a server started for this module."""
    bin_dir = _server_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH, in /usr/lib/postgresql/*/bin or "
                    "RDO_PG_BIN (apt-get install postgresql)")
    root = os.geteuid() == 0
    if root:  # the server refuses to run as root: run it as the postgres user
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser is missing: cannot start PostgreSQL as another user")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
    as_server_user = ["runuser", "-u", "postgres", "--"] if root else []
    base = Path(tempfile.mkdtemp(prefix="rdo-pg-"))
    if root:
        shutil.chown(base, "postgres")
    data, log = base / "data", base / "server.log"
    port = _free_port()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_server_user, *args], capture_output=True, text=True, timeout=120)

    started = False
    try:
        steps = [
            (str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"),
            (str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
             f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"),
        ]
        for step in steps:
            done = run(*step)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip()[-500:]
                if log.exists():
                    tail += " | " + log.read_text()[-500:]
                pytest.skip(f"cannot start a PostgreSQL server ({Path(step[0]).name} exited {done.returncode}): {tail}")
            started = started or step[-1] == "start"
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE rdo_tune")
        connection.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/rdo_tune"
    finally:
        if started:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def rdo(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "rdo_cli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"exit {process.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    return out


def test_two_workers_on_postgresql_run_the_studys_trials_once_and_the_best_preset_trains(postgres_url, tmp_path):
    n_trials = 6
    common = ["tune", ENV_ID, "-o", "cvar:0.1", "--n-trials", str(n_trials), *TINY, "--storage", postgres_url,
              "--study-name", "pg-shared", "--sampler", "random", "--pruner", "none"]
    first = rdo(*common, "-f", "a", cwd=tmp_path)
    second = rdo(*common, "-f", "b", cwd=tmp_path)
    outs = [finish(first), finish(second)]
    assert sum("created" in out.splitlines()[0] for out in outs) == 1
    assert sum("joined" in out.splitlines()[0] for out in outs) == 1

    # (make_storage: the same storage object rdo tune opens for the URL, with its driver)
    trials = optuna.load_study(study_name="pg-shared", storage=make_storage(postgres_url)).get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(n_trials))  # exactly the requested trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials), [t.state for t in trials]
    assert sorted(t.user_attrs["seed"] for t in trials) == list(range(n_trials))  # --seed 0 + trial number
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == n_trials  # every trial sampled its own point: none was run twice
    ran = [sum(line.startswith("[trial ") for line in out.splitlines()) for out in outs]
    assert sum(ran) == n_trials and min(ran) >= 1, ran  # both processes took trials

    # the study folder records the URL: --resume finds the study, has nothing left to run, rewrites the report
    folder = tmp_path / "a"
    assert yaml.safe_load((folder / "study.yml").read_text()) == {"storage": postgres_url, "study_name": "pg-shared"}
    out = finish(rdo("tune", "--resume", "a", cwd=tmp_path))
    assert f"{n_trials} of {n_trials} trials finished ({n_trials} complete)" in out
    best = max(trials, key=lambda t: (t.value, -t.number))
    assert f"best: trial {best.number}, score {best.value:.4f}" in out
    entry = yaml.safe_load((folder / "best.yml").read_text())[ENV_ID]
    assert entry["learning_rate"] == best.params["learning_rate"]
    assert entry["env_wrapper"][0]["rdo_gym.StockAugmentation"]["stock_scale"] == best.params["stock_scale"]

    run = tmp_path / "from-best"
    assert main(["train", ENV_ID, "--preset", str(folder / "best.yml"), "-n", "200", "-f", str(run), "-q"]) == 0
    recorded = yaml.safe_load((run / "run.yml").read_text())
    assert recorded["steps_done"] == 200 and recorded["objective"] == "cvar:0.1"
    assert recorded["hyperparams"]["learning_rate"] == best.params["learning_rate"]
    assert recorded["stock_scale"] == best.params["stock_scale"]
