"""``python -m modelgate_client``: the ``mg`` command."""

from modelgate_client.cli import main

raise SystemExit(main())
