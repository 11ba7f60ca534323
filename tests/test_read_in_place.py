"""A subtree-filtered read answered straight from the datastore
(view.select_in_place: no copy of the whole datastore, no pruning), or
from a copy of only the top-level nodes the filter names
(view.copy_to_read), answers exactly what the general pipeline answers
(a whole copy, NACM pruning, secret removal, then selection), or declines:
compared on many generated filters, users and with-defaults modes, seeded
so that a failure replays."""

from __future__ import annotations

import base64
import random

import pytest

from agent import modset
from agent.callhome import build
from agent.datastore.edit import apply_edit
from agent.datastore.view import copy_to_read, filter_xpaths, print_in_place, readable, select_in_place
from agent.nacm import Nacm, Policy, Rule, looks_down
from agent.netconf.errors import RpcError
from agent.netconf.xmltree import Element, escape_text, parse
from agent.plugins.gfast_sim import GfastSimPlugin
from agent.yang import Kind, Schema

from .support import SHARED_YANG
from .support.nacm import GROUPS_WITHOUT_MEMBERS, MONITOR_RULES

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
MODES = ("explicit", "trim", "report-all", "report-all-tagged")
#: admin: permit-all (the fast path's case); monitor: MONITOR_RULES and
#: GROUPS_WITHOUT_MEMBERS; nobody: in no group, NACM's defaults; odd: a rule
#: whose path tests another top-level node (ODD_RULES)
USERS = ("admin", "monitor", "nobody", "odd")
#: a deny rule that applies only while the call-home configuration exists
#: (in a copy of NACM alone it would not): no partial copy for its user.
#: libyang refuses such a path in the configuration (a node-instance-identifier
#: is parsed as a path with key predicates), so it is put in the policy directly.
ODD_RULES = (frozenset({"odds"}), (
    Rule("no-groups-with-call-home", "ietf-netconf-acm", "data",
         "/ietf-netconf-acm:nacm/groups[count(/ietf-netconf-server:netconf-server/call-home) = 1]",
         frozenset({"read"}), False),
    Rule("nacm", "ietf-netconf-acm", "data", "/ietf-netconf-acm:nacm", frozenset({"read"}), True),
))


def _nacm(schema, tree) -> Nacm:
    """NACM with the policy of ``tree`` and ODD_RULES for the user odd."""
    nacm = Nacm(schema)
    nacm.update(tree)
    policy = nacm.policy
    nacm.policy = Policy(policy.enabled, policy.read_default, policy.write_default, policy.exec_default,
                         groups={**policy.groups, "odd": frozenset({"odds"})}, rule_lists=policy.rule_lists + (ODD_RULES,))
    return nacm
SEEDS = range(20)
FILTERS_PER_SEED = 20


def _config(schema, xml: str):
    tree = schema.empty()
    apply_edit(schema, tree, parse(xml.encode()), "merge")
    return tree


def _key(n: int) -> str:
    return base64.b64encode(bytes([n]) * 32).decode()


def _running(schema, with_secret: bool):
    """Call home for two managers (SSH endpoints with users, hidden host
    keys; with a cleartext private key inline if ``with_secret``), NACM
    with groups, rule-lists and the monitor's rules, defaults added."""
    users = {"admin": [_key(1)], "monitor": [_key(2), _key(3)]}
    clients = [
        build.Client("nms", [build.Endpoint("a", "127.0.0.1", 4334), build.Endpoint("b", "192.0.2.1", 4335)], users=users),
        build.Client("nms2", [build.Endpoint("a", "127.0.0.1", 4336, keepalives=(60, 3, 10))], users=users,
                     periodic=(60, 120)),
    ]
    tree = _config(schema, build.config_xml(clients, _key(9), admins=["admin"]))
    for extra in (MONITOR_RULES, GROUPS_WITHOUT_MEMBERS):
        apply_edit(schema, tree, parse(extra.encode()), "merge")
    if with_secret:
        secret = (
            f'<config xmlns="{NC}"><netconf-server xmlns="{build.NS_NCS}"><call-home><netconf-client><name>nms2</name>'
            "<endpoints><endpoint><name>z</name><ssh><tcp-client-parameters><remote-address>192.0.2.9</remote-address>"
            "</tcp-client-parameters><ssh-server-parameters><server-identity><host-key><name>device</name>"
            "<public-key><inline-definition>"
            '<private-key-format xmlns:ct="urn:ietf:params:xml:ns:yang:ietf-crypto-types">ct:one-asymmetric-key-format'
            f"</private-key-format><cleartext-private-key>{_key(7)}</cleartext-private-key></inline-definition></public-key>"
            "</host-key></server-identity></ssh-server-parameters></ssh></endpoint></endpoints></netconf-client>"
            "</call-home></netconf-server></config>")
        apply_edit(schema, tree, parse(secret.encode()), "merge")
    tree.validate()
    return tree


@pytest.fixture(scope="module")
def trees(schema):
    out = {secret: _running(schema, secret) for secret in (False, True)}
    yield out
    for t in out.values():
        t.free()


def _filter(rng: random.Random, data: Element, depth: int = 0) -> str:
    """A random subtree filter element for the data element ``data``: a
    selection node, or a containment node holding content matches (right
    or wrong values, on keys or not), selections of some children,
    deeper containment, and now and then a node the schema lacks."""
    ns = f' xmlns="{data.ns}"' if depth == 0 or rng.random() < 0.1 else ""
    if not data.children:
        if rng.random() < 0.5:
            value = data.text if rng.random() < 0.7 else data.text + "x"
            return f"<{data.name}{ns}>{escape_text(value)}</{data.name}>"
        return f"<{data.name}{ns}/>"
    if rng.random() < 0.25 and depth:
        return f"<{data.name}{ns}/>"
    inner = []
    for child in data.children:
        r = rng.random()
        if r < 0.4:
            continue
        if not child.children and r < 0.75:
            value = child.text if rng.random() < 0.8 else "nothing-like-it"
            inner.append(f"<{child.name}>{escape_text(value)}</{child.name}>")
        else:
            inner.append(_filter(rng, child, depth + 1))
    if rng.random() < 0.05:
        inner.append("<no-such-node/>")
    if rng.random() < 0.05:
        inner.append('<other xmlns="urn:example:none">x</other>')
    if not inner:
        return f"<{data.name}{ns}/>"
    return f"<{data.name}{ns}>{''.join(inner)}</{data.name}>"


def _get_config(filter_xml: str) -> Element:
    return parse(f'<get-config xmlns="{NC}"><source><running/></source>'
                 f'<filter type="subtree">{filter_xml}</filter></get-config>'.encode())


def _general(schema, nacm, user, tree, xpaths, mode) -> str:
    with readable(schema, nacm, user, tree.duplicate(), xpaths) as out:
        return out.to_xml(mode)


@pytest.mark.parametrize("seed", SEEDS)
def test_selecting_in_place_answers_what_the_general_path_answers(schema, trees, seed):
    rng = random.Random(seed)
    taken = compared = uncopied = 0
    for with_secret, tree in trees.items():
        nacm = _nacm(schema, tree)
        data = parse(f"<data>{tree.to_xml('report-all')}</data>".encode())
        for _ in range(FILTERS_PER_SEED):
            tops = rng.sample(data.children, rng.randint(1, len(data.children)))
            filter_xml = "".join(_filter(rng, top) for top in tops)
            try:
                xpaths = filter_xpaths(schema, _get_config(filter_xml))
            except RpcError:
                continue  # refused before any read (a content match on a container)
            assert xpaths is not None
            for user in USERS:
                before = tree.to_xml("report-all-tagged")
                fast = select_in_place(schema, nacm, user, tree, xpaths)
                printed = {mode: print_in_place(schema, nacm, user, tree, xpaths, mode) for mode in MODES}
                assert tree.to_xml("report-all-tagged") == before  # the datastore is untouched
                general = {mode: _general(schema, nacm, user, tree, xpaths, mode) for mode in MODES}
                where = f"seed {seed}, user {user}, secret {with_secret}, filter {filter_xml}"
                with readable(schema, nacm, user, copy_to_read(nacm, user, tree, xpaths, True), xpaths) as partial:
                    for mode in MODES:
                        assert partial.to_xml(mode) == general[mode], f"{where}, mode {mode}: partial copy"
                if fast is None:
                    assert set(printed.values()) == {None}, where
                    continue
                taken += 1
                for mode in MODES:
                    assert printed[mode] == general[mode], f"{where}, mode {mode}: printed in place"
                    # the print without any copy, where it answers
                    text = tree.print_selected([tree.xpath(x) for x in xpaths], mode)
                    if text is not None:
                        uncopied += 1
                        assert text == general[mode], f"{where}, mode {mode}: printed without a copy"
                with fast:
                    for mode in MODES:
                        compared += 1
                        assert fast.to_xml(mode) == general[mode], f"{where}, mode {mode}: in place"
    print(f"seed {seed}: in place {taken} times, {compared} replies compared, {uncopied} printed without a copy")
    assert taken, "the fast path was never taken"
    assert uncopied, "the print without a copy was never taken"


def test_it_declines_where_pruning_could_change_the_answer(schema, trees):
    ncs = f'<netconf-server xmlns="{build.NS_NCS}"/>'
    nacm_filter = f'<nacm xmlns="{build.NS_NACM}"><groups/></nacm>'
    for with_secret, tree in trees.items():
        nacm = _nacm(schema, tree)
        for flt, user, taken in (
            (nacm_filter, "admin", True),
            (ncs, "admin", not with_secret),  # a private key under the named node
            (nacm_filter, "monitor", False),  # NACM may prune what the filter looks at
            (nacm_filter, "nobody", False),
        ):
            xpaths = filter_xpaths(schema, _get_config(flt))
            assert xpaths
            out = select_in_place(schema, nacm, user, tree, xpaths)
            assert (out is not None) == taken, (flt, user, with_secret)
            if out is not None:
                with out:
                    assert out.to_xml() == _general(schema, nacm, user, tree, xpaths, "explicit")
                    assert out.to_xml()  # selects something


def test_a_partial_copy_only_where_every_read_rule_looks_down(schema, trees):
    tree = trees[False]
    nacm = _nacm(schema, tree)
    xpaths = filter_xpaths(schema, _get_config(f'<nacm xmlns="{build.NS_NACM}"><groups/></nacm>'))
    assert xpaths
    for user, partial in (("admin", True), ("monitor", True), ("nobody", True), ("odd", False)):
        with copy_to_read(nacm, user, tree, xpaths, True) as copy:
            assert ("<netconf-server" not in copy.to_xml()) == partial, user
    # what the odd rule hides, a copy of NACM alone would show
    assert "<groups>" not in _general(schema, nacm, "odd", tree, xpaths, "explicit")
    with readable(schema, nacm, "odd", tree.duplicate_tops({"/ietf-netconf-acm:nacm"}), xpaths) as wrong:
        assert "<groups>" in wrong.to_xml()
    with copy_to_read(nacm, "admin", tree, None, False) as whole:
        assert "<netconf-server" in whole.to_xml()


@pytest.mark.parametrize("path, down", [
    ("/ietf-netconf-acm:nacm/groups/group/user-name", True),
    ("/a:x/y[name='n/1'][k=\"..(|\"]/z", True),
    ("/a:x//y[.='v']", True),
    ("/a:x/*", True),
    ("a:x/y", False),
    ("/a:x/../b:y", False),
    ("/a:x/y[/b:z]", False),
    ("/a:x/y[z/w='1']", False),
    ("/a:x/y[count(z)=1]", False),
    ("/a:x/parent::*", False),
    ("/a:x | b:y", False),
    ("/a:x[$v]", False),
    ("/a:x[y", False),
])
def test_which_rule_paths_look_down(path, down):
    assert looks_down(path) == down


IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
STATE = (f'<interfaces xmlns="{IF}"><interface><name>eth0</name><oper-status>up</oper-status></interface>'
         f"<interface><name>eth1</name><oper-status>down</oper-status></interface></interfaces>"
         '<netconf-state xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"><sessions><session>'
         "<session-id>1</session-id><transport>netconf-ssh</transport><username>admin</username>"
         "<login-time>2026-01-01T00:00:00Z</login-time><in-rpcs>1</in-rpcs></session></sessions></netconf-state>")
INTERFACES = (f'<config xmlns="{NC}"><interfaces xmlns="{IF}"><interface><name>eth0</name>'
              '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type>'
              "<description>uplink</description></interface></interfaces></config>")


@pytest.mark.parametrize("seed", range(8))
def test_get_merges_state_into_a_partial_copy_with_the_same_answer(schema, trees, seed):
    """<get>: state merged into a copy of only the top-level nodes the
    filter names answers as state merged into a whole copy of running."""
    rng = random.Random(1000 + seed)
    running = trees[True].duplicate()
    apply_edit(schema, running, parse(INTERFACES.encode()), "merge")
    nacm = _nacm(schema, running)

    def combined(copy):
        with schema.parse(STATE, "xml", state=True) as state:
            copy.merge(state)
        return copy

    with running:
        whole = combined(running.duplicate())
        with whole:
            data = parse(f"<data>{whole.to_xml('report-all')}</data>".encode())
        for _ in range(FILTERS_PER_SEED):
            tops = rng.sample(data.children, rng.randint(1, len(data.children)))
            filter_xml = "".join(_filter(rng, top) for top in tops)
            try:
                xpaths = filter_xpaths(schema, _get_config(filter_xml))
            except RpcError:
                continue
            for user in USERS:
                with readable(schema, nacm, user, combined(running.duplicate()), xpaths) as want, \
                        readable(schema, nacm, user, combined(copy_to_read(nacm, user, running, xpaths, True)),
                                 xpaths) as got:
                    for mode in MODES:
                        assert got.to_xml(mode) == want.to_xml(mode), f"seed {seed}, user {user}, {filter_xml}"


def _branch_filter(rng: random.Random, schema, data: Element, snode) -> str:
    """A subtree filter down one branch of ``data`` (``snode`` its schema
    node): a list entry's keys as content matches (now and then a wrong
    value), and at most one child deeper, down to a selection node or a
    leaf-list value; the kind of filter a manager polls one entry with."""
    tag = f'{data.name} xmlns="{data.ns}"'
    if not data.children:
        if snode.kind == Kind.LEAFLIST and rng.random() < 0.5:
            return f"<{tag}>{escape_text(data.text)}</{data.name}>"
        return f"<{tag}/>"
    inner = []
    for key in snode.keys:
        el = data.find(key, data.ns)
        assert el is not None
        value = el.text if rng.random() < 0.9 else el.text + "x"
        inner.append(f"<{key}>{escape_text(value)}</{key}>")
    others = [c for c in data.children if not (c.ns == data.ns and c.name in snode.keys)]
    if others and rng.random() < 0.8:
        child = rng.choice(others)
        inner.append(_branch_filter(rng, schema, child, schema.child_node(snode, child.ns, child.name)))
    if not inner:
        return f"<{tag}/>"
    return f"<{tag}>{''.join(inner)}</{data.name}>"


@pytest.fixture(scope="module")
def bbf_line(yang_dirs):
    """The Broadband Forum example G.fast line (ietf-interfaces with the
    bbf-fastdsl augment: another namespace below a list entry, identityref
    values), defaults added, in a schema of its own."""
    bbf = SHARED_YANG.parent / "yang-bbf"
    example = bbf / "examples" / "fast-line.json"
    if not example.exists():
        pytest.skip("the Broadband Forum modules (../shared/yang-bbf) are not here")
    schema = Schema(modset.search_dirs([str(bbf)] + yang_dirs), dict(modset.MODULES, **GfastSimPlugin.modules))
    tree = schema.parse(example.read_text(), "json")
    tree.validate()
    yield schema, tree
    tree.free()


@pytest.mark.parametrize("seed", range(6))
def test_printing_a_selected_branch_without_a_copy_prints_what_a_copy_prints(schema, trees, bbf_line, seed):
    """Tree.print_selected against Tree.select's copy, on filters down one
    branch: list entries by their keys, a leaf, a leaf-list, a container,
    a node of another module below a list entry; every with-defaults mode."""
    rng = random.Random(2000 + seed)
    printed = 0
    for sch, tree in ((schema, trees[True]), bbf_line):
        data = parse(f"<data>{tree.to_xml('report-all')}</data>".encode())
        for _ in range(40):
            top = rng.choice(data.children)
            filter_xml = _branch_filter(rng, sch, top, sch.top_node(top.ns, top.name))
            xpaths = filter_xpaths(sch, _get_config(filter_xml))
            assert xpaths
            for mode in MODES:
                with tree.select(xpaths) as copy:
                    want = copy.to_xml(mode)
                got = tree.print_selected([tree.xpath(x) for x in xpaths], mode)
                if got is not None:
                    printed += 1
                    assert got == want, f"seed {seed}, {filter_xml}, mode {mode}"
    print(f"seed {seed}: {printed} printed without a copy")
    assert printed > 200, printed
