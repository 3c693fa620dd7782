"""config.Values: every setting of settings.SETTINGS is declared once, with the type its value has."""

import ast
import inspect
import textwrap
import typing
from typing import Optional, Tuple

import pytest

from onesp.runtime import config
from onesp.runtime.settings import SETTINGS

#: What ``config._typed`` makes of each kind of setting.
KIND_TYPES = {"str": str, "choice": str, "int": int, "delay": int, "bool": bool, "words": Tuple[str, ...]}


def expected_type(setting):
    kind_type = KIND_TYPES[setting.kind]
    if setting.kind == "int" and not setting.default:
        return Optional[kind_type]  # an empty value with no default reads as None
    return kind_type


def declared_names():
    """The names annotated in the body of ``config.Values``, repeats included, in order."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(config.Values)))
    body = tree.body[0].body
    return [node.target.id for node in body if isinstance(node, ast.AnnAssign)]


def test_every_setting_is_declared_exactly_once_and_nothing_else():
    assert declared_names() == [setting.name for setting in SETTINGS]


def test_config_declares_no_setting_of_its_own():
    hints = typing.get_type_hints(config.Config)
    assert sorted(name for name in hints if name.isupper()) == sorted(setting.name for setting in SETTINGS)


def test_every_kind_has_a_type():
    assert {setting.kind for setting in SETTINGS} <= set(KIND_TYPES)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_declared_type_matches_the_kind(setting):
    assert typing.get_type_hints(config.Values)[setting.name] == expected_type(setting)


def is_of(value, hint):
    if typing.get_origin(hint) is tuple:
        return isinstance(value, tuple) and all(isinstance(item, str) for item in value)
    if typing.get_origin(hint) is typing.Union:
        return any(is_of(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    return type(value) is hint  # exact: a bool is no int here


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_loaded_values_have_the_declared_type(tmp_path, setting):
    cfg = config.load(env={}, rc_files=[], storpool_conf=str(tmp_path / "none"), storpool_conf_d=str(tmp_path / "none.d"),
                      hostname="fe1")
    hint = typing.get_type_hints(config.Values)[setting.name]
    assert is_of(getattr(cfg, setting.name), hint)
    assert is_of(config.convert(setting, "", "test"), hint)
