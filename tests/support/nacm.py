"""NACM (RFC 8341) set-ups: two users of different rights."""

from __future__ import annotations

import asyncssh

from agent.callhome import build

from .listener import b64

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
NACM = build.NS_NACM

MONITOR_RULES = f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><nacm xmlns="{NACM}">
  <groups><group><name>monitors</name><user-name>monitor</user-name></group></groups>
  <rule-list><name>monitors</name><group>monitors</group>
    <rule><name>no-endpoints</name><module-name>ietf-netconf-server</module-name>
      <path xmlns:ncs="{build.NS_NCS}">/ncs:netconf-server/ncs:call-home/ncs:netconf-client/ncs:endpoints</path>
      <access-operations>read</access-operations><action>deny</action></rule>
    <rule><name>no-config-change-events</name><module-name>ietf-netconf-notifications</module-name>
      <notification-name>netconf-config-change</notification-name><access-operations>read</access-operations>
      <action>deny</action></rule>
  </rule-list></nacm></config>"""


#: monitor may read NACM (a default-deny-all container), but not who is in the groups
GROUPS_WITHOUT_MEMBERS = f"""<config xmlns="{NC}"><nacm xmlns="{NACM}">
  <rule-list><name>groups</name><group>monitors</group>
    <rule><name>no-members</name><module-name>ietf-netconf-acm</module-name>
      <path>/ietf-netconf-acm:nacm/groups/group/user-name</path>
      <access-operations>read</access-operations><action>deny</action></rule>
    <rule><name>nacm</name><module-name>ietf-netconf-acm</module-name>
      <path>/ietf-netconf-acm:nacm</path>
      <access-operations>read</access-operations><action>permit</action></rule>
  </rule-list></nacm></config>"""


def two_users(harness):
    """Start the agent with two managers: admin (every right, from the factory
    NACM) and monitor (NACM defaults plus MONITOR_RULES); returns both sessions."""
    monitor_key = asyncssh.generate_private_key("ssh-ed25519")
    monitor_file = harness.tmp / "monitor.key"
    monitor_key.write_private_key(str(monitor_file))
    l1, l2 = harness.listener(), harness.listener()
    users = {"admin": [b64(harness.client_key)], "monitor": [b64(monitor_key)]}
    harness.start(harness.config([
        harness.client("nms", [build.Endpoint("a", "127.0.0.1", l1.port)], users=users),
        harness.client("nms2", [build.Endpoint("a", "127.0.0.1", l2.port)], users=users),
    ]).replace("<user-name>monitor</user-name>", ""))  # monitor is no admin
    admin = l1.accept(harness)
    admin.edit_config(target="running", config=MONITOR_RULES)
    monitor = l2.accept(harness, username="monitor", key=monitor_file)
    return admin, monitor
