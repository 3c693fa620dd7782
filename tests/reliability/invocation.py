"""How oned runs one action: which executable, with which argv, stdin and environment."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional, Tuple

from onesp.sim.stack import EXECUTABLE_DIRS, Result, Stack


@dataclass(frozen=True)
class Invocation:
    """How oned runs one action: executable (kind, file name), argv, stdin, extra environment."""

    kind: str
    executable: str
    argv: Tuple[str, ...]
    stdin: bytes = b""
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The start of the action's error line: ``tm clone``, ``vmm snapshot_create``."""
        return "%s %s" % (self.kind, self.executable.replace("-storpool", ""))

    def run(self, stack: Stack, env: Optional[Mapping[str, str]] = None, **kwargs: Any) -> Result:
        """Run it; ``env`` adds to (and overrides) the invocation's own environment."""
        return stack.run(self.kind, self.executable, *self.argv, stdin=self.stdin, env=dict(self.env, **(env or {})),
                         **kwargs)

    def command(self, stack: Stack) -> List[str]:
        """The argv of the executable itself (for tests that start it with Popen)."""
        return [sys.executable, str(EXECUTABLE_DIRS[self.kind] / self.executable), *self.argv]
