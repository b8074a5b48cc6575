"""``python -m mmlearn``: the same as the ``mmlearn`` command."""

from mmlearn.cli import main

raise SystemExit(main())
