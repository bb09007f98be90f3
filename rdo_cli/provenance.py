"""What a run folder records about where it came from: the command lines and the package versions."""

from __future__ import annotations

import platform
import shlex
from importlib.metadata import PackageNotFoundError, version

__all__ = ["PACKAGES", "package_versions", "command_line"]

PACKAGES = ("rdo", "torch", "stable-baselines3", "sb3-contrib", "gymnasium", "numpy")
"""The distributions whose versions `run.yml` records (with Python's)."""


def package_versions() -> dict[str, str]:
    """`{"python": "3.11.7", "rdo": "0.1.0", "torch": ...}` (`"not installed"` when missing)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def command_line(argv: list[str]) -> str:
    """The `rdo` command line of `argv`, quoted for a POSIX shell.

    Args:
        argv: The arguments after `rdo`.
    """
    return shlex.join(["rdo", *argv])
