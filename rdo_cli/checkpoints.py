"""Saving a run while it trains, and resuming it.

* [`Checkpoints`][rdo_cli.checkpoints.Checkpoints] saves the run folder every N steps (`--checkpoint-every`), each file
  written atomically ([`rdo_cli.run_folder.atomic_write`][rdo_cli.run_folder.atomic_write]): a kill mid-write leaves the
  previous checkpoint.
* [`StopOnSignal`][rdo_cli.checkpoints.StopOnSignal] turns SIGTERM and SIGINT into a clean stop at the next env step,
  so that `rdo train` saves the run (status `interrupted`) before it exits; a second signal stops at
  once (`KeyboardInterrupt`).
* [`load_for_resume`][rdo_cli.checkpoints.load_for_resume] reads a run folder back into a model that continues where
  it stopped (its step count, optionally its replay buffer).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from rdo_cli.config import RunConfig
from rdo_cli.errors import CliError
from rdo_cli.formatting import one_line
from rdo_cli.run_folder import MODEL_FILE, REPLAY_BUFFER_FILE

__all__ = ["Checkpoints", "StopOnSignal", "load_for_resume"]


class Checkpoints(BaseCallback):
    """Call `save()` every `every` env steps (0: never).

    Args:
        every: Steps between checkpoints.
        save: Saves the run folder.
    """

    def __init__(self, every: int, save: Callable[[], None]):
        super().__init__()
        self.every = int(every)
        self.save = save
        self._next = 0

    def _on_training_start(self) -> None:
        if self.every > 0:
            self._next = (self.model.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.every > 0 and self.model.num_timesteps >= self._next:
            self.save()
            self._next = (self.model.num_timesteps // self.every + 1) * self.every
        return True


class StopOnSignal(BaseCallback):
    """Stop training at the next env step after SIGTERM or SIGINT (used as a context manager,
    which installs the handlers and restores the previous ones).

    Attributes:
        signum: The signal received, or `None`.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        super().__init__()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals stay as they are
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def _on_step(self) -> bool:
        return self.signum is None


def load_for_resume(config: RunConfig, folder: Path, env: Any) -> Any:
    """The model of `folder` on `env`, ready to continue (its replay buffer loaded if saved).

    Args:
        config: The run's configuration (`run.yml`).
        folder: The run folder.
        env: The training env (a VecEnv or an env).
    """
    from rdo_sb3.factory import agent_class

    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise CliError(f"cannot resume {folder}: no {MODEL_FILE} (the run stopped before its first checkpoint); "
                       "start it again without --resume")
    try:
        model = agent_class(config.algo).load(path, env=env, device=config.training.device)
    except Exception as err:  # a corrupt zip, another agent's, an env that does not fit
        raise CliError(one_line(f"cannot resume {folder}: loading {path} failed: {err}")) from None
    buffer = Path(folder) / REPLAY_BUFFER_FILE
    if config.training.save_replay_buffer and buffer.is_file():
        try:
            model.load_replay_buffer(buffer)
        except Exception as err:
            raise CliError(one_line(f"cannot resume {folder}: loading {buffer} failed: {err}")) from None
    return model
