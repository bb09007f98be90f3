"""`rdo plot`: return-distribution CDFs of saved runs (rdo run folders or RL Zoo run folders) against the
exact laws of the optimum (PNG)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rdo_cli.errors import CliError
from rdo_cli.evaluate import evaluate_any, load_any_run, reference_of, run_env_id
from rdo_cli.zoo_folder import ZooRun
from rdo_envs.plots import Panel, require_matplotlib, save_return_plots
from rdo_gym import Objective, TargetReturn

__all__ = ["plot_runs", "run_label", "check_output", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
"""The image formats `--out` may name (matplotlib's common ones)."""


def check_output(out: Path) -> None:
    """Refuse an `--out` that cannot be written, before any run is evaluated.

    Args:
        out: The image file.
    """
    out = Path(out)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise CliError(f"--out {out}: name an image file ending in {', '.join(IMAGE_SUFFIXES)}")
    if out.is_dir():
        raise CliError(f"--out {out} is a folder: name an image file, e.g. {out / 'returns.png'}")
    existed = out.exists()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "ab"):
            pass
    except OSError as err:
        raise CliError(f"--out {out} cannot be written: {err.strerror or err}") from None
    if not existed:
        out.unlink()


def run_label(path: Path) -> str:
    """A run's default label: the name of its folder (an RL Zoo run's with its algo folder,
    `detan-rdo-CVaRGrid-v0_1`; `-best` for a `best_model.zip`).

    Args:
        path: A run folder or a model file in it.
    """
    from rdo_cli.zoo_folder import is_zoo_folder

    path = Path(path)
    folder = path.parent if path.suffix == ".zip" else path
    label = f"{folder.resolve().parent.name}-{folder.name}" if is_zoo_folder(path) else folder.name
    return f"{label}-best" if path.name == "best_model.zip" else label


def _objective_of(run) -> object:
    """A run's own objective (`None` for a Zoo agent on a plain env: it needs -o)."""
    return run.objective if isinstance(run, ZooRun) else run.config.objective


def _first_duplicate(labels: list[str]) -> str:
    return next(x for i, x in enumerate(labels) if x in labels[:i])


def plot_runs(paths: list[Path], out: Path, *, labels: list[str] | None = None, episodes: int = 1000,
              seed: int = 0, objective: Objective | None = None, say: Callable[[str], None] = print) -> Path:
    """Evaluate each run and draw their returns' CDFs against the exact laws, in one panel.

    Args:
        paths: Run folders (same env): rdo's or the RL Zoo's (`logs/<algo>/<env>_<n>`), or model files in them.
        out: The PNG file.
        labels: One label per run (default: the folder names).
        episodes: Monte Carlo episodes per run.
        seed: The seed of the first episode.
        objective: Evaluate on this objective instead of the runs' (which must then agree).
        say: Prints one line per run (its value), then the file written.

    Returns:
        The PNG's path.
    """
    try:
        require_matplotlib()
    except ImportError as err:
        raise CliError(str(err)) from None
    check_output(out)
    if labels is not None and len(labels) != len(paths):
        raise CliError(f"--labels gives {len(labels)} labels for {len(paths)} runs")
    runs = []
    try:
        for path in paths:  # one at a time, so that the envs already built are closed on an error
            runs.append(load_any_run(path, seed=seed))
        env_ids = {run_env_id(run) for run in runs}
        if len(env_ids) > 1:
            raise CliError(f"the runs are on different envs ({sorted(env_ids)}); plot one env at a time")
        objectives = {str(_objective_of(run)) for run in runs}
        if objective is None and len(objectives) > 1:
            raise CliError(f"the runs were trained for different objectives ({sorted(objectives)}); choose the one "
                           "to plot with -o SPEC")
        labels = labels or [run_label(path) for path in paths]
        if len(set(labels)) < len(labels):
            raise CliError(f"two runs would share the label {_first_duplicate(labels)!r}; name them with --labels")
        samples = {}
        for label, run in zip(labels, runs, strict=True):
            ev = evaluate_any(run, episodes, seed=seed, objective=objective)
            samples[label] = ev.returns
            say(f"{label}: {ev.objective} = {ev.value:.4f} (95% CI {ev.ci[0]:.4f} .. {ev.ci[1]:.4f})")
        first = runs[0]
        obj = objective if objective is not None else ev.objective
        ref = reference_of(first, obj)
    finally:
        for run in runs:
            run.close()
    exact = ref.distributions if ref is not None else {}
    target = obj.target if isinstance(obj, TargetReturn) else None
    path = save_return_plots([Panel(f"{run_env_id(first)}  {obj}", exact=exact, samples=samples, vline=target,
                                    vline_label="target", objective=obj)], out, ncols=1)
    say(f"wrote {path}")
    return path
