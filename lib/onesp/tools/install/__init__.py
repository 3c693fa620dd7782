"""Installing onesp on the OpenNebula front-end: files into remotes, oned.conf registration.

Run through ``install.sh`` (``python3 -m onesp.tools.install``); needs only the standard library.
"""

from __future__ import annotations
