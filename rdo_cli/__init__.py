"""rdo_cli: the ``rdo`` command line (``rdo demo|train|evaluate|solve|plot``).

It sits above the three packages (it imports ``rdo_gym``, ``rdo_envs`` and ``rdo_sb3``; nothing
imports it). Every command is also a function (:func:`rdo_cli.main.main` takes ``argv``), and a
run folder written by ``rdo train`` (``model.zip`` + ``run.yml``) is what ``rdo evaluate`` and
``rdo plot`` read back.
"""
