"""A hook as ``one.hookpool.info`` lists it (``hook.xsd``): what ``onesp doctor`` looks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from lxml import etree

from .fields import pool_object
from .template import Template


@dataclass(frozen=True)
class Hook:
    id: int
    name: str
    type: str  # api or state
    template: Template

    @classmethod
    def from_xml(cls, element: etree._Element) -> "Hook":
        hook_id, f = pool_object(element, "HOOK")
        return cls(id=hook_id, name=f.req_str("NAME"), type=(f.opt_str("TYPE") or "").lower(),
                   template=Template.from_xml(f.child("TEMPLATE"), f.path("TEMPLATE")))

    @property
    def command(self) -> Optional[str]:
        return self.template.text("COMMAND")

    @property
    def call(self) -> Optional[str]:
        return self.template.text("CALL")
