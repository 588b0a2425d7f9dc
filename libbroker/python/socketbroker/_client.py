# SPDX-License-Identifier: MIT
"""socketbroker.Broker: a control connection to brokerd (broker * in C)."""
from __future__ import annotations

import errno
import os
import socket
import sys

TYPE_CHECKING = False   # typing is not imported at run time (see _types.py)
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from . import _native
from ._activation import Activation
from ._errors import BrokerError
from ._types import (DEFAULT_TIMEOUT, AppInfo, AppState, ClaimResult, Event, EventType, Kind, Reason, SocketInfo, Status,
                     TransferResult, _member, _ms, _result_error, _socket)

if TYPE_CHECKING:
    PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]", None]
    SockArg = Union[socket.socket, int]
    #: transfer()'s arguments: (id, sock), (id, sock, context) or (id, sock, context, keepalive)
    TransferItem = Union[Tuple[str, SockArg], Tuple[str, SockArg, bytes], Tuple[str, SockArg, bytes, int]]


def _tls_error(sock: Any) -> Optional[BrokerError]:
    """A TLS session in this process cannot travel with its socket (as broker_fd_guard())."""
    ssl = sys.modules.get("ssl")
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        return BrokerError(errno.EBADFD, _native.strerror(-errno.EBADFD),
                           "an ssl.SSLSocket keeps its TLS session in this process")
    return None


def _refuse_tls(sock: Any) -> None:
    e = _tls_error(sock)
    if e:
        raise e


def _transfer_item(pos: int, item: Any) -> Tuple[str, Any, bytes, int]:
    """(id, sock[, context[, keepalive]]) with the defaults filled in."""
    if not isinstance(item, tuple) or not 2 <= len(item) <= 4:
        raise TypeError(f"transfer_many: item {pos} is not (id, sock[, context[, keepalive]])")
    id, sock, context, keepalive = item + (b"", 0)[len(item) - 2:]
    if not isinstance(sock, int) and not hasattr(sock, "fileno"):
        raise TypeError(f"transfer_many: item {pos}'s sock is neither a socket nor an fd")
    return id, sock, context, keepalive


def _claimed(results: List[Dict[str, Any]]) -> List[ClaimResult]:
    """claim_many()'s results with a socket object for each fd; if one
    cannot be made, every socket is closed (none could be returned)."""
    out: List[ClaimResult] = []
    try:
        for d in results:
            info = SocketInfo._from(d["info"]) if d["info"] else None
            sock = _socket(d.pop("fd")) if d["error"] == 0 else None
            out.append(ClaimResult(id=d["id"], error=_result_error(d), message=d["message"], sock=sock, info=info))
    except BaseException:
        for d in results[len(out):]:
            if d.get("fd", -1) >= 0:
                os.close(d["fd"])
        for r in out:
            if r.sock:
                r.sock.close()
        raise
    return out


class Broker:
    """A connection to brokerd's control socket (broker_open_app()).

    path: the socket; None means $BROKER_SOCKET, else the default
    (socketbroker.default_socket()).  timeout: seconds each call waits for
    brokerd (to connect, to send, for the answer; None: forever), after
    which it fails with ETIMEDOUT.  app_id: register as that app in the
    hello (broker_open_app(): one round trip where open and register()
    take two).  Blocking calls release the GIL; one
    Broker serves one thread at a time (another gets RuntimeError).  Use it
    as a context manager, or call close().
    """

    def __init__(self, path: PathArg = None, timeout: Optional[float] = DEFAULT_TIMEOUT,
                 app_id: Optional[str] = None) -> None:
        self._b = _native.Broker(path, _ms(timeout), app_id)

    def set_timeout(self, timeout: Optional[float]) -> None:
        """Change the timeout of the calls that follow (broker_set_timeout()).
        A call that timed out may still have been done by brokerd."""
        self._b.set_timeout(_ms(timeout))

    def __enter__(self) -> "Broker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<socketbroker.Broker {'closed' if self.closed else f'fd={self.fileno()}'}>"

    def close(self) -> None:
        """Close the connection (broker_close()); safe to call twice."""
        self._b.close()

    @property
    def closed(self) -> bool:
        return bool(self._b.closed)

    def fileno(self) -> int:
        """The connection's fd, to watch for readability after monitor() (broker_get_fd())."""
        return int(self._b.fileno())

    @property
    def last_message(self) -> str:
        """brokerd's own words for the last error on this connection, or "" (broker_last_message())."""
        return str(self._b.last_message)

    @property
    def peer_uid(self) -> Optional[int]:
        """The uid brokerd saw for this connection."""
        return self._b.peer_uid

    @property
    def is_admin(self) -> bool:
        """Whether brokerd granted this connection the admin verbs."""
        return bool(self._b.is_admin)

    def register(self, app_id: str) -> None:
        """Act as app_id from now on (broker_register()).

        ENOENT: no such app, or none this user may act as; EPERM: wrong unit,
        or an admin who may see the app but not act as it; EALREADY."""
        self._b.register(app_id)

    def attach(self) -> Activation:
        """Attach this running process as the registered app's instance
        (broker_attach()): brokerd delivers the app's triggers over the
        returned Activation instead of starting the app, until it is closed
        or the process exits; closing this Broker does not end it.

        EBUSY: the app has an instance connected already; EOPNOTSUPP: its
        hand-off is not libbroker; the errors of register()."""
        return Activation._from_native(self._b.attach())

    def transfer(self, id: str, sock: Union[socket.socket, int], context: bytes = b"",
                 keepalive: int = 0) -> None:
        """Hand sock to brokerd under id (broker_transfer()).

        context: opaque bytes brokerd gives back with the socket (4 KiB by
        default); keepalive: seconds of quiet after which the app is woken
        with Reason.KEEPALIVE_EXPIRED (0: none; listeners take none).  An id
        that is already held is replaced.  A socket object is closed once
        brokerd holds it and left alone if the transfer fails; a plain fd
        follows the C rule (closed on success, still yours on failure).
        An ssl.SSLSocket is refused (EBADFD): its TLS state cannot move."""
        if isinstance(sock, int):
            self._b.transfer(id, sock, context, keepalive)
            return
        _refuse_tls(sock)
        # A copy goes, so that the socket object never names a closed fd.
        fd = os.dup(sock.fileno())
        try:
            self._b.transfer(id, fd, context, keepalive)
        except BaseException:
            os.close(fd)
            raise
        sock.close()

    def transfer_many(self, items: Iterable[TransferItem]) -> List[TransferResult]:
        """Hand many sockets to brokerd at once (broker_transfer_many()):
        each item is transfer()'s arguments as a tuple, (id, sock[,
        context[, keepalive]]), and up to 253 travel in one message.

        One result per item, in order; each socket is checked as transfer()
        checks it and fails alone.  A result whose error is None: brokerd
        holds the socket, and it was closed here as transfer() closes it.
        Any other result carries the BrokerError that transfer() would have
        raised (ENOTSOCK, EBADF, EACCES, E2BIG, ...), and that socket or fd
        is still the caller's and open.  If the connection fails partway,
        the items brokerd had not answered get its error (ETIMEDOUT: brokerd
        may have taken them anyway; keep the socket, transfer it again).
        Raises only before anything is sent: TypeError for a malformed item,
        BrokerError EINVAL or ENOMEM; then every socket is still yours."""
        items = list(items)
        refused: Dict[int, TransferResult] = {}
        sent: List[Tuple[int, Any, int]] = []   # (position, socket object or None, fd sent)
        native: List[Tuple[str, int, bytes, int]] = []
        try:
            for pos, item in enumerate(items):
                id, sock, context, keepalive = _transfer_item(pos, item)
                fd: int
                if isinstance(sock, int):
                    fd, sock = sock, None
                elif (tls := _tls_error(sock)) is not None:
                    refused[pos] = TransferResult(id=id, error=tls, message=tls.detail)
                    continue
                else:
                    # a copy goes, as in transfer(); a closed socket's -1 gets libbroker's EINVAL
                    fd = sock.fileno()
                    fd = os.dup(fd) if fd >= 0 else fd
                sent.append((pos, sock, fd))
                native.append((id, fd, context, keepalive))
            answers = self._b.transfer_many(native)
        except MemoryError:
            raise   # perhaps after brokerd answered: leave the copies rather than close one twice
        except BaseException:
            for _, sock, fd in sent:
                if sock is not None and fd >= 0:
                    os.close(fd)
            raise
        results = dict(refused)
        for (pos, sock, fd), d in zip(sent, answers):
            results[pos] = TransferResult._from(d)
            if sock is not None and d["error"] == 0:
                sock.close()              # libbroker closed the copy
            elif sock is not None and fd >= 0:
                os.close(fd)              # the copy; the socket is still the caller's
        return [results[pos] for pos in range(len(items))]

    def claim_many(self, ids: Iterable[str]) -> List[ClaimResult]:
        """Take back the held sockets named by ids (broker_claim_many()), up
        to 253 a message: one result per id, in order.  Each success has
        the socket and its info, as claim() gives them (brokerd forgets
        it); each failure its BrokerError: ENOENT (no such socket, or named
        twice: the first took it), EBUSY (being handed back or lent).  If
        the connection fails partway, the ids not answered get its error.
        Raises for the call itself: EDESTADDRREQ (not registered), EPERM,
        EOPNOTSUPP (a brokerd without the bulk verbs), TypeError."""
        if isinstance(ids, (str, bytes)):
            raise TypeError("claim_many() takes a list of ids, not one")
        return _claimed(self._b.claim_many(list(ids)))

    def claim_all(self) -> List[ClaimResult]:
        """Take back every socket the registered app holds, in the order
        they were transferred (broker_claim_many() with no ids): a server's
        next version takes over its predecessor's connections.  A socket
        brokerd cannot give (EBUSY) gets a result with its error and stays
        held; if the connection fails partway, a last result with id ""
        carries the error.  Raises as claim_many() does."""
        return _claimed(self._b.claim_many(None))

    def list(self, app_id: Optional[str] = None) -> List[SocketInfo]:
        """Held sockets (broker_list()): this connection's app, or app_id's."""
        return [SocketInfo._from(d) for d in self._b.list(app_id)]

    def all_sockets(self) -> Dict[str, SocketInfo]:
        """The registered app's held sockets by id (the original's AllSockets)."""
        return {i.id: i for i in self.list()}

    def show(self, id: str, app_id: Optional[str] = None) -> SocketInfo:
        """One held socket (broker_show())."""
        return SocketInfo._from(self._b.show(id, app_id))

    def claim(self, id: str) -> Tuple[socket.socket, SocketInfo]:
        """Take a held socket back (broker_claim()): brokerd stops watching it
        and forgets it.  Its info's local and peer are "" (ask the socket).
        ENOENT; EBUSY while it is being handed back or lent."""
        fd, d = self._b.claim(id)
        return _socket(fd), SocketInfo._from(d)

    def status(self) -> Status:
        """Broker-wide counters (broker_get_status())."""
        return Status(**self._b.status())

    def apps(self) -> List[AppInfo]:
        """Apps brokerd knows: all for an admin, else those this user may act as."""
        return [AppInfo(**{**d, "state": _member(AppState, d["state"])}) for d in self._b.apps()]

    def trigger(self, app_id: str, id: str) -> None:
        """Admin: wake app_id for id as if something had happened (Reason.ADMIN_TRIGGER)."""
        self._b.trigger(app_id, id)

    def drop(self, app_id: str, id: str) -> None:
        """Admin: close a held socket and forget it."""
        self._b.drop(app_id, id)

    def reload(self) -> None:
        """Admin: reread brokerd.conf's apps directory."""
        self._b.reload()

    def monitor(self) -> None:
        """From now on this connection carries only events: see next_event()."""
        self._b.monitor()

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next monitor event, or None if none came within timeout seconds
        (None: wait; signals do not cut it short).  EPIPE when brokerd
        closed the connection."""
        d = self._b.next_event(_ms(timeout))
        if d is None:
            return None
        return Event(**{**d, "type": _member(EventType, d["type"]), "reason": _member(Reason, d["reason"]),
                        "kind": _member(Kind, d["kind"])})
