"""``python -m gateway.cli``: the same entry point as the ``modelgate`` script."""

from gateway.cli import main

raise SystemExit(main())
