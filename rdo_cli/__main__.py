"""`python -m rdo_cli` is the `rdo` command."""

from rdo_cli.main import main

raise SystemExit(main())
