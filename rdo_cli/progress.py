"""Training progress for the command line: an SB3 callback that prints a line every 10%, and the
stream that sends those lines to the terminal and to the run folder's `train.log`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["ProgressLines", "LogStream"]


class LogStream:
    """A text stream writing to a terminal stream (unless quiet) and appending to a log file.

    Args:
        log: The log file (appended to; `None`: none).
        stream: The terminal stream (`None`: quiet).
    """

    def __init__(self, log: Path | None, stream: TextIO | None):
        self.log = log
        self.stream = stream

    def write(self, text: str) -> int:
        if self.stream is not None:
            self.stream.write(text)
        if self.log is not None:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(text)
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()

    def line(self, text: str) -> None:
        """Write `text` and a newline, flushed."""
        self.write(text + "\n")
        self.flush()


class ProgressLines(BaseCallback):
    """Print `steps/total (pct), elapsed, ETA` every `every` of the run (default 10%).

    Plain lines rather than a progress bar, so that logs and non-terminals read well and no extra
    dependency (tqdm/rich, SB3's `progress_bar=True`) is needed. The step count shown never
    exceeds the total (SB3 may collect a few steps past it, e.g. a `train_freq` of 4 on a total
    of 10, or several envs stepping together).

    Args:
        total_timesteps: The run's total steps.
        every: The fraction of the run between lines.
        label: The prefix, `[label]`.
        stream: Where the lines go (default stderr).
        start: The steps already done (a resumed run).
    """

    def __init__(self, total_timesteps: int, every: float = 0.1, label: str = "train",
                 stream: TextIO | LogStream | None = None, start: int = 0):
        super().__init__()
        self.total = max(1, int(total_timesteps))
        self.step_size = max(1, int(self.total * every))
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.start = int(start)
        self._next = self.step_size
        self._t0 = 0.0

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()
        self._next = (self.start // self.step_size + 1) * self.step_size
        self._print(self.start)

    def _on_step(self) -> bool:
        done = self.model.num_timesteps
        if done >= self._next:
            self._print(done)
            while self._next <= done:
                self._next += self.step_size
        return True

    def _print(self, done: int) -> None:
        done = min(int(done), self.total)
        elapsed = time.perf_counter() - self._t0
        this_run = done - self.start
        eta = f", ETA {elapsed / this_run * (self.total - done):.0f} s" if 0 < this_run and done < self.total else ""
        print(f"[{self.label}] {done}/{self.total} steps ({100 * done / self.total:.0f}%), {elapsed:.0f} s{eta}",
              file=self.stream, flush=True)
