"""dpu-agent: the NETCONF call-home management agent of a Distribution Point Unit."""

__version__ = "0.1.0"
