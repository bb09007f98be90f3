"""`--hyperparams` and `--env-kwargs`: `key=value` pairs read as YAML, and the checks of the
agents' hyperparameters (each refused value names the key and what is accepted)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rdo_cli.errors import CliError
from rdo_gym.hyperparameters import check_hyperparameters

__all__ = ["parse_key_values", "check_hyperparams"]

# YAML 1.1 (PyYAML) reads 1e-3 and 1e5 as strings: numbers written so are numbers here.
_NUMBER = re.compile(r"^[-+]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?$")


def _number_or_text(value: Any) -> Any:
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        number = float(value.replace("_", ""))
        return int(number) if number.is_integer() and re.fullmatch(r"[-+]?[\d_]+", value.strip()) else number
    if isinstance(value, list):
        return [_number_or_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _number_or_text(v) for k, v in value.items()}
    return value


def parse_key_values(items: list[str] | None, option: str = "--hyperparams") -> dict[str, Any]:
    """`key=value` pairs, values read as YAML (`learning_rate=1e-3`,
    `policy_kwargs={net_arch: [64, 64]}`), never evaluated as code.

    Args:
        items: The `key=value` strings.
        option: The option they come from, for the messages.
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{option}: {item!r} is not of the form key=value")
        try:
            out[key.strip()] = _number_or_text(yaml.safe_load(value))
        except yaml.YAMLError as err:
            raise CliError(f"{option} {key.strip()}: cannot read {value!r} as a YAML value "
                           f"({err.__class__.__name__})") from None
    return out


def check_hyperparams(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """[`rdo_gym.hyperparameters.check_hyperparameters`][rdo_gym.hyperparameters.check_hyperparameters] of
    `--hyperparams`, refusals as one CLI line.

    Args:
        overrides: The `--hyperparams` mapping.
    """
    try:
        return check_hyperparameters(overrides, where="--hyperparams")
    except ValueError as err:
        raise CliError(str(err)) from None
