# SPDX-License-Identifier: MIT
"""Hand sockets to brokerd, get them back when something happens.

The Python binding of libbroker (libbroker(3), include/socket-broker/broker.h): every
call goes through the C library, so the protocol, the limits and the error
sentences are the ones every other brokerd client has.  Hand a socket over
and exit::

    with socketbroker.Broker() as b:            # $BROKER_SOCKET or the default
        b.register("org.example.push")          # allowed by the app's manifest
        b.transfer("push", sock, context=b"server=example.org:5222", keepalive=60)

A server that is upgraded hands all its connections over at once, and its
next version takes them back, each with its context::

    results = b.transfer_many((f"conn-{n}", sock, context) for n, sock, context in conns)
    for r in socketbroker.Broker(app_id="org.example.server").claim_all():
        ... r.id, r.sock, r.info.context, or r.error ...

When brokerd starts the app again, take the sockets back::

    activation = socketbroker.Activation.open()   # None: not started by brokerd
    if activation:
        with activation:
            for h in activation:                  # until brokerd has sent them all
                with h:
                    sock = h.accept()             # brokerd lets go; the data is in sock
                    ... h.id, h.reason, h.context ...

or a message's sockets (up to 253) at once, with one acknowledgement::

        with activation:
            while hs := activation.receive_many(5.0):   # [] at the batch end
                for r in activation.accept_many(hs):
                    ... r.id, r.sock (or r.error) ...

Every blocking call releases the GIL.  For asyncio, see socketbroker.aio:
Broker.fileno() and Activation.fileno() work with loop.add_reader().
Failures raise BrokerError (an OSError) with libbroker's sentence.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing is not imported at run time (see _types.py)
if TYPE_CHECKING:
    from typing import Optional

from . import _native
from ._activation import Activation, Handback
from ._client import Broker
from ._errors import BrokerError
from ._types import (CONTEXT_MAX, DEFAULT_TIMEOUT, ID_MAX, NO_STORE, AcceptResult, AppInfo, AppState, ClaimResult, Event,
                     EventType, Kind, Reason, SocketInfo, State, Status, TransferResult)

__all__ = [
    "AcceptResult", "Activation", "AppInfo", "AppState", "Broker", "BrokerError", "CONTEXT_MAX", "ClaimResult", "DEFAULT_TIMEOUT",
    "Event", "EventType", "Handback", "ID_MAX", "Kind", "NO_STORE", "Reason", "SocketInfo", "State", "Status",
    "TransferResult", "default_socket", "env_reason", "strerror",
]


def strerror(err: int) -> str:
    """libbroker's sentence for an errno of either sign (broker_strerror())."""
    return str(_native.strerror(err))


def default_socket() -> Optional[str]:
    """The control socket Broker() connects to by default, or None if there is none."""
    return _native.default_socket()


def env_reason() -> Reason:
    """The reason brokerd gave in $BROKER_REASON when it started this process."""
    return Reason(_native.env_reason())   # libbroker gives only names it knows


# The public classes are socketbroker's (for pydoc, repr and pickle), not
# the private modules' that define them.
for _name in __all__:
    if isinstance(globals()[_name], type):
        globals()[_name].__module__ = __name__
del _name
