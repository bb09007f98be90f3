"""rdo_cli: the ``rdo`` command line (``rdo demo|train|evaluate|solve|plot``).

It sits above the three packages (it imports ``rdo_gym``, ``rdo_envs`` and ``rdo_sb3``; nothing
imports it). Every command is also a function (:func:`rdo_cli.main.main` takes ``argv``), and a
run folder written by ``rdo train`` (``model.zip`` + ``run.yml``) is what ``rdo evaluate`` and
``rdo plot`` read back.

Modules: :mod:`~rdo_cli.main` (the parser), one module per command (:mod:`~rdo_cli.demo`,
:mod:`~rdo_cli.train`, :mod:`~rdo_cli.evaluate`, :mod:`~rdo_cli.solve`, :mod:`~rdo_cli.plot`),
:mod:`~rdo_cli.config` (the arguments resolved once into a :class:`~rdo_cli.config.RunConfig`),
:mod:`~rdo_cli.run_folder` (``model.zip`` + ``run.yml``), :mod:`~rdo_cli.envs` (the env of a run
and its exact reference), :mod:`~rdo_cli.progress` and :mod:`~rdo_cli.errors`.
"""
