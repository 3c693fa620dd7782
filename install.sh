#!/usr/bin/env bash
# Install the onesp StorPool drivers into OpenNebula's remotes tree, on the front-end.
#
#   ./install.sh                 install or upgrade in place (default remotes: /var/lib/one/remotes)
#   AUTOCONF=1 ./install.sh      ... and register the drivers in oned.conf and vmm_execrc
#   ./install.sh --uninstall     remove exactly what was installed, take the registration back
#   ./install.sh --help          every option (--prefix, --oned-conf, --vmm-execrc, --owner, --bindir)
#
# Needs python3 >= 3.9 with lxml; the work is done by lib/onesp/tools/install (stdlib only).
# No file of OpenNebula itself is changed; oned.conf and vmm_execrc only with --autoconf.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

fail() { echo "install.sh: error: $*" >&2; exit 1; }

command -v "$python" >/dev/null 2>&1 || fail "$python not found: install python3 (3.9 or newer)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || fail "$("$python" -V 2>&1) is too old: onesp needs python 3.9 or newer"
"$python" -c 'import lxml.etree' >/dev/null 2>&1 \
  || fail "python lxml is missing: install python3-lxml (Debian/Ubuntu) or python3-lxml (EL) and run again"
"$python" -c 'import click' >/dev/null 2>&1 \
  || echo "install.sh: note: python3-click is not installed; the drivers work without it, the onesp command (doctor) needs it" >&2

export PYTHONPATH="$here/lib${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m onesp.tools.install --source "$here" "$@"
