"""``python3 -m onesp.install``: what install.sh runs (stdlib only: no click needed to install)."""

from __future__ import annotations

import sys

from .command import main

sys.exit(main(sys.argv[1:]))
