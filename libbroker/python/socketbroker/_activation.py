# SPDX-License-Identifier: MIT
"""socketbroker.Activation and Handback: the app side of a wake-up."""
from __future__ import annotations

import errno
import os
import socket

TYPE_CHECKING = False   # typing is not imported at run time (see _types.py)
if TYPE_CHECKING:
    from typing import Iterable, Iterator, List, Optional

from . import _native
from ._errors import BrokerError
from ._types import AcceptResult, Kind, Reason, _member, _ms, _socket


class Handback:
    """One socket brokerd handed back (struct broker_handback).

    Until accept(), brokerd keeps its own copy; a Handback closed (or
    collected) without accept() is not acknowledged, and brokerd keeps the
    socket and activates the app again later.  Its facts stay readable
    after accept() and close().
    """

    __slots__ = ("_h", "app_id", "id", "kind", "reason", "keepalive_sec", "held_since_usec",
                 "serial", "context")

    def __init__(self, native: _native.Handback) -> None:
        self._h = native
        self.app_id: str = native.app_id
        self.id: str = native.id
        self.kind: Kind = _member(Kind, native.kind)
        self.reason: Reason = _member(Reason, native.reason)
        self.keepalive_sec: int = native.keepalive_sec
        self.held_since_usec: int = native.held_since_usec
        self.serial: int = native.serial
        self.context: bytes = native.context

    def __repr__(self) -> str:
        return f"<socketbroker.Handback {self.app_id}/{self.id} {self.kind} {self.reason}>"

    def __enter__(self) -> "Handback":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def accept(self) -> socket.socket:
        """Acknowledge: brokerd lets go, and the socket is the caller's
        (broker_handback_accept()), with the unread data still in it.
        If acknowledging fails (EPIPE: the activation is gone), brokerd
        keeps its copy and this Handback still holds the fd.  For many
        at once, Activation.accept_many()."""
        return _socket(self._h.accept())

    def close(self) -> None:
        """Free it (broker_handback_free()); an fd never accepted is closed."""
        self._h.close()


class Activation:
    """The connection over which brokerd hands sockets back (broker_activation).

    Activation() finds the "socket-broker" fd in LISTEN_FDS (BrokerError
    ENOENT if this process was not started by brokerd); Activation(fd) uses
    an fd (an int) got some other way, which it then owns.  Activation.open() is the
    first, returning None instead of raising ENOENT.  For an event loop,
    watch fileno() and call dispatch() when it is readable.
    """

    def __init__(self, fd: Optional[int] = None) -> None:
        self._a = _native.Activation(fd)

    @classmethod
    def _from_native(cls, native: _native.Activation) -> "Activation":
        """One made by libbroker already (Broker.attach())."""
        self = cls.__new__(cls)
        self._a = native
        return self

    @classmethod
    def open(cls) -> Optional["Activation"]:
        """The activation brokerd started this process with, or None."""
        try:
            return cls()
        except BrokerError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def __enter__(self) -> "Activation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close it; handbacks not yet accepted stay brokerd's."""
        self._a.close()

    def fileno(self) -> int:
        """An fd that is readable when brokerd has sent something (stable while open)."""
        return int(self._a.fileno())

    def receive(self, timeout: Optional[float] = None) -> Optional[Handback]:
        """The next handed-back socket, waiting up to timeout seconds (None:
        forever).  None once brokerd has sent everything pending (a batch
        end) or on timeout; BrokerError EPIPE when brokerd closed the
        activation and nothing is pending.  Signals do not cut the wait
        short (libbroker retries on EINTR): a program that must react to
        one gives a timeout, or waits on fileno() itself."""
        h = self._a.receive(_ms(timeout))
        return Handback(h) if h is not None else None

    def receive_many(self, timeout: Optional[float] = None, max: int = 253) -> List[Handback]:
        """The next handed-back sockets, up to max (>= 1), waiting up to
        timeout seconds as receive() does (broker_activation_receive_many()):
        those brokerd sent in one message (up to 253) come out together, for
        accept_many().  [] where receive() gives None; BrokerError EPIPE as
        receive()."""
        return [Handback(h) for h in self._a.receive_many(_ms(timeout), max)]

    def accept_many(self, handbacks: Iterable[Handback]) -> List[AcceptResult]:
        """Acknowledge many handbacks at once (broker_handback_accept_many()):
        one message to brokerd for up to 1024, where Handback.accept() sends
        one each.  One result per handback, in order: its socket, as
        accept() gives it (the Handback then holds no fd), or the BrokerError
        that its accept() would have raised, and then it still holds its fd
        and brokerd its copy: EPIPE if its Activation is closed (this one or
        the one it came on), EINVAL if it has no fd (accepted or closed
        already, or named earlier in the list).  Raises before anything is
        sent: TypeError for an item that is not a Handback, ValueError for
        one that came on another Activation that is still open (accept it
        there); RuntimeError while another thread uses this Activation."""
        hs = list(handbacks)
        for pos, h in enumerate(hs):
            if not isinstance(h, Handback):
                raise TypeError(f"accept_many: item {pos} is not a Handback")
        answers = self._a.accept_many([h._h for h in hs])
        out: List[AcceptResult] = []
        try:
            for h, r in zip(hs, answers):
                if r < 0:
                    e = BrokerError(-r, _native.strerror(r))
                    out.append(AcceptResult(id=h.id, error=e, message=e.strerror, sock=None))
                else:
                    out.append(AcceptResult(id=h.id, error=None, message="", sock=_socket(r)))
        except BaseException:
            # none could be returned: brokerd let go of them, so close them
            for r in answers[len(out) + 1:]:
                if r >= 0:
                    os.close(r)
            for res in out:
                if res.sock:
                    res.sock.close()
            raise
        return out

    def dispatch(self) -> List[Handback]:
        """Every handback that has arrived, without blocking."""
        return [Handback(h) for h in self._a.dispatch()]

    def handbacks(self, timeout: Optional[float] = 5.0) -> Iterator[Handback]:
        """Handbacks until a batch end, a timeout between two, or brokerd closing."""
        while True:
            try:
                h = self.receive(timeout)
            except BrokerError as e:
                if e.errno == errno.EPIPE:
                    return
                raise
            if h is None:
                return
            yield h

    def __iter__(self) -> Iterator[Handback]:
        return self.handbacks()
