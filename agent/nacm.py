"""NETCONF access control (RFC 8341): who may run which operation, read which
data, change which data, receive which notification.

The rules are read from running (`ietf-netconf-acm:nacm`) after every change
and applied per session by user name. Nodes marked ``nacm:default-deny-all``
or ``nacm:default-deny-write`` are denied unless a rule permits them; on top
of that, private keys are never returned to anyone (agent/rpc: the agent's
own rule, not NACM's).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any, NamedTuple, NoReturn

from .netconf.errors import AccessDenied
from .yang import Schema, Tree, YangError

log = logging.getLogger(__name__)

NACM = "ietf-netconf-acm:nacm"
NACM_MODULE = "ietf-netconf-acm"
_NACM_PREFIX = f"/{NACM_MODULE}:"
#: RFC 8341 3.2.6: denied unless a rule permits them, whatever exec-default says
DEFAULT_DENY_RPCS = {("ietf-netconf", "kill-session"), ("ietf-netconf", "delete-config")}
ALWAYS_PERMITTED_RPCS = {("ietf-netconf", "close-session")}


class Rule(NamedTuple):
    name: str
    module: str  # module name or "*"
    kind: str  # "rpc", "notification", "data" or "any"
    target: str | None  # rpc-name, notification-name, path ("*" = any)
    operations: frozenset[str]  # {"*"} or create/read/update/delete/exec
    permit: bool

    def allows_op(self, op: str) -> bool:
        return "*" in self.operations or op in self.operations


#: users whose rules a policy remembers (the configured users; a bound all the same)
_RULES_CACHED = 64


class Policy:
    """The NACM policy read from running (:func:`read_policy`), never changed
    after. A plain class, not a dataclass: no ``dataclasses`` to import nor
    class to generate at each start of the agent."""

    __slots__ = ("enabled", "read_default", "write_default", "exec_default", "groups", "rule_lists", "_rules", "_all_writes")

    def __init__(self, enabled: bool = True, read_default: bool = True, write_default: bool = False, exec_default: bool = True,
                 groups: dict[str, frozenset[str]] | None = None,
                 rule_lists: tuple[tuple[frozenset[str], tuple[Rule, ...]], ...] = ()) -> None:
        self.enabled = enabled
        self.read_default = read_default
        self.write_default = write_default
        self.exec_default = exec_default
        #: user -> the groups that name it
        self.groups: dict[str, frozenset[str]] = {} if groups is None else groups
        #: (groups of the rule-list, its rules), in configuration order
        self.rule_lists = rule_lists
        #: user -> :meth:`rules_for`: asked several times per RPC, of a policy that never changes
        self._rules: dict[str, tuple[Rule, ...]] = {}
        #: user -> whether its rules permit every write everywhere (see Nacm.check_write)
        self._all_writes: dict[str, bool] = {}

    def _key(self) -> tuple[object, ...]:
        return self.enabled, self.read_default, self.write_default, self.exec_default, self.groups, self.rule_lists

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, Policy) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable: it holds dicts

    def __repr__(self) -> str:
        return "Policy(enabled={!r}, read_default={!r}, write_default={!r}, exec_default={!r}, groups={!r}, rule_lists={!r})".format(*self._key())

    def rules_for(self, user: str) -> tuple[Rule, ...]:
        cached = self._rules.get(user)
        if cached is not None:
            return cached
        mine = self.groups.get(user, frozenset())
        out: list[Rule] = []
        for groups, rules in self.rule_lists:
            if "*" in groups or groups & mine:
                out.extend(rules)
        if len(self._rules) < _RULES_CACHED:
            self._rules[user] = tuple(out)
        return tuple(out)


def affects_policy(changed: Iterable[str]) -> bool:
    """Whether a change of running at these paths (:meth:`Tree.diff`'s) can
    change the policy: anything under /nacm but a rule's comment, which the
    policy does not hold (an edit of a comment then costs no re-read)."""
    return any(p.startswith(_NACM_PREFIX) and not p.endswith("/comment") for p in changed)


def read_policy(tree: Tree) -> Policy:
    data = json.loads(tree.subtree_json(f"/{NACM}", "report-all")).get(NACM)
    if data is None:
        return Policy()
    groups: dict[str, set[str]] = {}
    for g in data.get("groups", {}).get("group", []):
        for user in g.get("user-name", []):
            groups.setdefault(user, set()).add(g["name"])
    lists = []
    for rl in data.get("rule-list", []):
        rules = []
        for r in rl.get("rule", []):
            if "rpc-name" in r:
                kind, target = "rpc", r["rpc-name"]
            elif "notification-name" in r:
                kind, target = "notification", r["notification-name"]
            elif "path" in r:
                kind, target = "data", r["path"]
            else:
                kind, target = "any", None
            ops = r.get("access-operations", "*")
            rules.append(Rule(r["name"], r.get("module-name", "*"), kind, target,
                              frozenset(ops.split()) if isinstance(ops, str) else frozenset(ops), r.get("action") == "permit"))
        lists.append((frozenset(rl.get("group", [])), tuple(rules)))
    return Policy(
        enabled=data.get("enable-nacm", True),
        read_default=data.get("read-default", "permit") == "permit",
        write_default=data.get("write-default", "deny") == "permit",
        exec_default=data.get("exec-default", "permit") == "permit",
        groups={u: frozenset(g) for u, g in groups.items()},
        rule_lists=tuple(lists),
    )


_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")


def looks_down(path: str) -> bool:
    """Whether a rule's path is one absolute location path that never steps
    up (``..``, an axis) and whose predicates test only the node's own
    children (no path in them, no function, no variable): it then selects a
    node by looking only at the node, its ancestors and their children."""
    bare = _LITERAL.sub("''", path)
    if not bare.startswith("/") or any(bad in bare for bad in ("..", "::", "(", "$", "|")):
        return False
    depth = 0
    for c in bare:
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif c == "/" and depth:
            return False
    return depth == 0


class Nacm:
    def __init__(self, schema: Schema, policy: Policy | None = None) -> None:
        self.schema = schema
        self.policy = policy or Policy()
        # ietf-netconf-acm counters (RFC 8341 3.5.1)
        self.denied_rpcs = 0
        self.denied_writes = 0
        self.denied_notifications = 0

    def update(self, running: Tree) -> None:
        self.policy = read_policy(running)

    # -- operations --

    def check_exec(self, user: str, module: str | None, rpc: str) -> None:
        if not self.policy.enabled or (module, rpc) in ALWAYS_PERMITTED_RPCS:
            return
        for rule in self.policy.rules_for(user):
            if rule.kind not in ("rpc", "any") or not rule.allows_op("exec"):
                continue
            if rule.module not in ("*", module) or (rule.kind == "rpc" and rule.target not in ("*", rpc)):
                continue
            if rule.permit:
                return
            self._deny_rpc(user, rpc, f"rule {rule.name}")
        if (module, rpc) in DEFAULT_DENY_RPCS or not self.policy.exec_default:
            self._deny_rpc(user, rpc, "the default")

    def _deny_rpc(self, user: str, rpc: str | None, why: str) -> NoReturn:
        self.denied_rpcs += 1
        log.info("NACM: %s may not run <%s> (%s)", user, rpc, why)
        raise AccessDenied(f"access to <{rpc}> denied", type="protocol")

    def check_action(self, user: str, tree: Tree, node: Any) -> None:  # node: the action's libyang node
        """RFC 8341 3.4.4 for <action>: read access to every data node above
        the action instance, then exec access to the action node itself."""
        if not self.policy.enabled:
            return
        chain = tree.lineage(node)
        read = self._data_rules(user, "read", tree)
        lineage: list[int] = []
        for above in chain[:-1]:
            lineage.append(tree.node_id(above))
            if not self._decide(tree, above, lineage, read, self.policy.read_default, ("default-deny-all",)):
                self._deny_rpc(user, tree.schema_of(node).name, f"no read access to {tree.path_of(above)}")
        lineage.append(tree.node_id(node))
        execute = self._data_rules(user, "exec", tree)
        if not self._decide(tree, node, lineage, execute, self.policy.exec_default, ("default-deny-all",)):
            self._deny_rpc(user, tree.schema_of(node).name, "no exec access to the action")

    # -- notifications --

    def can_notify(self, user: str, module: str, name: str, body: str | None = None) -> bool:
        """Whether ``user`` gets the notification (RFC 8341 3.4.6); ``body``,
        its XML as logged, makes a nested one (RFC 7950 7.16) also need read
        access to every data node above it: a notification about a list entry
        the user may not read would tell the entry exists, and what happened to it."""
        if not self.policy.enabled:
            return True
        allowed = self.policy.read_default
        for rule in self.policy.rules_for(user):
            if rule.kind not in ("notification", "any") or not rule.allows_op("read"):
                continue
            if rule.module not in ("*", module) or (rule.kind == "notification" and rule.target not in ("*", name)):
                continue
            allowed = rule.permit
            break
        if allowed and body is not None and not self._permits_all(user, "read"):
            allowed = self._can_read_parents(user, body)
        if not allowed:
            self.denied_notifications += 1
        return allowed

    def _can_read_parents(self, user: str, body: str) -> bool:
        try:
            nested = self.schema.nested_notification(body)
        except YangError:
            return False  # not ours to judge: withheld rather than leaked
        if nested is None:
            return True
        tree, parent = nested
        try:
            rules = self._data_rules(user, "read", tree)
            lineage: list[int] = []
            for node in tree.lineage(parent):
                lineage.append(tree.node_id(node))
                if not self._decide(tree, node, list(lineage), rules, self.policy.read_default, ("default-deny-all",)):
                    return False
            return True
        finally:
            tree.free()

    # -- data --

    def _permits_all(self, user: str, op: str) -> bool:
        """True when the user's first data rule for ``op`` permits every node
        of every module (the factory's permit-all is one): then no node needs
        looking at, and reads and writes cost nothing per node."""
        for rule in self.policy.rules_for(user):
            if rule.kind not in ("data", "any") or not rule.allows_op(op):
                continue
            return rule.permit and rule.module == "*" and (rule.kind == "any" or rule.target == "*")
        return False

    def _permits_all_writes(self, user: str) -> bool:
        """:meth:`_permits_all` for every kind of write (asked on every edit)."""
        remembered = self.policy._all_writes
        known = remembered.get(user)
        if known is None:
            known = all(self._permits_all(user, op) for op in ("create", "update", "delete"))
            if len(remembered) < _RULES_CACHED:
                remembered[user] = known
        return known

    def _data_rules(self, user: str, op: str, tree: Tree) -> list[tuple[Rule, set[int] | None]]:
        """The data rules that may apply, each with the node set its path selects."""
        out = []
        for rule in self.policy.rules_for(user):
            if rule.kind not in ("data", "any") or not rule.allows_op(op):
                continue
            selected = None
            if rule.kind == "data" and rule.target != "*":
                assert rule.target is not None  # a data rule has a path
                selected = {tree.node_id(n) for n in tree.xpath(rule.target)}
            out.append((rule, selected))
        return out

    def _decide(self, tree: Tree, node: Any, lineage: list[int], rules: list[tuple[Rule, set[int] | None]],
                default: bool, deny_ext: tuple[str, ...]) -> bool:
        sn = tree.schema_of(node)
        for rule, selected in rules:
            if rule.module not in ("*", sn.module):
                continue
            if selected is not None and not any(i in selected for i in lineage):
                continue
            return rule.permit
        if any(sn.has_extension(NACM_MODULE, ext) for ext in deny_ext):
            return False
        return default

    def reads_everything(self, user: str) -> bool:
        """Whether ``user`` may read every node: NACM is off, or the user's
        first read rule permits all (then :meth:`filter_read` removes nothing)."""
        return not self.policy.enabled or self._permits_all(user, "read")

    def read_rules_look_down(self, user: str) -> bool:
        """Whether every data rule that can decide ``user``'s reads has a path
        that only looks down from the top (:func:`looks_down`): such a rule
        selects the same nodes of a top-level subtree whether the rest of the
        datastore is there or not, so reads may prune a copy of just the
        top-level subtrees a filter names (agent/datastore/view.py)."""
        for rule in self.policy.rules_for(user):
            if rule.kind == "data" and rule.allows_op("read") and rule.target != "*":
                if rule.target is None or not looks_down(rule.target):
                    return False
        return True

    def filter_read(self, user: str, tree: Tree) -> None:
        """Remove from ``tree`` what ``user`` may not read (RFC 8341 3.4.5)."""
        if self.reads_everything(user):
            return
        rules = self._data_rules(user, "read", tree)
        denied = []

        def walk(parent: Any, lineage: list[int]) -> None:
            for node in tree.children(parent):
                here = lineage + [tree.node_id(node)]
                if not self._decide(tree, node, here, rules, self.policy.read_default, ("default-deny-all",)):
                    denied.append(node)
                    continue
                walk(node, here)

        walk(None, [])
        for node in denied:
            tree.delete(node)

    def check_write(self, user: str, old: Tree, new: Tree) -> None:
        """Refuse the change from ``old`` to ``new`` if ``user`` may not make it."""
        if not self.policy.enabled or self._permits_all_writes(user):
            return  # no diff needed: it is the costliest step of an edit in a large configuration
        for path, op in old.diff(new):
            access = {"create": "create", "delete": "delete", "replace": "update"}[op]
            tree = old if op == "delete" else new
            node = tree.find(path, include_defaults=True)
            if node is None:
                continue
            rules = self._data_rules(user, access, tree)
            lineage = [tree.node_id(n) for n in tree.lineage(node)]
            targets = [(node, lineage)]
            if op in ("create", "delete"):  # the whole subtree is created or deleted
                targets += [(d, lineage + [tree.node_id(x) for x in tree.lineage(d, stop=node)]) for d in tree.descendants(node)]
            for target, line in targets:
                if not self._decide(tree, target, line, rules, self.policy.write_default, ("default-deny-all", "default-deny-write")):
                    self.denied_writes += 1
                    xpath, nsmap = self.schema.xml_path(tree.path_of(target))
                    log.info("NACM: %s may not %s %s", user, access, tree.path_of(target))
                    raise AccessDenied(f"{access} access to this node is denied", path=xpath, path_namespaces=nsmap)
