# SPDX-License-Identifier: MIT
"""broker.h's enums and structs as Python types; values from the native module."""
from __future__ import annotations

import enum
import math
import os
import socket

from . import _native
from ._errors import BrokerError

# typing and dataclasses are not imported at run time: a woken app pays
# every import on every activation, and these two cost more than the rest
# of the package (python3 -X importtime).  Annotations are strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

ID_MAX: int = _native.ID_MAX            #: protocol ceiling for app and socket ids
CONTEXT_MAX: int = _native.CONTEXT_MAX  #: brokerd's default context cap (configurable)
DEFAULT_TIMEOUT: float = _native.DEFAULT_TIMEOUT_MS / 1000  #: seconds a Broker call waits for brokerd
NO_STORE: int = _native.NO_STORE        #: Status.stored when brokerd runs without systemd's fd store


class _Named(enum.IntEnum):
    """An enum of broker.h; str() is libbroker's name for it ("socket-activity")."""

    def __str__(self) -> str:
        return str(_NAMES[type(self)](int(self)))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    @classmethod
    def from_name(cls, name: str) -> Any:
        """The member whose name, as libbroker writes it, is name; ValueError if none."""
        for member in cls:
            if str(member) == name:
                return member
        raise ValueError(f"{name!r} is not a {cls.__name__}")


class Kind(_Named):
    """What a held socket is (enum broker_kind)."""
    NONE = _native.KIND_NONE
    STREAM = _native.KIND_STREAM          #: connected SOCK_STREAM or SOCK_SEQPACKET
    DATAGRAM = _native.KIND_DATAGRAM      #: SOCK_DGRAM
    LISTENER = _native.KIND_LISTENER      #: listening SOCK_STREAM or SOCK_SEQPACKET


class Reason(_Named):
    """Why an app was woken (enum broker_reason)."""
    NONE = _native.REASON_NONE
    SOCKET_ACTIVITY = _native.REASON_SOCKET_ACTIVITY          #: data queued
    CONNECTION_ACCEPTED = _native.REASON_CONNECTION_ACCEPTED  #: a listener has a connection
    SOCKET_CLOSED = _native.REASON_SOCKET_CLOSED              #: the peer closed, or an error
    KEEPALIVE_EXPIRED = _native.REASON_KEEPALIVE_EXPIRED      #: quiet for the keep-alive
    ADMIN_TRIGGER = _native.REASON_ADMIN_TRIGGER              #: `brokerctl trigger`


class State(_Named):
    """Where a held socket is in its cycle (enum broker_state)."""
    WATCHING = _native.STATE_WATCHING
    TRIGGERED = _native.STATE_TRIGGERED
    HANDING_BACK = _native.STATE_HANDING_BACK
    LENT = _native.STATE_LENT


class AppState(_Named):
    """An app's activation state as brokerd sees it (enum broker_app_state)."""
    IDLE = _native.APP_IDLE
    STARTING = _native.APP_STARTING
    RUNNING = _native.APP_RUNNING
    BACKOFF = _native.APP_BACKOFF
    THROTTLED = _native.APP_THROTTLED
    ATTACHED = _native.APP_ATTACHED


class EventType(_Named):
    """What a monitor event reports (enum broker_event_type)."""
    TRANSFER = _native.EVENT_TRANSFER
    TRIGGER = _native.EVENT_TRIGGER
    ACTIVATE = _native.EVENT_ACTIVATE
    HANDBACK = _native.EVENT_HANDBACK
    ACK = _native.EVENT_ACK
    CLAIM = _native.EVENT_CLAIM
    DROP = _native.EVENT_DROP
    FAILURE = _native.EVENT_FAILURE
    EXIT = _native.EVENT_EXIT
    RELOAD = _native.EVENT_RELOAD
    THROTTLED = _native.EVENT_THROTTLED
    ATTACH = _native.EVENT_ATTACH
    THAW = _native.EVENT_THAW


_NAMES = {
    Kind: _native.kind_name, Reason: _native.reason_name, State: _native.state_name,
    AppState: _native.app_state_name, EventType: _native.event_name,
}


def _member(enum_type: Any, value: int) -> Any:
    """An enum member, or the plain int for a value newer than this module."""
    try:
        return enum_type(value)
    except ValueError:
        return value


class _Record:
    """Read-only facts, given by keyword: the fields are the class's
    annotations, in order (what a frozen dataclass would make)."""

    def __init__(self, **fields: Any) -> None:
        names = type(self).__annotations__
        if fields.keys() != names.keys():
            raise TypeError(f"{type(self).__name__}: fields {sorted(fields)} are not {list(names)}")
        self.__dict__.update((n, fields[n]) for n in names)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash(tuple(vars(self).values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class SocketInfo(_Record):
    """What brokerd knows about one held socket (struct broker_info)."""
    app_id: str
    id: str
    kind: Kind
    state: State
    last_reason: Reason          #: Reason.NONE if never triggered
    keepalive_sec: int
    owner_uid: int               #: the uid that transferred it
    family: int                  #: socket.AddressFamily where known
    sotype: int                  #: socket.SocketKind where known
    held_since_usec: int         #: CLOCK_REALTIME, microseconds
    last_trigger_usec: int       #: CLOCK_REALTIME, 0 = never
    serial: int                  #: unique per transfer, grows
    context: bytes
    local: str                   #: local address as text, "" if none
    peer: str                    #: peer address as text, "" if none

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "SocketInfo":
        return cls(**{**d, "kind": _member(Kind, d["kind"]), "state": _member(State, d["state"]),
                      "last_reason": _member(Reason, d["last_reason"]),
                      "family": _member(socket.AddressFamily, d["family"]),
                      "sotype": _member(socket.SocketKind, d["sotype"])})


class Status(_Record):
    """Broker-wide counters (struct broker_status)."""
    apps: int
    held: int
    watching: int
    triggered: int
    handing_back: int
    clients: int
    running: int
    max_held: int
    max_held_per_app: int
    pid: int
    uptime_usec: int
    triggers_total: int
    activations_total: int
    handbacks_total: int
    stored: int                  #: held sockets in systemd's fd store, NO_STORE without one
    store_lost: int              #: stored fds the manager dropped (brokerd stored them again)
    attached: int                #: apps with an attached instance
    thaws_total: int             #: suspended instances thawed before a delivery
    thaws_held: int              #: deliveries held for a suspended instance brokerd might not thaw
    version: str
    socket_path: str


class AppInfo(_Record):
    """An app brokerd knows (struct broker_app)."""
    id: str
    user: str
    unit: str                    #: "" if none
    activation: str              #: "exec" or "wake-socket"
    handoff: str                 #: "libbroker", "listen-fds" or "inetd"
    target: str                  #: command line or wake socket path
    capabilities: str            #: space-separated
    uid: int
    held: int
    max_sockets: int
    failures: int
    pid: int                     #: broker-started instance, 0 = none
    state: AppState
    retry_usec: int              #: CLOCK_REALTIME of the next retry, 0 = none
    processes: Tuple[Tuple[int, str], ...]   #: (pid, comm) of every process of its instance


class Event(_Record):
    """One event of Broker.monitor() (struct broker_event)."""
    type: EventType
    reason: Reason
    kind: Kind
    error: int                   #: negative errno, 0 if none
    pid: int
    time_usec: int               #: CLOCK_REALTIME
    app_id: str
    id: str
    detail: str


def _result_error(d: Dict[str, Any]) -> Optional[BrokerError]:
    """A bulk result's error as BrokerError (as a call of its own would
    raise it), or None: detail is the message, unless that only repeats
    libbroker's sentence."""
    if not d["error"]:
        return None
    sentence = str(_native.strerror(d["error"]))
    return BrokerError(-d["error"], sentence, "" if d["message"] == sentence else d["message"])


class _Result(_Record):
    """One socket's outcome in a bulk call (struct broker_result)."""
    error: Optional[BrokerError]

    @property
    def ok(self) -> bool:
        """Whether brokerd did it for this socket (error is None)."""
        return self.error is None


class TransferResult(_Result):
    """One socket's outcome in Broker.transfer_many() (struct broker_result)."""
    id: str
    error: Optional[BrokerError]   #: None: brokerd holds it; else why not, and the socket is still yours
    message: str                   #: on error, brokerd's or libbroker's sentence; else ""

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "TransferResult":
        return cls(id=d["id"], error=_result_error(d), message=d["message"])


class ClaimResult(_Result):
    """One socket's outcome in Broker.claim_many() and claim_all() (struct broker_result)."""
    id: str
    error: Optional[BrokerError]   #: None: the socket is yours; else why not
    message: str                   #: on error, brokerd's or libbroker's sentence; else ""
    sock: Optional[socket.socket]  #: on success the socket, brokerd no longer holds it; else None
    info: Optional[SocketInfo]     #: on success its info, local and peer "" (ask sock); else None


class AcceptResult(_Result):
    """One handback's outcome in Activation.accept_many() (an fd or an
    errno of broker_handback_accept_many())."""
    id: str                        #: the handback's socket id
    error: Optional[BrokerError]   #: None: the socket is yours; else why not, and the Handback still holds it
    message: str                   #: on error, libbroker's sentence; else ""
    sock: Optional[socket.socket]  #: on success the socket, brokerd no longer holds it; else None


def _ms(timeout: Optional[float]) -> int:
    """Seconds (None: forever) as libbroker's timeout_ms."""
    return -1 if timeout is None else max(0, math.ceil(timeout * 1000))


def _socket(fd: int) -> socket.socket:
    """fd, which is ours, as a socket object (closed if that fails)."""
    try:
        return socket.socket(fileno=fd)
    except BaseException:
        os.close(fd)
        raise
