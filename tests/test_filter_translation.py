"""Subtree filters remembered by their content (agent/datastore/filter.py):
a filter read again gets the translation of the same filter, never that of
one that differs in a namespace, a name, a value or its nesting."""

from __future__ import annotations

import pytest

from agent.callhome import build
from agent.datastore import filter as subtree
from agent.netconf.errors import BadElement
from agent.netconf.xmltree import parse

NACM = build.NS_NACM


def _filter(inner: str):
    return parse(f'<filter type="subtree">{inner}</filter>'.encode())


FILTERS = [
    f'<nacm xmlns="{NACM}"><rule-list><name>a</name></rule-list></nacm>',
    f'<nacm xmlns="{NACM}"><rule-list><name>b</name></rule-list></nacm>',
    f'<nacm xmlns="{NACM}"><rule-list><name>a</name><group/></rule-list></nacm>',
    f'<nacm xmlns="{NACM}"><rule-list><group>a</group></rule-list></nacm>',
    f'<nacm xmlns="{NACM}"><rule-list/></nacm>',
    f'<nacm xmlns="{NACM}"><rule-list><name> a </name></rule-list></nacm>',
    f'<nacm xmlns="{NACM}"><rule-list><name>a</name></rule-list><groups/></nacm>',
    '<nacm xmlns="urn:example:other"><rule-list><name>a</name></rule-list></nacm>',
    f'<nacm xmlns="{NACM}"><rule-list xmlns="urn:example:other"><name>a</name></rule-list></nacm>',
    f'<nacm xmlns="{NACM}"/>',
]


def test_a_remembered_translation_is_the_translation_of_that_filter(schema):
    fresh = [subtree._translate(schema, _filter(f)) for f in FILTERS]
    assert fresh[0] != fresh[1] and fresh[0] == fresh[5]  # " a " is "a" once stripped
    for _ in range(2):  # translated, then remembered
        for f, want in zip(FILTERS, fresh, strict=True):
            got = subtree.subtree_to_xpaths(schema, _filter(f))
            assert got == want, f
            got.append("/changed:by-the-caller")  # a caller's list is its own
    assert subtree.subtree_to_xpaths(schema, _filter(FILTERS[0])) == fresh[0]


def test_only_so_many_are_remembered(schema):
    for k in range(3 * subtree.MAX_REMEMBERED):
        xpaths = subtree.subtree_to_xpaths(schema, _filter(f'<nacm xmlns="{NACM}"><rule-list><name>p{k}</name></rule-list></nacm>'))
        assert xpaths == [f"/ietf-netconf-acm:nacm/rule-list[name='p{k}']"]
    assert len(subtree._remembered[schema]) <= subtree.MAX_REMEMBERED
    big = "".join(f"<rule-list><name>{'x' * 100}{k}</name></rule-list>" for k in range(30))
    subtree.subtree_to_xpaths(schema, _filter(f'<nacm xmlns="{NACM}">{big}</nacm>'))
    assert all(sum(map(len, x)) <= subtree.MAX_REMEMBERED_CHARS for x in subtree._remembered[schema].values())


def test_a_large_filter_is_translated_and_not_kept(schema):
    """A namespace bomb's filter selects nothing: its translation is short,
    but the filter itself is not kept (it would be, as the key)."""
    known = subtree._remembered.setdefault(schema, {})
    known.clear()
    for m in (10, 1000):
        kids = "".join(f'<x{j % 10} xmlns="urn:x"/>' for j in range(m))
        assert subtree.subtree_to_xpaths(schema, _filter(kids)) == []
    assert len(known) == 1  # the small one
    assert sum(len(repr(k)) for k in known) < 2 * subtree.MAX_REMEMBERED_SIZE


def test_a_refused_filter_is_refused_every_time(schema):
    for _ in range(2):
        with pytest.raises(BadElement):
            subtree.subtree_to_xpaths(schema, _filter(f'<nacm xmlns="{NACM}"><groups>x</groups><rule-list/></nacm>'))
