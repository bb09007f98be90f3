"""Checks of an agent's hyperparameters before they reach SB3, which refuses some values late
(`batch_size=-5` as torch's "Invalid epsilon value") or misuses them silently. Each refused value
names the key and what is accepted."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["check_hyperparameters"]


def _integer(name: str, value: Any, low: int, what: str) -> int:
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
          and float(value).is_integer() and value >= low)
    if not ok:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def _real(name: str, value: Any, low: float, high: float, low_open: bool, what: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


_POSITIVE_INTS = ("batch_size", "buffer_size", "target_update_interval")
_FRACTIONS = ("exploration_fraction", "exploration_initial_eps", "exploration_final_eps")


def _train_freq(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[1] in ("step", "episode"):
        return [_integer("train_freq", value[0], 1, "a positive integer or [N, step|episode]"), value[1]]
    return _integer("train_freq", value, 1, "a positive integer or [N, step|episode]")


def _policy_kwargs(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value  # the preset refuses it with its own message
    out = dict(value)
    if "n_quantiles" in out:
        out["n_quantiles"] = _integer("policy_kwargs.n_quantiles", out["n_quantiles"], 1, "a positive integer")
    arch = out.get("net_arch")
    if arch is not None:
        if not isinstance(arch, list):
            raise ValueError(f"policy_kwargs.net_arch must be a list of layer sizes, e.g. [64, 64], got {arch!r}")
        out["net_arch"] = [_integer("policy_kwargs.net_arch", n, 1, "a list of positive layer sizes") for n in arch]
    return out


def check_hyperparameters(overrides: Mapping[str, Any], where: str = "hyperparameter") -> dict[str, Any]:
    """`overrides` with the values SB3 would refuse late (or misuse silently) refused now
    (`ValueError` naming `where`, the key and what is accepted).

    Integers where SB3 needs them (`batch_size`, `buffer_size`... positive; `learning_starts`
    at least 0; `gradient_steps` positive or -1), rates and fractions in their ranges; other keys
    pass through (the agent refuses unknown names).

    Args:
        overrides: The agent's keyword arguments.
        where: How the messages name their origin (e.g. `"--hyperparams"`).
    """
    try:
        return _checked(overrides)
    except ValueError as err:
        raise ValueError(f"{where} {err}") from None


def _checked(overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(overrides)
    for name, value in overrides.items():
        if name in _POSITIVE_INTS:
            out[name] = _integer(name, value, 1, "a positive integer")
        elif name == "learning_starts":
            out[name] = _integer(name, value, 0, "an integer >= 0")
        elif name == "gradient_steps":
            if value != -1:
                out[name] = _integer(name, value, 1, "a positive integer, or -1 (as many as env steps)")
        elif name == "train_freq":
            out[name] = _train_freq(value)
        elif name in ("learning_rate", "max_grad_norm") and not callable(value):  # a schedule is fine
            out[name] = _real(name, value, 0.0, math.inf, True, "a positive number")
        elif name in _FRACTIONS:
            out[name] = _real(name, value, 0.0, 1.0, False, "a number in [0, 1]")
        elif name == "tau":
            out[name] = _real(name, value, 0.0, 1.0, True, "a number in (0, 1]")
        elif name == "relabel_stocks" and not isinstance(value, bool):
            out[name] = _real(name, value, 0.0, 1.0, False, "true, false or a probability in [0, 1]")
        elif name == "policy_kwargs":
            out[name] = _policy_kwargs(value)
    return out
