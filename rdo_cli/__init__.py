"""rdo_cli: the ``rdo`` command line (``rdo demo|train|evaluate|solve|plot``).

It sits above the three packages (it imports ``rdo_gym``, ``rdo_envs`` and ``rdo_sb3``; nothing
imports it). Every command is also a function (:func:`rdo_cli.main.main` takes ``argv``), and a
run folder written by ``rdo train`` (``model.zip`` + ``run.yml`` and the training logs) is what
``rdo evaluate``, ``rdo plot`` and ``rdo train --resume`` read back.

Modules: :mod:`~rdo_cli.main` (the entry point and its error handling), :mod:`~rdo_cli.parser` (the
arguments and their help), one module per command (:mod:`~rdo_cli.demo`,
:mod:`~rdo_cli.train`, :mod:`~rdo_cli.evaluate`, :mod:`~rdo_cli.solve`, :mod:`~rdo_cli.plot`),
:mod:`~rdo_cli.config` (the arguments resolved once into a :class:`~rdo_cli.config.RunConfig`),
:mod:`~rdo_cli.hyperparams` (``key=value`` options and their checks),
:mod:`~rdo_cli.run_folder` (``model.zip`` + ``run.yml``, atomic writes),
:mod:`~rdo_cli.checkpoints` (periodic checkpoints, signals, resuming),
:mod:`~rdo_cli.periodic_eval` (``--eval-freq``), :mod:`~rdo_cli.provenance` (command lines and
versions), :mod:`~rdo_cli.envs` (the env of a run, its exact reference and return range),
:mod:`~rdo_cli.progress`, :mod:`~rdo_cli.formatting` and :mod:`~rdo_cli.errors`.
"""
