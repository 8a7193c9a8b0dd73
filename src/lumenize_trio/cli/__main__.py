"""``python -m lumenize_trio.cli``: the same as the ``lumenize-trio`` command."""

from __future__ import annotations

import sys

from ._main import main

sys.exit(main())
