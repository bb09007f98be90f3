"""`rdo train --eval-freq N`: the objective's Monte Carlo value every N steps of training, printed
to stdout, appended to `training_evaluations.csv` in the run folder and recorded in SB3's logger
(`eval/value`, so in `progress.csv` and TensorBoard)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback

from rdo_cli.config import RunConfig
from rdo_cli.envs import make_env
from rdo_cli.formatting import num

__all__ = ["EVALUATIONS_FILE", "ObjectiveEvaluations"]

EVALUATIONS_FILE = "training_evaluations.csv"
_COLUMNS = ("steps", "objective", "value", "ci_low", "ci_high", "mean_return", "episodes")


class ObjectiveEvaluations(BaseCallback):
    """Evaluate the model on the run's objective every `every` steps (greedy episodes in a
    separate env, [`rdo_cli.evaluate.evaluate_run`][rdo_cli.evaluate.evaluate_run]: DηN chooses its `c0`).

    Args:
        config: The run's configuration.
        every: Steps between evaluations.
        episodes: Episodes per evaluation.
        folder: The run folder (the CSV goes there).
        say: Prints a line.
    """

    def __init__(self, config: RunConfig, every: int, episodes: int, folder: Path, say: Callable[[str], None]):
        super().__init__()
        self.config = config
        self.every = int(every)
        self.episodes = int(episodes)
        self.path = Path(folder) / EVALUATIONS_FILE
        self.say = say
        self._env = None
        self._next = 0

    def _on_training_start(self) -> None:
        self._env = make_env(self.config)
        self._next = (self.model.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.model.num_timesteps >= self._next:
            self._evaluate()
            self._next = (self.model.num_timesteps // self.every + 1) * self.every
        return True

    def _evaluate(self) -> None:
        from rdo_cli.evaluate import evaluate_run
        from rdo_cli.run_folder import Run

        steps = int(self.model.num_timesteps)
        layout = getattr(self.model, "stock_layout", None)  # the automatic range may have set a new stock scale
        env_layout = getattr(self._env, "stock_layout", None)
        if layout is not None and env_layout is not None and env_layout.scale != layout.scale:
            self._env.set_stock_scale(layout.scale)
        ev = evaluate_run(Run(self.config, self.model, self._env), self.episodes,
                          seed=10_000 + (self.config.seed or 0))
        row = {"steps": steps, "objective": str(ev.objective), "value": ev.value, "ci_low": ev.ci[0],
               "ci_high": ev.ci[1], "mean_return": float(ev.returns.mean()), "episodes": self.episodes}
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        self.logger.record("eval/value", ev.value)
        self.logger.record("eval/mean_return", row["mean_return"])
        self.say(f"[eval] {steps} steps: {ev.objective} = {num(ev.value, '.4f')} (95% CI {num(ev.ci[0], '.4f')} .. "
                 f"{num(ev.ci[1], '.4f')}, {self.episodes} episodes), mean return {num(row['mean_return'], '.4f')}")

    def _on_training_end(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
