"""Reference plugin: G.fast lines (Broadband Forum TR-355, bbf-fast) driven on
the simulated board's transceiver (agent/hal/sim.py SimGfast).

Enable it with ``--plugin agent.plugins.gfast_sim:GfastSimPlugin`` and the
Broadband Forum modules on the YANG path. A manager configures the profiles
(/bbf-fast:fast) and an interface of type iana-if-type:fastdsl that points
at a line configuration vector; this plugin resolves the profiles and tells
the transceiver the rates, and serves the trained rates on <get>.
"""

from __future__ import annotations

from typing import Any

from ..hal.sim import LineSettings, SimGfast
from ..netconf.errors import InvalidValue
from . import Change, Plugin

FAST = "bbf-fast:fast"
FASTDSL_TYPE = "iana-if-type:fastdsl"


def lines(data: dict[str, Any]) -> dict[str, LineSettings]:
    """Each configured G.fast line with the settings its profiles give it."""
    fast = data.get(FAST, {})
    service = fast.get("service", {})
    vectors = {v["name"]: v for v in fast.get("vectors", {}).get("line-config-vector", [])}

    def profile(kind: str, name: str) -> dict[str, Any]:
        return next((p for p in service.get(kind, []) if p["name"] == name), {})

    out = {}
    for itf in data.get("ietf-interfaces:interfaces", {}).get("interface", []):
        if itf.get("type") != FASTDSL_TYPE or not itf.get("enabled", True):
            continue
        line = itf.get("bbf-fastdsl:line", {}).get("bbf-fast:line", {})
        # profiles through a line configuration vector, or attached directly
        refs = vectors.get(line["line-config-vector"], {}) if "line-config-vector" in line else line
        if "downstream-data-rate-profile" not in refs:
            continue  # no profiles attached: the line stays down
        tdd = profile("time-division-duplexing-profile", refs["time-division-duplexing-profile"])
        out[itf["name"]] = LineSettings(
            downstream_max_kbps=profile("downstream-data-rate-profile", refs["downstream-data-rate-profile"]).get("maximum-net-data-rate", 0),
            upstream_max_kbps=profile("upstream-data-rate-profile", refs["upstream-data-rate-profile"]).get("maximum-net-data-rate", 0),
            tdd_total_symbols=tdd.get("total-symbol-periods", 36),
            tdd_downstream_symbols=tdd.get("downstream-symbol-periods", 28),
        )
    return out


class GfastSimPlugin(Plugin):
    name = "gfast-sim"
    modules = {"bbf-fast": ["*"], "bbf-fastdsl": [], "bbf-if-type": [], "iana-if-type": []}
    subtrees = ("/bbf-fast:fast", "/ietf-interfaces:interfaces/interface")
    state_subtrees = ("/ietf-interfaces:interfaces-state/interface",)

    @property
    def chip(self) -> SimGfast:
        chip: SimGfast = self.ctx.board.gfast
        return chip

    async def validate(self, change: Change) -> None:
        limit = self.chip.MAX_KBPS
        for kind in ("downstream-data-rate-profile", "upstream-data-rate-profile"):
            for p in change.new.get(FAST, {}).get("service", {}).get(kind, []):
                if p.get("maximum-net-data-rate", 0) > limit:
                    raise InvalidValue(
                        f"{p['name']}: this transceiver does at most {limit} kbit/s",
                        path=f"/{FAST}/service/{kind}[name='{p['name']}']/maximum-net-data-rate",
                        app_tag="rate-above-capability",
                    )

    async def apply(self, change: Change) -> None:
        await self._move(lines(change.old), lines(change.new))

    async def abort(self, change: Change) -> None:
        await self._move(lines(change.new), lines(change.old))

    async def _move(self, before: dict[str, LineSettings], after: dict[str, LineSettings]) -> None:
        for name in before.keys() - after.keys():
            await self.chip.remove(name)
        for name, settings in after.items():
            if before.get(name) != settings:
                await self.chip.configure(name, settings)

    async def state(self, paths: list[str] | None) -> dict[str, Any] | None:
        out = []
        for name in self.chip.lines:
            st = self.chip.status(name)
            assert st is not None  # every line has a status
            out.append({
                "name": name,
                "type": FASTDSL_TYPE,
                "oper-status": "up",
                "bbf-fastdsl:line": {
                    "operational-mode": "bbf-fastdsl:mode-fast",
                    "bbf-fast:line": {
                        "status": {"link-state": st["link-state"]},
                        "channel": {"status": {
                            "downstream": {"net-data-rate": st["downstream-kbps"]},
                            "upstream": {"net-data-rate": st["upstream-kbps"]},
                        }},
                    },
                },
            })
        return {"ietf-interfaces:interfaces-state": {"interface": out}} if out else None
