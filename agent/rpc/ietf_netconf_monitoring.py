"""RFC 6022 <get-schema>: managers download the modules the agent implements."""

from __future__ import annotations

from ..netconf.errors import InvalidValue, MissingElement
from ..netconf.xmltree import Element, escape_text
from . import RpcContext, handler

NS_MONITORING = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"


@handler(NS_MONITORING, "get-schema")
async def get_schema(ctx: RpcContext, op: Element) -> str:
    ident = op.find("identifier", NS_MONITORING)
    if ident is None or not ident.text.strip():
        raise MissingElement("<get-schema> needs <identifier>", info={"bad-element": "identifier"})
    version = op.find("version", NS_MONITORING)
    fmt = op.find("format", NS_MONITORING)
    if fmt is not None and fmt.text.strip().rpartition(":")[2] != "yang":
        raise InvalidValue("only the yang format is served", info={"bad-element": "format"})
    name = ident.text.strip()
    revision = version.text.strip() if version is not None and version.text.strip() else None
    text = ctx.server.schema.module_source(name, revision)
    if text is None:
        raise InvalidValue(f"no module {name}" + (f"@{revision}" if revision else ""), info={"bad-element": "identifier"})
    return f'<data xmlns="{NS_MONITORING}">{escape_text(text)}</data>'
