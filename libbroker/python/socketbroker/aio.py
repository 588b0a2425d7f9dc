# SPDX-License-Identifier: MIT
"""asyncio helpers for socketbroker.

Activation.fileno() and Broker.fileno() are ordinary fds, so a loop can
watch them with loop.add_reader(); these helpers do that for the two
streams an app waits on.  The other Broker verbs are short request-answer
exchanges with brokerd: call them directly, or through asyncio.to_thread()
(they release the GIL) if a slow brokerd must not stall the loop, as a
server's transfer_many() or claim_all() of thousands of connections
should::

    results = await asyncio.to_thread(broker.claim_all)

    async for h in socketbroker.aio.handbacks(activation):
        with h:
            reader, writer = await asyncio.open_connection(sock=h.accept())
            ...
"""
from __future__ import annotations

import asyncio
import errno
from typing import AsyncIterator, Optional, Union

from ._activation import Activation, Handback
from ._client import Broker
from ._errors import BrokerError
from ._types import Event

__all__ = ["handbacks", "events", "wait_readable"]


async def wait_readable(fileobj: Union[int, Activation, Broker]) -> None:
    """Return once fileobj (an fd, or anything with fileno()) is readable."""
    loop = asyncio.get_running_loop()
    fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)
    loop.add_reader(fd, readable)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def handbacks(activation: Activation, idle: Optional[float] = None) -> AsyncIterator[Handback]:
    """Every socket brokerd hands back over activation, as it comes, also
    for later wake-ups of the running app.  Ends when brokerd closes the
    activation, or when nothing has come for idle seconds (None: never)."""
    while True:
        try:
            ready = activation.dispatch()
        except BrokerError as e:
            if e.errno == errno.EPIPE:
                return
            raise
        for h in ready:
            yield h
        if not ready:
            try:
                await asyncio.wait_for(wait_readable(activation), idle)
            except asyncio.TimeoutError:
                return


async def events(broker: Broker) -> AsyncIterator[Event]:
    """Monitor events on broker (monitor() is called first); ends when brokerd
    closes the connection."""
    broker.monitor()
    while True:
        try:
            ev = broker.next_event(0)
        except BrokerError as e:
            if e.errno == errno.EPIPE:
                return
            raise
        if ev is None:
            await wait_readable(broker)
        else:
            yield ev
