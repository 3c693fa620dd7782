"""The ``$API`` argument oned's hook manager gives an API hook, for a call the stand-in answered.

oned (HookAPI::format_message) describes each call as ``<HOOK_MESSAGE>`` with the call name and
a ``<CALL_INFO>``: RESULT (1 or 0), the IN parameters with their POSITION (the session, position
1, shown as ``****``), the OUT parameters of the answer (success ``true``/``false``, the value,
the error code, and on failure the object id), and EXTRA. The hook manager (onehem-server)
replaces ``$API`` in the hook's ARGUMENTS with the ``<CALL_INFO>`` element, base64 on one
line; with ARGUMENTS_STDIN=YES that text is the hook's stdin.
"""

from __future__ import annotations

import base64
from typing import Any, List, Sequence

from lxml import etree

SESSION_SHOWN = "****"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _parameter(parent: etree._Element, position: int, kind: str, value: str) -> None:
    node = etree.SubElement(parent, "PARAMETER")
    etree.SubElement(node, "POSITION").text = str(position)
    etree.SubElement(node, "TYPE").text = kind
    etree.SubElement(node, "VALUE").text = value


def call_info(params: Sequence[Any], answer: List[Any]) -> etree._Element:
    """``<CALL_INFO>`` of a call with ``params`` (session first) answered with ``answer``."""
    success = bool(answer and answer[0] is True)
    info = etree.Element("CALL_INFO")
    etree.SubElement(info, "RESULT").text = "1" if success else "0"
    parameters = etree.SubElement(info, "PARAMETERS")
    for position, value in enumerate(params, 1):
        _parameter(parameters, position, "IN", SESSION_SHOWN if position == 1 else _text(value))
    _parameter(parameters, 1, "OUT", "true" if success else "false")
    _parameter(parameters, 2, "OUT", _text(answer[1]) if len(answer) > 1 else "")
    _parameter(parameters, 3, "OUT", _text(answer[2]) if len(answer) > 2 else "0")
    if not success and len(answer) > 3:
        _parameter(parameters, 4, "OUT", _text(answer[3]))
    etree.SubElement(info, "EXTRA")
    return info


def api_argument(params: Sequence[Any], answer: List[Any]) -> str:
    """What ``$API`` expands to for this call: the CALL_INFO element, base64 on one line."""
    return base64.b64encode(etree.tostring(call_info(params, answer), encoding="utf-8")).decode("ascii")
