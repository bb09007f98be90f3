"""rdo_cli: the `rdo` command line (`rdo demo|train|evaluate|solve|plot`).

It sits above the three packages (it imports `rdo_gym`, `rdo_envs` and `rdo_sb3`; nothing
imports it). Every command is also a function ([`rdo_cli.main.main`][rdo_cli.main.main] takes `argv`), and a
run folder written by `rdo train` (`model.zip` + `run.yml` and the training logs) is what
`rdo evaluate`, `rdo plot` and `rdo train --resume` read back.

Modules: [`main`][rdo_cli.main] (the entry point and its error handling), [`parser`][rdo_cli.parser] (the
arguments and their help), one module per command ([`demo`][rdo_cli.demo],
[`train`][rdo_cli.train], [`evaluate`][rdo_cli.evaluate], [`solve`][rdo_cli.solve], [`plot`][rdo_cli.plot]),
[`config`][rdo_cli.config] (the arguments resolved once into a [`RunConfig`][rdo_cli.config.RunConfig]),
[`hyperparams`][rdo_cli.hyperparams] (`key=value` options and their checks),
[`run_folder`][rdo_cli.run_folder] (`model.zip` + `run.yml`, atomic writes),
[`checkpoints`][rdo_cli.checkpoints] (periodic checkpoints, signals, resuming),
[`periodic_eval`][rdo_cli.periodic_eval] (`--eval-freq`), [`provenance`][rdo_cli.provenance] (command lines and
versions), [`envs`][rdo_cli.envs] (the env of a run, its exact reference and return range),
[`progress`][rdo_cli.progress], [`formatting`][rdo_cli.formatting] and [`errors`][rdo_cli.errors].
"""
