"""Template text for the *.update calls: rendering, and the stand-in's parser and merge."""

from __future__ import annotations

import pytest
from lxml import etree

from onesp.one import Template, render_template
from onesp.sim.oned.templatetext import TemplateSyntaxError, apply_template, parse_template


def test_render_and_parse_round_trip():
    values = {"SP_QOSCLASS": "gold", "QUOTED": 'say "hi" \\ bye', "FLAG": True, "N": 3,
              "VEC": {"A": "x", "B": "y z"}, "EMPTY": ""}
    text = render_template(values)
    assert text.splitlines()[0] == 'SP_QOSCLASS="gold"'
    parsed = dict(parse_template(text))
    assert parsed == {"SP_QOSCLASS": "gold", "QUOTED": 'say "hi" \\ bye', "FLAG": "YES", "N": "3",
                      "VEC": [("A", "x"), ("B", "y z")], "EMPTY": ""}


def test_render_refuses_bad_names_and_values():
    with pytest.raises(ValueError):
        render_template({"BAD NAME": "x"})
    with pytest.raises(ValueError):
        render_template({"A": {"B=": "x"}})
    with pytest.raises(TypeError):
        render_template({"A": 1.5})


def test_parser_accepts_oned_forms_and_rejects_garbage():
    text = 'a = 1  # comment\nB=two\nC = "multi\nline"\nD = [ K = v,\n  L = "w" ]\nE =\n'
    assert parse_template(text) == [("A", "1"), ("B", "two"), ("C", "multi\nline"),
                                     ("D", [("K", "v"), ("L", "w")]), ("E", "")]
    for bad in ('A = "open', "= 1", "A 1", "A = [ K = v", "A = [ K v ]"):
        with pytest.raises(TemplateSyntaxError, match="line"):
            parse_template(bad)


def test_apply_merge_and_replace():
    section = etree.fromstring("<TEMPLATE><B>old</B><A>keep</A><B>old2</B></TEMPLATE>")
    apply_template(section, 'B = "new"\nC = [ Y = "2", X = "1" ]', merge=True)
    assert [(c.tag, c.text) for c in section] == [("A", "keep"), ("B", "new"), ("C", None)]
    view = Template.from_xml(section, "TEMPLATE")
    assert view["B"] == "new" and view.vectors("C")[0]["X"] == "1" and list(view.vectors("C")[0]) == ["X", "Y"]
    apply_template(section, "Z = 1", merge=False)
    assert [(c.tag, c.text) for c in section] == [("Z", "1")]


def test_template_view_helpers():
    section = etree.fromstring(
        "<TEMPLATE><BRIDGE_LIST> n1  n2 </BRIDGE_LIST><X></X><R>1</R><R>2</R><SP_A>a</SP_A><SP_B/>"
        "<V><K>1</K></V><TOKEN>hush</TOKEN></TEMPLATE>")
    view = Template.from_xml(section, "DATASTORE[ID=1]/TEMPLATE")
    assert view.words("BRIDGE_LIST") == ("n1", "n2") and view.words("NONE") == ()
    assert view["X"] == "" and view.text("X") is None and view.text("MISSING") is None
    assert view["R"] == "1" and view.get_int("R") == 1  # a repeated attribute reads as its first value
    assert view["SP_A"] == "a" and view["SP_B"] == ""
    assert "V" not in view and view.vectors("V")[0].get_int("K") == 1
    assert "hush" not in repr(view) and "TOKEN" in repr(view)


def test_template_equality_includes_vectors():
    one = Template.from_xml(etree.fromstring("<T><A>1</A><V><K>1</K></V></T>"), "T")
    two = Template.from_xml(etree.fromstring("<T><A>1</A><V><K>2</K></V></T>"), "T")
    assert one != two and one == Template.from_xml(etree.fromstring("<T><A>1</A><V><K>1</K></V></T>"), "X")
    assert one == {"A": "1"}
