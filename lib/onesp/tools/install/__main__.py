"""``python3 -m onesp.tools.install``: what install.sh runs (stdlib only: no click needed to install)."""

from __future__ import annotations

import sys

from .installer import main

sys.exit(main(sys.argv[1:]))
