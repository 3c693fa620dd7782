"""oned stand-in: an XML-RPC server over a folder of schema-valid XML documents."""

from __future__ import annotations

from .rpcserver import CallLog, OnedSim

__all__ = ["CallLog", "OnedSim"]
