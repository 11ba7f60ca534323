"""Transports at the edge: TCP with kernel keepalives, SSH, and the bridge to NETCONF."""
