"""yang:insert (RFC 7950 7.8.6, 7.7.9) in edit-config: where a new or moved
entry of an ordered-by user list or leaf-list lands, and the errors."""

import pytest

from agent.datastore.edit import apply_edit
from agent.netconf.errors import BadAttribute, MissingAttribute, RpcError
from agent.netconf.xmltree import parse

NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
ROOT = '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" xmlns:yang="urn:ietf:params:xml:ns:yang:1" ' \
       'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">{}</config>'


def apply(schema, tree, body):
    apply_edit(schema, tree, parse(ROOT.format(body).encode()))


def rule_lists(body):
    return f'<nacm xmlns="{NACM}" xmlns:nacm="{NACM}">{body}</nacm>'


def rule_list(name, attrs=""):
    return f"<rule-list {attrs}><name>{name}</name></rule-list>"


def names(tree):
    parent = tree.find("/ietf-netconf-acm:nacm")
    return [tree.value_of(tree.find_child(c, "name")) for c in tree.children(parent) if tree.schema_of(c).name == "rule-list"]


@pytest.fixture
def tree(schema):
    t = schema.empty()
    apply(schema, t, rule_lists("".join(rule_list(n) for n in "abc")))
    yield t
    t.free()


@pytest.mark.parametrize("attrs, expected", [
    ('yang:insert="first"', ["n", "a", "b", "c"]),
    ('yang:insert="last"', ["a", "b", "c", "n"]),
    ("", ["a", "b", "c", "n"]),
    ('''yang:insert="before" yang:key="[nacm:name='b']"''', ["a", "n", "b", "c"]),
    ('''yang:insert="after" yang:key="[nacm:name='a']"''', ["a", "n", "b", "c"]),
    ('''yang:insert="after" yang:key="[name='c']"''', ["a", "b", "c", "n"]),
    ('''yang:insert="before" yang:key='[nacm:name="a"]' ''', ["n", "a", "b", "c"]),
])
@pytest.mark.parametrize("op", ["create", "merge", "replace"])
def test_new_list_entry_lands_where_insert_says(schema, tree, attrs, expected, op):
    apply(schema, tree, rule_lists(rule_list("n", f'nc:operation="{op}" {attrs}')))
    assert names(tree) == expected


@pytest.mark.parametrize("attrs, expected", [
    ('yang:insert="first"', ["c", "a", "b"]),
    ('yang:insert="last"', ["b", "c", "a"]),
    ('''yang:insert="before" yang:key="[nacm:name='c']"''', ["b", "a", "c"]),
    ('''yang:insert="after" yang:key="[nacm:name='c']"''', ["b", "c", "a"]),
    ('''yang:insert="after" yang:key="[nacm:name='a']"''', ["a", "b", "c"]),
])
@pytest.mark.parametrize("op", ["merge", "replace"])
def test_existing_list_entry_moves(schema, tree, attrs, expected, op):
    name = "c" if "first" in attrs else "a"
    apply(schema, tree, rule_lists(rule_list(name, f'nc:operation="{op}" {attrs}')))
    assert names(tree) == expected


def test_moved_entry_keeps_its_subtree_and_order_survives_validation(schema, tree):
    apply(schema, tree, rule_lists('<rule-list><name>c</name><group>g</group>'
                                   '<rule><name>r1</name><action>permit</action></rule></rule-list>'))
    apply(schema, tree, rule_lists(rule_list("c", 'yang:insert="first"')))
    tree.validate()
    assert names(tree) == ["c", "a", "b"]
    assert tree.find("/ietf-netconf-acm:nacm/rule-list[name='c']/rule[name='r1']/action") is not None
    assert '"rule-list":[{"name":"c"' in tree.to_json()


def test_rules_inside_a_rule_list(schema, tree):
    rule = '<rule {}><name>{}</name><action>permit</action></rule>'
    apply(schema, tree, rule_lists(f"<rule-list><name>a</name>{rule.format('', 'r1')}{rule.format('', 'r2')}</rule-list>"))
    first = rule.format('yang:insert="first"', "r0")
    apply(schema, tree, rule_lists(f"<rule-list><name>a</name>{first}</rule-list>"))
    rules = [tree.value_of(n) for n in tree.xpath("/ietf-netconf-acm:nacm/rule-list[name='a']/rule/name")]
    assert rules == ["r0", "r1", "r2"]


TEST_NS = "urn:dpu-agent:test-insert"
TEST_MODULE = f"""module test-insert {{
  yang-version 1.1;
  namespace "{TEST_NS}";
  prefix ti;
  container c {{
    leaf-list alg {{ type string; ordered-by user; }}
    leaf-list plain {{ type string; }}
  }}
}}
"""


@pytest.fixture(scope="module")
def tschema(tmp_path_factory, yang_dirs):
    from agent import modset
    from agent.yang import Schema

    d = tmp_path_factory.mktemp("yang")
    (d / "test-insert.yang").write_text(TEST_MODULE)
    return Schema(modset.search_dirs([*yang_dirs, str(d)]), {**modset.MODULES, "test-insert": []})


def algs(values):
    return f'<c xmlns="{TEST_NS}">{values}</c>'


def algs_of(tree):
    return [tree.value_of(n) for n in tree.xpath("/test-insert:c/alg")]


@pytest.fixture
def dtree(tschema):
    t = tschema.empty()
    apply(tschema, t, algs("<alg>a</alg><alg>b</alg><alg>c</alg>"))
    yield t
    t.free()


@pytest.mark.parametrize("attrs, value, expected", [
    ('yang:insert="first"', "n", "nabc"),
    ('yang:insert="last"', "n", "abcn"),
    ('yang:insert="before" yang:value="b"', "n", "anbc"),
    ('yang:insert="after" yang:value="c"', "n", "abcn"),
    ('yang:insert="after" yang:value="a"', "n", "anbc"),
    ('yang:insert="first"', "c", "cab"),
    ('yang:insert="last"', "a", "bca"),
    ('yang:insert="after" yang:value="b"', "a", "bac"),
    ('yang:insert="before" yang:value="a"', "c", "cab"),
    ('yang:insert="before" yang:value="c"', "a", "bac"),
])
@pytest.mark.parametrize("op", ["merge", "replace", "create"])
def test_leaf_list_value_lands_where_insert_says(tschema, dtree, attrs, value, expected, op):
    if op == "create" and value != "n":
        return  # an existing value cannot be created
    apply(tschema, dtree, algs(f'<alg nc:operation="{op}" {attrs}>{value}</alg>'))
    assert algs_of(dtree) == list(expected)


@pytest.mark.parametrize("body, cls, app_tag, info", [
    (algs('<plain yang:insert="first">x</plain>'), BadAttribute, None, {"bad-attribute": "insert", "bad-element": "plain"}),
    (algs('<alg yang:insert="after">n</alg>'), MissingAttribute, None, {"bad-attribute": "value", "bad-element": "alg"}),
    (algs('<alg yang:insert="after" yang:key="[alg=\'a\']">n</alg>'), MissingAttribute, None,
     {"bad-attribute": "value", "bad-element": "alg"}),
    (algs('<alg yang:insert="before" yang:value="zz">n</alg>'), BadAttribute, "missing-instance",
     {"bad-attribute": "value", "bad-element": "alg"}),
])
def test_bad_leaf_list_insert_is_an_rpc_error(tschema, dtree, body, cls, app_tag, info):
    with pytest.raises(RpcError) as e:
        apply(tschema, dtree, body)
    assert type(e.value) is cls, e.value
    assert e.value.app_tag == app_tag
    assert e.value.info == info


@pytest.mark.parametrize("body, cls, app_tag, info", [
    # not ordered-by user
    (f'<nacm xmlns="{NACM}"><groups><group yang:insert="first"><name>g</name></group></groups></nacm>',
     BadAttribute, None, {"bad-attribute": "insert", "bad-element": "group"}),
    (f'<nacm xmlns="{NACM}"><enable-nacm yang:insert="first">true</enable-nacm></nacm>',
     BadAttribute, None, {"bad-attribute": "insert", "bad-element": "enable-nacm"}),
    (rule_lists(rule_list("n", 'yang:insert="middle"')),
     BadAttribute, None, {"bad-attribute": "insert", "bad-element": "rule-list"}),
    (rule_lists(rule_list("n", 'yang:insert="before"')),
     MissingAttribute, None, {"bad-attribute": "key", "bad-element": "rule-list"}),
    (rule_lists(rule_list("n", '''yang:insert="after" yang:key="[nacm:name='zz']"''')),
     BadAttribute, "missing-instance", {"bad-attribute": "key", "bad-element": "rule-list"}),
    (rule_lists(rule_list("n", '''yang:insert="after" yang:key="[nacm:group='a']"''')),
     BadAttribute, None, {"bad-attribute": "key", "bad-element": "rule-list"}),
    (rule_lists(rule_list("n", '''yang:insert="after" yang:key="a"''')),
     BadAttribute, None, {"bad-attribute": "key", "bad-element": "rule-list"}),
])
def test_bad_insert_is_an_rpc_error(schema, tree, body, cls, app_tag, info):
    with pytest.raises(RpcError) as e:
        apply(schema, tree, body)
    assert type(e.value) is cls, e.value
    assert e.value.app_tag == app_tag
    assert e.value.info == info


def test_replace_without_insert_keeps_the_entry_in_place_and_drops_what_is_not_given(schema, tree):
    apply(schema, tree, rule_lists('<rule-list><name>a</name><group>g</group>'
                                   '<rule><name>r1</name><action>permit</action></rule></rule-list>'))
    apply(schema, tree, rule_lists('<rule-list nc:operation="replace"><name>a</name><group>h</group></rule-list>'))
    assert names(tree) == ["a", "b", "c"]
    groups = [tree.value_of(n) for n in tree.xpath("/ietf-netconf-acm:nacm/rule-list[name='a']/group")]
    assert groups == ["h"]
    assert tree.find("/ietf-netconf-acm:nacm/rule-list[name='a']/rule[name='r1']") is None
    tree.validate()
    merged = '<rule-list><name>b</name><group>g</group></rule-list>'
    apply(schema, tree, rule_lists(merged + '<rule-list><name>b</name><group>k</group></rule-list>'))
    assert [tree.value_of(n) for n in tree.xpath("/ietf-netconf-acm:nacm/rule-list[name='b']/group")] == ["g", "k"]


def test_order_survives_the_cbor_store_and_shows_in_the_diff(schema, tree):
    import cbor2

    from agent.datastore import yangcbor

    before = tree.duplicate()
    apply(schema, tree, rule_lists(rule_list("c", 'yang:insert="first"')))
    assert before.diff(tree) == [("/ietf-netconf-acm:nacm/rule-list[name='c']", "replace")]  # a move
    with yangcbor.to_tree(schema, cbor2.loads(cbor2.dumps(yangcbor.encode_tree(tree)))) as back:
        assert names(back) == ["c", "a", "b"]
    before.free()
