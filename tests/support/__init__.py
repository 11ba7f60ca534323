"""What the tests and bench/ share: the manager's side of call home
(:class:`Listener`), the agent on its own loop (:class:`Harness`), the agent
as a process (:class:`AgentProcess`, :func:`run_agent`), waiting on a
condition (:func:`wait_for`) and the small helpers around them.

Tests import these from here, never from another test file; bench/ imports
``tests.support`` (it runs from the repository root, as ``python -m bench``).
"""

from .clock import ManualTimers
from .harness import STOP_TIMEOUT, Harness, TlsPki, start_two_managers, two_managers
from .listener import Listener, OneThreadAtATime, b64, free_port
from .netconf import CALL_HOME_FILTER, NC, NCS, client_edit, data_content, wrap
from .paths import ROOT, SHARED_YANG, yang_dir
from .process import ADMIN, AgentProcess, run_agent
from .waiting import wait_for
from .yanglint import module_file, yanglint

__all__ = [
    "ADMIN", "AgentProcess", "CALL_HOME_FILTER", "Harness", "Listener", "ManualTimers", "NC", "NCS", "OneThreadAtATime", "ROOT",
    "SHARED_YANG", "STOP_TIMEOUT", "TlsPki", "b64", "client_edit", "data_content", "free_port", "module_file",
    "run_agent", "start_two_managers", "two_managers", "wait_for", "wrap", "yang_dir", "yanglint",
]
