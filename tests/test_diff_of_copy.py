"""A copy of a tree remembers what changed in it, and its diff against the
tree it came from compares only there (agent/yang/tree.py): that diff must
say what a diff of the whole trees says, for every kind of edit."""

import random

import pytest

from agent.callhome import build
from agent.datastore.edit import apply_edit
from agent.netconf.errors import RpcError
from agent.netconf.xmltree import parse
from agent.yang import YangError

NACM = build.NS_NACM
NCS = build.NS_NCS
ROOT = '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" xmlns:yang="urn:ietf:params:xml:ns:yang:1" ' \
       'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">{}</config>'
HOST = "AAAAC3NzaC1lZDI1NTE5AAAAIBKRzsUHzsOzaxcZrom7469cRHp+BIZzi3/IQsVwvvgd"


def nacm(body, attrs=""):
    return f'<nacm xmlns="{NACM}" xmlns:nacm="{NACM}" {attrs}>{body}</nacm>'


def rule(name, body="<module-name>*</module-name><action>permit</action>", attrs=""):
    return f"<rule {attrs}><name>{name}</name>{body}</rule>"


def rule_list(name, body="", attrs=""):
    return f"<rule-list {attrs}><name>{name}</name>{body}</rule-list>"


def base(schema):
    tree = schema.empty()
    xml = build.config_xml([build.Client("m", [build.Endpoint("e", "192.0.2.1", 4334, keepalives=(60, 3, 10))],
                                         users={"admin": [HOST]})], HOST)
    apply_edit(schema, tree, parse(xml.encode()))
    body = "".join(rule_list(n, "".join(rule(f"{n}{k}") for k in range(3)) + "<group>g</group>") for n in "abc")
    apply_edit(schema, tree, parse(ROOT.format(nacm(body + "<groups><group><name>g</name><user-name>u</user-name>"
                                                     "</group></groups>")).encode()))
    tree.validate()
    return tree


#: (default-operation, <config> content)
EDITS = [
    ("merge", nacm(rule_list("a", rule("a1", "<comment>changed</comment>")))),
    ("merge", nacm(rule_list("a", rule("a1", "<rpc-name>get</rpc-name>")))),  # the rule-type case changes
    ("merge", nacm(rule_list("a", rule("a1", "<path>/nacm:nacm</path>")))),
    ("merge", nacm(rule_list("b", rule("b9")))),
    ("merge", nacm(rule_list("b", rule("b9", attrs='yang:insert="first"')))),
    ("merge", nacm(rule_list("b", rule("b2", attrs='yang:insert="first"')))),
    ("merge", nacm(rule_list("c", attrs='yang:insert="first"'))),
    ("merge", nacm(rule_list("a", attrs='yang:insert="after" yang:key="[nacm:name=\'b\']"'))),
    ("merge", nacm(rule_list("z", rule("z0"), attrs='yang:insert="before" yang:key="[nacm:name=\'b\']"'))),
    ("merge", nacm(rule_list("a", rule("a1", attrs='nc:operation="delete"')))),
    ("merge", nacm(rule_list("a", attrs='nc:operation="remove"'))),
    ("merge", nacm(rule_list("a", rule("a1", "<action>deny</action><comment>x</comment>"), attrs='nc:operation="replace"'))),
    ("merge", nacm(rule_list("b", rule("b0", "<module-name>ietf-netconf</module-name><action>deny</action>",
                                       attrs='nc:operation="replace"')))),
    ("merge", nacm("<read-default>deny</read-default>")),
    ("merge", nacm("<read-default>permit</read-default>")),  # a default made explicit, same value
    ("merge", nacm("<enable-nacm>false</enable-nacm><exec-default>deny</exec-default>")),
    ("merge", nacm("<groups><group><name>g</name><user-name>v</user-name></group></groups>")),
    ("merge", nacm("<groups><group nc:operation='delete'><name>g</name></group></groups>")),
    ("merge", nacm("<groups nc:operation='remove'/>")),
    ("merge", nacm("", attrs='nc:operation="delete"')),
    ("merge", nacm("", attrs='nc:operation="replace"')),
    ("replace", nacm(rule_list("a"))),
    ("merge", f'<netconf-server xmlns="{NCS}"><call-home><netconf-client><name>m</name><endpoints><endpoint>'
              f"<name>e</name><ssh><tcp-client-parameters><remote-port>4335</remote-port><keepalives "
              f'nc:operation="delete"/></tcp-client-parameters></ssh></endpoint></endpoints></netconf-client>'
              f"</call-home></netconf-server>"),
    ("merge", f'<netconf-server xmlns="{NCS}" nc:operation="delete"/>'),
    ("merge", f'<netconf-server xmlns="{NCS}"><call-home><netconf-client><name>m</name>'
              f'<reconnect-strategy nc:operation="delete"/></netconf-client></call-home></netconf-server>'
              + nacm(rule_list("c", rule("c0", "<comment>both</comment>")))),
]


def edited(schema, tree, default_op, body):
    """A copy of ``tree`` with the edit applied and validated, as edit-config makes it; None if refused."""
    new = tree.duplicate()
    try:
        apply_edit(schema, new, parse(ROOT.format(body).encode()), default_op)
        new.validate()
    except (RpcError, YangError):
        new.free()
        return None
    return new


def full_diff(old, new):
    """The diff of the whole trees: ``new``'s copy knows nothing of ``old``."""
    with new.duplicate() as unrelated:
        return old.diff(unrelated)


@pytest.mark.parametrize("default_op, body", EDITS)
def test_diff_of_an_edited_copy_is_the_diff_of_the_whole_trees(schema, default_op, body):
    with base(schema) as old:
        new = edited(schema, old, default_op, body)
        assert new is not None
        with new:
            expected = full_diff(old, new)
            assert expected  # every edit here changes something
            assert sorted(old.diff(new)) == sorted(expected)
            assert sorted(old.diff(new, limit=1)) == sorted(old.diff(new.duplicate(), limit=1))


def test_a_comment_edit_compares_only_its_rule(schema):
    with base(schema) as old:
        new = edited(schema, old, "merge", nacm(rule_list("a", rule("a1", "<comment>c</comment>"))))
        assert new is not None
        with new:
            assert list(new._touched.values()) == [{"/ietf-netconf-acm:nacm/rule-list[name='a']/rule[name='a1']"}]
            assert old.diff(new) == [("/ietf-netconf-acm:nacm/rule-list[name='a']/rule[name='a1']/comment", "create")]


def test_a_changed_source_is_compared_whole(schema):
    with base(schema) as old:
        new = edited(schema, old, "merge", nacm(rule_list("a", rule("a1", "<comment>c</comment>"))))
        assert new is not None
        with new:
            apply_edit(schema, old, parse(ROOT.format(nacm("<read-default>deny</read-default>")).encode()))
            assert sorted(old.diff(new)) == sorted(full_diff(old, new))
            assert ("/ietf-netconf-acm:nacm/read-default", "delete") in old.diff(new)


def test_random_sequences_of_edits(schema):
    """Edits one after the other, each on a copy of the last, as the datastore makes them."""
    rnd = random.Random(15)
    cur = base(schema)
    try:
        for _ in range(150):
            default_op, body = rnd.choice(EDITS[:-4] + [("merge", _random_edit(rnd))] * 6)
            new = edited(schema, cur, default_op, body)
            if new is None:
                continue
            assert sorted(cur.diff(new)) == sorted(full_diff(cur, new)), body
            cur.free()
            cur = new
    finally:
        cur.free()


def _random_edit(rnd):
    lst, r = rnd.choice("abcz"), rnd.randrange(4)
    ops = ["", 'nc:operation="delete"', 'nc:operation="remove"', 'nc:operation="replace"', 'nc:operation="create"',
           'yang:insert="first"', 'yang:insert="last"']
    leaf = rnd.choice(["<comment>%d</comment>" % rnd.randrange(3), "<action>deny</action>", "<action>permit</action>",
                       "<rpc-name>get</rpc-name>", "<notification-name>n</notification-name>", "<path>/x:y</path>",
                       "<access-operations>read</access-operations>", ""])
    inner = rule(f"{lst}{r}", "<module-name>*</module-name>" + leaf, rnd.choice(ops)) if rnd.random() < 0.8 else ""
    group = "<group>g</group>" if rnd.random() < 0.3 else ""
    return nacm(rule_list(lst, inner + group, rnd.choice(ops[:2] + ops[3:] if inner else ops)))


def test_an_entry_created_and_deleted_again_in_one_edit(schema):
    """Its region is in neither tree: the whole top-level node is compared, and no change is lost."""
    body = nacm(rule_list("z", rule("z0")) + rule_list("z", attrs='nc:operation="delete"')
                + rule_list("a", rule("a1", "<comment>q</comment>")))
    with base(schema) as old:
        new = edited(schema, old, "merge", body)
        assert new is not None
        with new:
            assert old.diff(new) == full_diff(old, new) == [
                ("/ietf-netconf-acm:nacm/rule-list[name='a']/rule[name='a1']/comment", "create")]


def test_past_the_limit_each_changed_top_level_node_is_named_once(schema):
    """Changes in several rules of one rule-list, more than the limit: one
    "replace" for /nacm (a valid RFC 6470 operation), from either diff."""
    body = nacm("".join(rule_list(n, "".join(rule(f"{n}{k}", "<comment>many</comment>") for k in range(3)))
                        for n in "abc"))
    with base(schema) as old:
        new = edited(schema, old, "merge", body)
        assert new is not None
        with new, new.duplicate() as unrelated:
            assert len(old.diff(new)) == 9
            assert old.diff(new, limit=2) == old.diff(unrelated, limit=2) == [("/ietf-netconf-acm:nacm", "replace")]
