"""oned stand-in: an XML-RPC server over a folder of schema-valid XML documents."""

from __future__ import annotations

from .server import CallLog, OnedSim

__all__ = ["CallLog", "OnedSim"]
