"""What the module set tells about itself, read through libyang's C API:
the features each module enables (hello capabilities, yang-library) and
module sources for <get-schema>, libyang's built-in modules too."""

from __future__ import annotations

from agent import modset


def test_enabled_features_are_those_the_module_set_asks_for(schema):
    modules = {m["name"]: m for m in schema.implemented_modules()}
    for name, features in modset.MODULES.items():
        assert sorted(modules[name]["features"]) == sorted(features), name
    assert modules["ietf-yang-library"]["features"] == []


def test_sources_of_modules_with_and_without_a_file(schema):
    netconf = schema.module_source("ietf-netconf")
    assert netconf is not None and netconf.startswith("module ietf-netconf {")
    # libyang's own modules have no file: printed from the context
    builtin = schema.module_source("ietf-yang-metadata")
    assert builtin is not None and builtin.startswith("module ietf-yang-metadata {")
    assert schema.module_source("no-such-module") is None


def test_error_paths_survive_an_import_of_python_libyang(yang_dirs):
    """Importing python-libyang's package sets libyang's process-wide logging
    its own way (errors stored without their path on libyang 2): a schema
    made afterwards, and the printing of a built-in module's source, which
    imports that package, set it back."""
    import libyang  # noqa: F401  (what a plugin might do)

    from agent.yang import Schema, YangError

    schema = Schema(modset.search_dirs(yang_dirs), modset.MODULES)
    bad = '{"ietf-netconf-acm:nacm": {"enable-nacm": "maybe"}}'
    for _ in range(2):
        try:
            schema.parse(bad, "json")
        except YangError as exc:
            assert [(i.tag, i.path) for i in exc.issues] == [("invalid-value", "/ietf-netconf-acm:nacm/enable-nacm")]
        else:
            raise AssertionError("an invalid boolean was accepted")
        schema.module_source("ietf-yang-metadata")
