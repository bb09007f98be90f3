"""The return-distribution figures of the documentation, one PNG per benchmark.

    python benchmarks/figures.py --exact-only                 # DP optimum vs risk-neutral (vs naive), seconds
    python benchmarks/figures.py --runs /tmp/learning         # plus the learned agents of a learning run

``--runs`` reads the ``runs.jsonl`` (or ``results.json``) written by ``benchmarks/learning.py``
and draws, per benchmark and objective, the empirical CDF of each agent's returns (first seed)
against the exact CDFs of the DP optimum and of the risk-neutral policy (and the naive
stock-free CVaR policy). Writes ``docs/figures/returns_<benchmark>.png`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _learning_module():
    spec = importlib.util.spec_from_file_location("rdo_learning_benchmark", ROOT / "benchmarks" / "learning.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_runs(folder: Path) -> list[dict]:
    """The runs of a ``benchmarks/learning.py`` output folder."""
    log, results = folder / "runs.jsonl", folder / "results.json"
    if log.exists():
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    if results.exists():
        return json.loads(results.read_text())["runs"]
    raise SystemExit(f"no runs.jsonl or results.json in {folder}: run benchmarks/learning.py --out {folder} first")


def exact_figures(out: Path) -> list[Path]:
    """DP optimum vs risk-neutral (vs naive) for every benchmark's documented objectives."""
    import rdo_envs
    from rdo_envs.plots import Panel, save_return_plots
    from rdo_gym import TargetReturn, make_objective

    paths = []
    for env_id in rdo_envs.ENV_IDS:
        panels = []
        for spec in rdo_envs.benchmark_info(env_id).default_objectives:
            obj = make_objective(spec)
            ref = rdo_envs.reference(env_id, obj)
            target = obj.target if isinstance(obj, TargetReturn) else None
            label = "" if target is None else f"target {target:g}"
            panels.append(Panel(spec, exact=ref.distributions, vline=target, vline_label=label,
                                objective=obj))
        name = env_id.split("/")[-1].split("-")[0].lower()
        paths.append(save_return_plots(panels, out / f"exact_{name}.png", suptitle=f"{env_id}: exact return laws"))
    return paths


def learned_figures(runs: list[dict], out: Path) -> list[Path]:
    """Learned agents vs the exact laws, one PNG per benchmark."""
    learning = _learning_module()
    paths = []
    for env_id in sorted({learning.SETTINGS[r["setting"]].env_id for r in runs}):
        mine = [r for r in runs if learning.SETTINGS[r["setting"]].env_id == env_id]
        path = out / f"returns_{env_id.split('/')[-1].split('-')[0].lower()}.png"
        learning.plot(mine, path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=None, help="output folder of benchmarks/learning.py")
    parser.add_argument("--exact-only", action="store_true", help="only the exact laws (no learning run needed)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    args = parser.parse_args(argv)
    if args.runs is None and not args.exact_only:
        parser.error("give --runs FOLDER (a benchmarks/learning.py output) or --exact-only")
    for path in exact_figures(args.out):
        print(f"wrote {path}")
    if args.runs is not None:
        learned_figures(load_runs(args.runs), args.out)  # prints what it writes
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
