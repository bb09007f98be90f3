"""Preset files: the YAML of `rdo_envs/presets` (one entry per env id: `objective`, `gamma`,
`n_timesteps`, `policy` and the agent's keyword arguments), optionally with the RL Zoo's
`env_wrapper:` and `callback:` keys of `rdo_envs/presets/zoo/detan.yml`, so that one file serves
`rdo train --preset FILE` and the Zoo launcher's `-conf FILE`.

[`write_preset_file`][rdo_cli.preset_file.write_preset_file] writes such a file (`rdo tune` writes the best
trial so); [`read_preset_file`][rdo_cli.preset_file.read_preset_file] reads one entry back for `rdo train`: its
stock wrapper's `stock_scale` and initial-stock range become `--stock-scale` and `--stock-range`, the
`callback:` key (the Zoo's evaluation) is left to the Zoo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdo_cli.config import RunConfig, env_name
from rdo_cli.errors import CliError
from rdo_gym.presets import Preset

__all__ = ["PresetEntry", "read_preset_file", "write_preset_file", "zoo_entry"]

_STOCK_WRAPPER = "rdo_gym.StockAugmentation"
_ZOO_ONLY = ("callback",)  # read by the Zoo only
_NOT_FOR_RDO = ("normalize", "n_envs", "frame_stack", "env_kwargs", "eval_env_kwargs", "vec_env_wrapper",
                "n_timesteps_eval", "monitor_kwargs")


@dataclass(frozen=True)
class PresetEntry:
    """One env's entry of a preset file.

    Attributes:
        preset: The agent's objective, gamma, budget, policy and keyword arguments.
        stock_scale: The stock wrapper's `stock_scale` (`None`: not given).
        stock_range: The stock wrapper's uniform initial-stock range (`None`: not given, or a fixed `c0`).
    """

    preset: Preset
    stock_scale: float | None = None
    stock_range: tuple[float, float] | None = None

    def overrides(self) -> dict[str, Any]:
        """The entry as `rdo train` overrides on the agent's defaults: the keyword arguments,
        `policy` and `n_timesteps`."""
        out = self.preset.kwargs()
        if self.preset.policy is not None:
            out["policy"] = self.preset.policy
        out["n_timesteps"] = self.preset.n_timesteps
        return out


def _stock_settings(path: Path, wrappers: Any) -> tuple[float | None, tuple[float, float] | None]:
    if wrappers is None:
        return None, None
    if not isinstance(wrappers, list):
        wrappers = [wrappers]
    for wrapper in wrappers:
        if isinstance(wrapper, dict) and _STOCK_WRAPPER in wrapper:
            kwargs = wrapper[_STOCK_WRAPPER] or {}
            scale = kwargs.get("stock_scale")
            stock = kwargs.get("initial_stock")
            rng = None
            if isinstance(stock, str):
                kind, _, bounds = stock.partition(":")
                low, _, high = bounds.partition(":")
                if kind not in ("uniform", "uniform-int"):
                    raise CliError(f"--preset {path}: rdo train samples training stocks uniformly; the env_wrapper's "
                                   f"initial_stock {stock!r} is not uniform:LOW:HIGH or uniform-int:LOW:HIGH")
                try:
                    rng = (float(low), float(high))
                except ValueError:
                    raise CliError(f"--preset {path}: cannot read the initial_stock {stock!r}") from None
            return (None if scale is None else float(scale)), rng
    return None, None


def read_preset_file(path: Path, env_id: str, agent: str = "detan") -> PresetEntry:
    """The entry of `env_id` in a preset file, as `rdo train --preset FILE` uses it.

    Args:
        path: The YAML file.
        env_id: The env trained (`module:Id` allowed; the entry is keyed by the registered id).
        agent: The agent trained (the preset's `agent`).

    Raises:
        CliError: A missing file, invalid YAML, no entry for the env, or keys `rdo train` cannot use.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise CliError(f"--preset {path}: no such file (a preset file is YAML keyed by env id, as "
                       "rdo_envs/presets/detan.yml or the best.yml that rdo tune writes)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise CliError(f"--preset {path} is not valid YAML: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(data, dict):
        raise CliError(f"--preset {path}: expected a mapping from env ids to presets")
    name = env_name(env_id)
    if name not in data:
        raise CliError(f"--preset {path} has no entry for {name}; it has {', '.join(map(str, data)) or 'none'}")
    entry = data[name]
    if not isinstance(entry, dict):
        raise CliError(f"--preset {path}: the entry of {name} is not a mapping")
    entry = dict(entry)
    unusable = [k for k in entry if k in _NOT_FOR_RDO]
    if unusable:
        raise CliError(f"--preset {path}: {name}'s key {unusable[0]!r} is an RL Zoo setting rdo train does not use; "
                       "remove it (or train with python -m rdo_sb3.zoo train -conf)")
    stock_scale, stock_range = _stock_settings(path, entry.pop("env_wrapper", None))
    for key in _ZOO_ONLY:
        entry.pop(key, None)
    missing = [k for k in ("objective", "gamma", "n_timesteps") if k not in entry]
    if missing:
        raise CliError(f"--preset {path}: the entry of {name} lacks {missing[0]!r} (a preset gives objective, gamma "
                       "and n_timesteps)")
    objective, gamma, steps = entry.pop("objective"), entry.pop("gamma"), entry.pop("n_timesteps")
    policy = entry.pop("policy", None)
    try:
        preset = Preset(agent, name, str(objective), float(gamma), steps, policy, entry)
    except (ValueError, TypeError) as err:
        raise CliError(f"--preset {path}: {err}") from None
    return PresetEntry(preset, stock_scale, stock_range)


def _initial_stock_spec(config: RunConfig) -> Any:
    stocks = config.stocks
    if stocks is None or stocks.range is None:
        return float(config.objective.initial_stock)
    low, high = stocks.range
    kind = "uniform-int" if stocks.integer else "uniform"
    return f"{kind}:{low:g}:{high:g}"


def zoo_entry(config: RunConfig, flatten: bool = True, eval_episodes: int = 200,
              reference: str | None = None) -> dict[str, Any]:
    """A run configuration as a preset-file entry with the Zoo's keys: the preset's fields and keyword
    arguments, the stock wrapper (the run's gamma, training stocks and scale) and the objective's
    evaluation callback.

    Args:
        config: A DηN run configuration ([`resolve_run`][rdo_cli.config.resolve_run]).
        flatten: The stock wrapper's `flatten` (a flat Box observation, for `MlpPolicy`).
        eval_episodes: `n_eval_episodes` of the Zoo's evaluation callback.
        reference: The dotted path of the exact reference (`"rdo_envs.reference"`), or `None`.
    """
    preset = config.preset
    entry: dict[str, Any] = {"objective": str(config.objective), "gamma": float(preset.gamma),
                             "n_timesteps": int(preset.n_timesteps)}
    if preset.policy is not None:
        entry["policy"] = preset.policy
    entry.update(_plain(preset.kwargs()))
    scale = 1.0 if config.stocks is None else float(config.stocks.scale)
    stock = {"gamma": float(preset.gamma), "initial_stock": _initial_stock_spec(config), "flatten": bool(flatten),
             "stock_scale": scale}
    entry["env_wrapper"] = [{_STOCK_WRAPPER: stock}]
    settings: dict[str, Any] = {"n_eval_episodes": int(eval_episodes)}
    if reference is not None:
        settings["reference"] = reference
    entry["callback"] = [{"rdo_sb3.ObjectiveEvalCallback": settings}]
    return entry


def _plain(value: Any) -> Any:
    """Python scalars, lists and dicts only (YAML without tags), floats exact."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int) or (hasattr(value, "is_integer") and not isinstance(value, float)
                                  and float(value).is_integer()):
        return int(value)
    if isinstance(value, float) or hasattr(value, "__float__"):
        return float(value)
    return value


def write_preset_file(path: Path, entries: dict[str, dict[str, Any]], comment: str = "") -> Path:
    """Write a preset file (atomically): `entries` keyed by env id, under a `#` comment header.

    Args:
        path: The YAML file.
        entries: Env id -> entry ([`zoo_entry`][rdo_cli.preset_file.zoo_entry]).
        comment: Lines written as `#` comments at the top.
    """
    import yaml

    from rdo_cli.run_folder import atomic_write

    header = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    body = yaml.safe_dump(_plain(entries), sort_keys=False, default_flow_style=None, width=100)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: tmp.write_text(header + body))
