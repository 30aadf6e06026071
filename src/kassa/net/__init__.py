"""Network shells: the host's frame server, the terminal's link, an in-memory link.

Thin I/O around the pure cores: they move UnionPay frame bodies (reference §1) and arm
timers; they never decode a message.
"""

from kassa.net._base import (
    Attempt,
    BadFrame,
    ConnectFailed,
    ConnectionLost,
    ConnectReason,
    HostAddress,
    Link,
    LinkError,
    ResponseTimeout,
)
from kassa.net._channel import ProbeResult
from kassa.net.link import HostLink
from kassa.net.memory import Fault, FaultSchedule, MemoryLink, Step
from kassa.net.server import FrameServer

__all__ = [
    "Attempt",
    "BadFrame",
    "ConnectFailed",
    "ConnectReason",
    "ConnectionLost",
    "Fault",
    "FaultSchedule",
    "FrameServer",
    "HostAddress",
    "HostLink",
    "Link",
    "LinkError",
    "MemoryLink",
    "ProbeResult",
    "ResponseTimeout",
    "Step",
]
