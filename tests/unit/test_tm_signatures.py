"""Each TM action's module docstring gives oned's signature of it, and its argument record
(``Args`` next to ``run``) has exactly those arguments, in that order: a record or a
docstring changed without the other fails here."""

import dataclasses
import importlib
import pkgutil
import re
import typing

import pytest

import onesp.actions.tm as tm_actions

#: tm monitor is the DS MAD's monitor of a system datastore: it takes the DS argument form.
DS_FORM = {"monitor"}
ACTIONS = sorted(m.name for m in pkgutil.iter_modules(tm_actions.__path__)
                 if not m.name.startswith("_") and m.name not in DS_FORM)


def test_every_tm_action_is_checked():
    assert len(ACTIONS) >= 22 and {"clone", "context", "restore", "prebackup_live", "failmigrate"} <= set(ACTIONS)


def docstring_signature(action: str, doc: str) -> str:
    """The arguments of the line of ``doc`` that starts with ````<action> <args...>````."""
    found = re.findall(r"^``%s ([^`\n]+)``" % re.escape(action), doc, re.M)
    assert len(found) == 1, "the docstring of tm %s gives its signature %d times, not once" % (action, len(found))
    return found[0]


def record_signature(record: type) -> str:
    """The oned argument each field of ``record`` holds (its ``Annotated`` text), in field order."""
    hints = typing.get_type_hints(record, include_extras=True)
    names = []
    for field in dataclasses.fields(record):
        hint = hints[field.name]
        assert typing.get_origin(hint) is typing.Annotated, "%s.%s does not say which argument it is" % (
            record.__name__, field.name)
        names.append(hint.__metadata__[0])
    return " ".join(names)


@pytest.mark.parametrize("action", ACTIONS)
def test_docstring_signature_is_the_record(action):
    module = importlib.import_module("onesp.actions.tm.%s" % action)
    record = module.Args
    assert dataclasses.is_dataclass(record) and record.__dataclass_params__.frozen
    assert docstring_signature(action, module.__doc__) == record_signature(record)
