"""Validation of an edited copy of a valid tree covers only the modules the
edit can affect (agent/yang/scope.py): it must accept, refuse and complete
(defaults, nodes whose when turned false) exactly as a validation of the
whole tree does."""

import random

import pytest

from agent.datastore.edit import apply_edit
from agent.netconf.errors import RpcError
from agent.netconf.xmltree import parse
from agent.yang import YangError

from .test_diff_of_copy import EDITS, ROOT, _random_edit, base, nacm, rule, rule_list

A_NS, B_NS, C_NS = "urn:test:scope-a", "urn:test:scope-b", "urn:test:scope-c"
MODULES = {
    "scope-b": f"""
module scope-b {{
  yang-version 1.1;
  namespace "{B_NS}";
  prefix b;
  container things {{
    list thing {{ key name; leaf name {{ type string; }} leaf size {{ type uint8; }} }}
    leaf mode {{ type string; default "on"; }}
  }}
}}""",
    "scope-a": f"""
module scope-a {{
  yang-version 1.1;
  namespace "{A_NS}";
  prefix a;
  import scope-b {{ prefix b; }}
  container uses {{
    leaf thing {{ type leafref {{ path "/b:things/b:thing/b:name"; }} }}
    leaf small {{
      type string;
      must "/b:things/b:thing[b:name = current()]/b:size < 10";
    }}
    leaf extra {{ type string; when "/b:things/b:mode = 'on'"; }}
    leaf own {{ type string; }}
  }}
}}""",
    "scope-c": f"""
module scope-c {{
  yang-version 1.1;
  namespace "{C_NS}";
  prefix c;
  container watch {{
    leaf count {{ type uint8; must "count(/*) > 0"; }}
  }}
}}""",
}


@pytest.fixture(scope="module")
def sschema(tmp_path_factory, yang_dirs):
    from agent import modset
    from agent.yang import Schema

    d = tmp_path_factory.mktemp("yang")
    for name, text in MODULES.items():
        (d / f"{name}.yang").write_text(text)
    return Schema(modset.search_dirs([*yang_dirs, str(d)]), {**modset.MODULES, **{n: [] for n in MODULES}})


def b_(body):
    return f'<things xmlns="{B_NS}">{body}</things>'


def a_(body):
    return f'<uses xmlns="{A_NS}">{body}</uses>'


def thing(name, size=1, attrs=""):
    return f"<thing {attrs}><name>{name}</name><size>{size}</size></thing>"


def outcome(schema, tree, default_op, body, since):
    """(the error's first issue, or None; the tree with defaults), the edit applied to a copy of ``tree``."""
    new = tree.duplicate()
    try:
        apply_edit(schema, new, parse(ROOT.format(body).encode()), default_op)
        new.validate(since)
    except RpcError as exc:
        new.free()
        return ("refused by the edit", exc.message), None
    except YangError as exc:
        new.free()
        issue = exc.issues[0]
        return (issue.tag, issue.message, issue.path, issue.app_tag), None
    return None, new


def same_outcome(schema, tree, default_op, body):
    """The edit validated both ways gives the same result; the scoped one's tree, or None if refused."""
    full_error, full = outcome(schema, tree, default_op, body, None)
    scoped_error, scoped = outcome(schema, tree, default_op, body, tree)
    assert scoped_error == full_error, body
    if full is None:
        return None
    with full:
        assert scoped.to_xml("report-all") == full.to_xml("report-all"), body
    return scoped


@pytest.fixture
def stree(sschema):
    t = sschema.empty()
    apply_edit(sschema, t, parse(ROOT.format(b_(thing("x") + thing("big", 50)) + a_("<thing>x</thing>")).encode()))
    t.validate()
    yield t
    t.free()


def modules(schema, tree, body):
    new = tree.duplicate()
    with new:
        apply_edit(schema, new, parse(ROOT.format(body).encode()))
        from agent.yang.bindings import ffi
        return {ffi.string(m.name).decode() for m in new._modules_to_validate(tree)}


def test_an_edit_validates_its_module_and_those_that_read_it(sschema, stree):
    # scope-c may read anything (a wildcard): it is validated after every change
    assert modules(sschema, stree, a_("<own>v</own>")) >= {"scope-a", "scope-c"}
    assert "scope-b" not in modules(sschema, stree, a_("<own>v</own>"))
    assert modules(sschema, stree, b_(thing("y"))) >= {"scope-a", "scope-b", "scope-c"}
    assert "scope-a" not in modules(sschema, stree, nacm(rule_list("q", rule("q0"))))


@pytest.mark.parametrize("body", [
    b_(thing("x", attrs='nc:operation="delete"')),  # a's leafref now dangles
    b_(thing("y")),
    a_("<thing>nothing</thing>"),
    a_("<thing>big</thing>"),
    a_("<small>x</small>"),
    a_("<small>big</small>"),  # a's must reads b
    a_("<small>x</small>") + b_(thing("x", 20)),
    a_("<extra>e</extra>"),
    a_("<extra>e</extra>") + b_("<mode>off</mode>"),  # a's when turns false: extra goes
    b_("<mode>off</mode>"),
    f'<watch xmlns="{C_NS}"><count>3</count></watch>',
    b_("", ) + f'<things xmlns="{B_NS}" nc:operation="remove"/>',
])
def test_cross_module_constraints_decide_as_a_whole_validation(sschema, stree, body):
    new = same_outcome(sschema, stree, "merge", body)
    if new is not None:
        new.free()


def test_a_when_turned_false_by_another_module(sschema, stree):
    with same_outcome(sschema, stree, "merge", a_("<extra>e</extra>")) as with_extra:
        with same_outcome(sschema, with_extra, "merge", b_("<mode>off</mode>")) as after:
            assert after.find("/scope-a:uses/extra") is None


def test_a_copy_of_an_unvalidated_tree_is_validated_whole(sschema, stree):
    stree._valid = False
    assert modules_or_none(sschema, stree) is None


def modules_or_none(schema, tree):
    new = tree.duplicate()
    with new:
        apply_edit(schema, new, parse(ROOT.format(a_("<own>v</own>")).encode()))
        return new._modules_to_validate(tree)


def test_random_sequences_of_edits_on_the_agents_modules(schema):
    rnd = random.Random(1515)
    cur = base(schema)
    try:
        for _ in range(120):
            default_op, body = rnd.choice(EDITS + [("merge", _random_edit(rnd))] * 6
                                          + [("merge", nacm(rule_list("m", rule("m0", "<comment>no action</comment>"))))])
            new = same_outcome(schema, cur, default_op, body)
            if new is not None:
                cur.free()
                cur = new
    finally:
        cur.free()


def test_a_datastore_taken_for_large_is_validated_whole_until_it_is_small_again(schema):
    """A quick validation of one module says nothing of the whole: were it
    to keep a datastore large, every later edit would go off the loop."""
    import asyncio

    from agent.datastore.store import RUNNING, Datastore

    ds = Datastore(schema, base(schema))
    ds.large = True
    new = ds.running.duplicate()
    apply_edit(schema, new, parse(ROOT.format(nacm(rule_list("a", rule("a1", "<comment>c</comment>")))).encode()))
    assert new._modules_to_validate(ds.running) is not None  # it could be validated in part
    asyncio.run(ds.replace(RUNNING, new))
    assert not ds.large
    ds.running.free()
    ds.startup.free()


def test_generated_libyang_abi_ffi_is_up_to_date(tmp_path):
    """agent/yang/_libyang_abi_cffi.py is what libyang_build.py makes of its CDEF."""
    from agent.yang import libyang_build

    fresh = tmp_path / "_libyang_abi_cffi.py"
    libyang_build.generate(fresh)
    assert fresh.read_text() == libyang_build.TARGET.read_text(), "run: python -m agent.yang.libyang_build"


def test_a_partial_validation_imports_no_c_parser(yang_dirs):
    """lyd_validate_module is declared ahead of time: an edit does not load pycparser (tens of ms, and memory)."""
    import subprocess
    import sys

    code = f"""
import sys
from agent import modset
from agent.yang import Schema
from agent.datastore.edit import apply_edit
from agent.netconf.xmltree import parse
schema = Schema(modset.search_dirs({list(yang_dirs)!r}), modset.MODULES)
old = schema.empty()
apply_edit(schema, old, parse({ROOT.format(nacm(rule_list("a", rule("a0")))).encode()!r}))
old.validate()
new = old.duplicate()
apply_edit(schema, new, parse({ROOT.format(nacm(rule_list("a", rule("a0", "<comment>c</comment>")))).encode()!r}))
assert new._modules_to_validate(old) is not None
new.validate(old)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("cffi", "pycparser")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
