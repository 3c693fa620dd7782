"""The documentation against the code: keys, attributes, names and the registration cannot drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Set, Tuple

import pytest

from onesp.runtime import naming, tagging
from onesp.runtime.settings import BY_NAME, IGNORED, IGNORED_PREFIXES, SETTINGS
from onesp.tools.install import registration

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
LIB = REPO / "lib" / "onesp"
#: reads of template attributes by name: template.get("X"), user_template.text("X"), ...
ATTRIBUTE_READ = re.compile(r"\b(?:user_)?template\.(?:get|text|get_int|get_flag|words|get_all)\(\s*\"([A-Z][A-Z0-9_]*)\"")


def section(text: str, title: str) -> str:
    """The body of the markdown section ``title`` (up to the next heading of the same level)."""
    level = title.split(" ", 1)[0]
    start = text.index(title + "\n")
    rest = text[start + len(title) + 1:]
    ends = [m.start() for m in re.finditer(r"^%s " % re.escape(level), rest, re.M)]
    return rest[:ends[0]] if ends else rest


def key_rows(text: str) -> Dict[str, Tuple[str, str]]:
    """``| `KEY` | default | DS | effect |`` rows: key -> (default cell, DS cell)."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\| `([A-Z0-9_]+)` \| ([^|]*) \| ([^|]*) \|", line)
        if match:
            rows[match.group(1)] = (match.group(2).strip(), match.group(3).strip())
    return rows


@pytest.fixture(scope="module")
def configuration() -> str:
    return (DOCS / "configuration.md").read_text()


def test_every_setting_is_in_the_reference_with_its_default(configuration):
    documented = key_rows(section(configuration, "## addon-storpoolrc keys"))
    missing = [s.name for s in SETTINGS if s.name not in documented]
    assert not missing, "add these keys to docs/configuration.md: %s" % ", ".join(missing)
    for setting in SETTINGS:
        default, ds = documented[setting.name]
        assert default == ("`%s`" % setting.default if setting.default else "empty"), setting.name
        assert (ds == "yes") == setting.datastore, "%s: DS column says %r" % (setting.name, ds)


def test_the_reference_lists_no_key_the_code_lacks(configuration):
    keys = section(configuration, "## addon-storpoolrc keys")
    known = {s.name for s in SETTINGS}
    stale = sorted(set(key_rows(keys)) - known)
    assert not stale, "docs/configuration.md documents keys settings.py does not have: %s" % ", ".join(stale)


def test_ignored_keys_of_the_addon_are_listed(configuration):
    ignored = section(configuration, "### Keys of the bash addon that onesp accepts and ignores")
    named = set(re.findall(r"`([A-Za-z0-9_]+\*?)`", ignored))
    assert set(IGNORED) <= named, sorted(set(IGNORED) - named)
    families = {prefix + "*" for prefix in IGNORED_PREFIXES}
    assert families <= named, sorted(families - named)


def test_the_rule_for_unreadable_values_is_documented_per_key(configuration):
    table = section(configuration, "### Values onesp cannot read")
    rows = {}
    for line in table.splitlines():
        match = re.match(r"\| (fail|default|digits|no) \| ([^|]*) \|", line)
        if match:
            rows[match.group(1)] = set(re.findall(r"`([A-Z0-9_]+)`", match.group(2)))
    for setting in SETTINGS:
        rule = setting.bad_rule
        if rule == "no":
            continue  # the row says "every boolean"
        if rule == "fail" and setting.kind in ("str", "words") and setting.name not in rows["fail"]:
            continue  # text values are taken as they are, unless a check names them
        assert setting.name in rows.get(rule, set()), "%s: rule %s is not in the table" % (setting.name, rule)
    for rule, names in rows.items():
        for name in names:
            assert BY_NAME[name].bad_rule == rule, "%s is listed under %s" % (name, rule)


def attributes_read() -> Dict[str, Set[str]]:
    """Every template attribute the library reads by name, with the files reading it."""
    found: Dict[str, Set[str]] = {}
    for path in LIB.rglob("*.py"):
        relative = path.relative_to(LIB).as_posix()
        if relative.startswith(("sim/", "tools/install/")):
            continue
        for name in ATTRIBUTE_READ.findall(path.read_text()):
            found.setdefault(name, set()).add(relative)
    return found


def test_the_attribute_scan_sees_the_reads():
    found = attributes_read()
    assert "SP_QOSCLASS" in found and "runtime/disks.py" in found["SP_QOSCLASS"]
    assert "SP_OURID" in found and len(found) > 20


def test_every_attribute_the_code_reads_is_documented(configuration):
    attributes = configuration[configuration.index("## Datastore attributes"):]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", attributes))
    missing = {name: sorted(files) for name, files in attributes_read().items() if name not in documented}
    assert not missing, "document these attributes in docs/configuration.md: %s" % missing


def test_datastore_overrides_are_in_the_datastore_table(configuration):
    table = section(configuration, "## Datastore attributes")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", table))
    overrides = {s.name for s in SETTINGS if s.datastore}
    assert overrides <= documented, sorted(overrides - documented)


def test_naming_examples_are_what_naming_builds():
    text = (DOCS / "naming.md").read_text()
    names = naming.Names("one")
    built = [
        names.template(100), names.image(5), names.source(100, 5), names.nonpersistent(5, 7, 0),
        names.volatile(7, 1), names.volatile(7, 4, "qcow2"), names.swap(7, 2), names.context(7, 3),
        names.nvram(7), names.staging(5), names.disk_snapshot("one-img-5-7-0", 0),
        names.vm_snapshot("one-img-5-7-0", 2, 1700000000), names.vm_snapshot_id(2, 1700000000),
    ]
    for name in built:
        assert "`%s`" % name in text, name
    for example in re.findall(r"`(one-[A-Za-z0-9_.:-]+)`", text):
        if example != names.template(100):
            assert names.parse(example) is not None or re.search(r"-(ONEBACKUP|export)-", example), example
    for value in tagging.DISK_TYPES:
        assert "`%s`" % value in text, value
    tags = tagging.TagPolicy("nloc", "one", "nvm").vm_disk(7, 0, "NPERS", "gold", "daily")
    assert " ".join("%s=%s" % item for item in tags.items()) in text


def test_installation_shows_exactly_what_autoconf_writes():
    text = (DOCS / "installation.md").read_text()
    assert registration.Block("TM_MAD_CONF", registration.TM_MAD_CONF).render() in text
    assert registration.Block("DS_MAD_CONF", registration.DS_MAD_CONF).render() in text
    for name in registration.RESTRICTED_ATTRS:
        assert registration.Restricted(name).describe() in text
    pairs = ",".join("%s=%s" % pair for pair in
                     registration.DEPLOY_HELPERS + registration.HOTPLUG_HELPERS + registration.SNAPSHOT_HELPERS)
    assert "-l %s" % pairs in text


def test_readme_links_the_documentation_and_every_link_resolves():
    readme = (REPO / "README.md").read_text()
    docs = section(readme, "## Documentation")
    for name in ("installation.md", "configuration.md", "naming.md", "upgrade-from-addon.md", "troubleshooting.md"):
        assert "](docs/%s)" % name in docs, name
    for page in [REPO / "README.md"] + sorted(DOCS.glob("*.md")):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).is_file(), "%s links to missing %s" % (page.name, target)


def test_the_supported_opennebula_range_is_stated_where_operators_look():
    """6.10 to 7.4: the stock oned.conf of each is registered (test_autoconf) and their documents
    are read (test_one_views) and validated (tests/conformance)."""
    for page in (REPO / "README.md", DOCS / "installation.md"):
        assert "OpenNebula 6.10 to 7.4 (6.10, 7.0, 7.2 and 7.4)" in page.read_text(), page.name


def _pages():
    return [REPO / "README.md"] + sorted(DOCS.glob("*.md"))


def test_no_page_points_outside_the_repository():
    """A clone stands alone: no link leaves it, no text sends the reader to a folder beside it."""
    for page in _pages():
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            resolved = (page.parent / target).resolve()
            assert REPO in resolved.parents, "%s links outside the repository: %s" % (page.name, target)
        for number, line in enumerate(text.splitlines(), 1):
            assert not re.search(r"\.\./shared|\bshared/opennebula|\bshared/reference|/work/", line), \
                "%s:%d points outside the repository: %s" % (page.name, number, line.strip())


def test_the_architecture_names_only_what_exists():
    """docs/architecture.md against the tree: every path and module it names exists, every action and
    every library module is named."""
    text = (DOCS / "architecture.md").read_text()
    named = {t for t in re.findall(r"`([A-Za-z0-9_./-]+)`", text) if not t.startswith(("/", "."))}  # not URL paths
    named.discard("tests/data/opennebula/")  # made by scripts/fetch-opennebula
    for token in sorted(t for t in named if t.endswith((".py", "/")) or t.startswith(("scripts/", "tests/", "bench/"))):
        folders = [REPO, LIB, LIB / "runtime", LIB / "one", LIB / "tools", LIB / "tools" / "install",
                   LIB / "tools" / "commands"] + sorted(LIB.glob("actions/*"))
        candidates = [folder / token for folder in folders]
        assert any(c.exists() for c in candidates), "docs/architecture.md names %s, which does not exist" % token
    for path in sorted(LIB.glob("actions/*/*.py")):
        if not path.name.startswith("__"):
            forms = (path.stem, path.stem.replace("_", "."), str(path.relative_to(LIB)))
            assert any("`%s`" % form in text for form in forms), \
                "docs/architecture.md does not name %s" % path.relative_to(LIB)
    for path in sorted(LIB.glob("runtime/*.py")) + sorted(LIB.glob("tools/*.py")):
        if not path.name.startswith("__"):
            assert "`%s`" % path.name in text, "docs/architecture.md does not name %s" % path.relative_to(LIB)


def test_readme_layout_points_to_the_architecture_and_the_test_data_script():
    layout = section((REPO / "README.md").read_text(), "## Layout")
    assert "](docs/architecture.md)" in layout
    assert "`scripts/fetch-opennebula`" in layout and (REPO / "scripts" / "fetch-opennebula").is_file()
