"""Number and word formatting of the command line's output: no negative zero, singular or plural."""

from __future__ import annotations

import math

__all__ = ["num", "plural", "one_line"]


def num(x: float, spec: str = "g") -> str:
    """`format(x, spec)` without a negative zero (`-0` and `-0.000` print as `0`).

    Args:
        x: The number.
        spec: A format spec, e.g. `"g"` or `".4f"`.
    """
    text = format(float(x) + 0.0, spec)
    if text.startswith("-") and math.isfinite(x) and float(text) == 0.0:
        text = text[1:]
    return text


def plural(n: int, word: str, many: str | None = None) -> str:
    """`"1 atom"`, `"3 atoms"`.

    Args:
        n: The count.
        word: The singular.
        many: The plural (default `word + "s"`).
    """
    return f"{n} {word if n == 1 else (many or word + 's')}"


def one_line(text: str) -> str:
    """`text` on one line: its lines stripped and joined with `" "` (empty lines dropped).

    Args:
        text: A message.
    """
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())
