# SPDX-License-Identifier: MIT
"""socketbroker's exception; kept apart so that the native module can raise it."""


class BrokerError(OSError):
    """A libbroker call failed.

    ``errno`` is the error as libbroker returned it (positive, as in OSError),
    ``strerror`` is libbroker's sentence for it (broker_strerror()), and
    ``detail`` is brokerd's own words for it, when it gave any
    (broker_last_message(): for example, which capability a manifest lacks),
    else "".  Check ``errno`` against the ``errno`` module: the errors each
    call can raise are listed in libbroker(3) and include/socket-broker/broker.h.
    """

    def __init__(self, errno: int, strerror: str, detail: str = "") -> None:
        super().__init__(errno, strerror)
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.strerror}: {self.detail}" if self.detail else str(self.strerror)

    def __reduce__(self) -> "tuple[object, ...]":
        return (type(self), (self.errno, self.strerror, self.detail))


BrokerError.__module__ = "socketbroker"   # where users import it from
