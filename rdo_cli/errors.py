"""The command line's error types."""

from __future__ import annotations

import signal

__all__ = ["CliError", "Interrupted"]


class CliError(Exception):
    """A user error: printed as one line by `rdo` (exit status 2), never as a traceback."""


class Interrupted(Exception):
    """Training stopped by a signal (SIGINT, SIGTERM) after saving the run: `rdo` prints one line
    and exits with `128 + signum` (130 for Ctrl-C, 143 for SIGTERM).

    Args:
        signum: The signal.
        message: What was saved, and how to resume.
    """

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = int(signum)

    @property
    def exit_status(self) -> int:
        """`128 + signum`."""
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        """`"SIGTERM"`, `"SIGINT"`..."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"
