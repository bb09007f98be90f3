"""Training progress for the command line: an SB3 callback that prints a line every 10%."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["ProgressLines"]


class ProgressLines(BaseCallback):
    """Print ``steps/total (pct), elapsed, ETA`` every ``every`` of the run (default 10%).

    Plain lines rather than a progress bar, so that logs and non-terminals read well and no extra
    dependency (tqdm/rich, SB3's ``progress_bar=True``) is needed.
    """

    def __init__(self, total_timesteps: int, every: float = 0.1, label: str = "train",
                 stream: TextIO | None = None):
        super().__init__()
        self.total = int(total_timesteps)
        self.step_size = max(1, int(self.total * every))
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self._next = self.step_size
        self._start = 0.0

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()
        self._next = self.step_size
        self._print(0)

    def _on_step(self) -> bool:
        done = self.model.num_timesteps
        if done >= self._next:
            self._print(done)
            while self._next <= done:
                self._next += self.step_size
        return True

    def _print(self, done: int) -> None:
        elapsed = time.perf_counter() - self._start
        eta = f", ETA {elapsed / done * (self.total - done):.0f} s" if 0 < done < self.total else ""
        print(f"[{self.label}] {done}/{self.total} steps ({100 * done / self.total:.0f}%), {elapsed:.0f} s{eta}",
              file=self.stream, flush=True)
