"""The command line's one error type."""

from __future__ import annotations

__all__ = ["CliError"]


class CliError(Exception):
    """A user error: printed as one line by ``rdo`` (exit status 2), never as a traceback."""
