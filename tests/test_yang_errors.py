"""libyang's errors mapped to NETCONF error-tag and error-app-tag: one test a
row of agent/yang/errors.py's tables (_APPTAG_TAGS, _MESSAGE_TAGS) and of its
fallbacks, each on a real libyang error, so that a libyang release that
changes a code, an app-tag or a message fails here and not in the field.
Runs on both binding generations (`make test` and `make test-libyang3`)."""

from __future__ import annotations

import pytest

from agent import yang

MODULE = """
module t {
  yang-version 1.1;
  namespace "urn:t";
  prefix t;
  container c {
    presence "for the mandatory nodes";
    leaf mand { type string; mandatory true; }
    choice ch { mandatory true; leaf a { type string; } leaf b { type string; } }
    leaf-list many { type string; max-elements 1; }
    leaf-list few { type string; min-elements 2; }
    list u { key k; unique v; leaf k { type string; } leaf v { type string; } }
    leaf m { type int8; must ". < 5"; }
    leaf tagged { type int8; must ". < 5" { error-app-tag "too-hot"; } }
    leaf ref { type leafref { path "../u/k"; } }
    leaf num { type int8; }
  }
}
"""

VALID = '"mand": "x", "a": "1", "few": ["1", "2"]'


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    d = tmp_path_factory.mktemp("yang")
    (d / "t.yang").write_text(MODULE)
    return yang.Schema([str(d)], {"t": []})


def issue_of(schema, members: str) -> yang.Issue:
    with pytest.raises(yang.YangError) as e:
        schema.parse('{"t:c": {%s}}' % members, "json").free()
    assert len(e.value.issues) == 1, e.value.issues
    return e.value.issues[0]


def test_the_valid_document_is_valid(schema):
    schema.parse('{"t:c": {%s}}' % VALID, "json").free()


# -- _APPTAG_TAGS ------------------------------------------------------------


def test_too_many_elements(schema):
    i = issue_of(schema, VALID + ', "many": ["1", "2"]')
    assert (i.tag, i.app_tag) == ("operation-failed", "too-many-elements")


def test_too_few_elements(schema):
    i = issue_of(schema, '"mand": "x", "a": "1", "few": ["1"]')
    assert (i.tag, i.app_tag) == ("operation-failed", "too-few-elements")


def test_data_not_unique(schema):
    i = issue_of(schema, VALID + ', "u": [{"k": "1", "v": "x"}, {"k": "2", "v": "x"}]')
    assert (i.tag, i.app_tag) == ("operation-failed", "data-not-unique")


def test_must_violation(schema):
    i = issue_of(schema, VALID + ', "m": 7')
    assert (i.tag, i.app_tag, i.path) == ("operation-failed", "must-violation", "/t:c/m")


def test_missing_choice(schema):
    i = issue_of(schema, '"mand": "x", "few": ["1", "2"]')
    assert (i.tag, i.app_tag) == ("data-missing", "missing-choice")


def test_instance_required(schema):
    i = issue_of(schema, VALID + ', "ref": "nope"')
    assert (i.tag, i.app_tag, i.path) == ("data-missing", "instance-required", "/t:c/ref")


# -- _MESSAGE_TAGS -----------------------------------------------------------


def test_mandatory_node(schema):
    i = issue_of(schema, '"a": "1", "few": ["1", "2"]')
    assert (i.tag, i.app_tag) == ("data-missing", None)
    assert i.message.startswith("Mandatory node ")


def test_must_with_its_own_app_tag(schema):
    i = issue_of(schema, VALID + ', "tagged": 7')
    assert (i.tag, i.app_tag, i.path) == ("operation-failed", "too-hot", "/t:c/tagged")


def test_duplicate_instance(schema):
    i = issue_of(schema, VALID + ', "u": [{"k": "1"}, {"k": "1"}]')
    assert (i.tag, i.app_tag, i.path) == ("data-exists", None, "/t:c/u[k='1']")


def test_data_for_both_cases(schema):
    i = issue_of(schema, '"mand": "x", "a": "1", "b": "2", "few": ["1", "2"]')
    assert (i.tag, i.app_tag, i.path) == ("bad-element", None, "/t:c")


# -- codes and the fallback --------------------------------------------------


def test_unknown_node_is_a_reference_error(schema):
    i = issue_of(schema, VALID + ', "zzz": "1"')
    assert (i.tag, i.app_tag, i.path) == ("unknown-element", None, "/t:c")


def test_anything_else_is_an_invalid_value(schema):
    i = issue_of(schema, VALID + ', "num": "big"')
    assert (i.tag, i.app_tag, i.path) == ("invalid-value", None, "/t:c/num")


def test_a_missing_node_is_named_by_its_instance_path(schema):
    """libyang 2 names the missing node's schema path, libyang 3 its parent's
    instance and the node in the message: both come out as the instance path."""
    tree = schema.parse('{"t:c": {%s}}' % VALID, "json")
    try:
        tree.delete(tree.find("/t:c/mand"))
        with pytest.raises(yang.YangError) as e:
            tree.validate()
        assert [(i.tag, i.path) for i in e.value.issues] == [("data-missing", "/t:c/mand")]
    finally:
        tree.free()


def test_nodes_libyang_adds_to_a_module_are_not_data(yang_dirs):
    """libyang 3 adds ietf-netconf:rpc-error (for parsing replies) to the
    module: a manager can neither edit it nor read it back."""
    from agent import modset

    schema = yang.Schema(modset.search_dirs(yang_dirs), modset.MODULES)
    ns = schema.namespace_of("ietf-netconf")
    assert schema.top_node(ns, "rpc-error") is None
    assert schema.node_by_module(None, "ietf-netconf", "rpc-error") is None
    assert all(not ident.startswith("/ietf-netconf:rpc-error") for _, ident in schema.sid_identifiers())
