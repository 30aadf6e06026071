"""What a host's answer means for the terminal (pure).

An answer is trusted only if it decodes, is the response to THIS request (MTI + 10,
same STAN, terminal and amount) and, when it approves, its MAC verifies. Anything else
is "no answer" for the promise: the outcome is unknown and the terminal reverses.
"""

from __future__ import annotations

from dataclasses import dataclass

from kassa.errors import DecodeError
from kassa.guide import forces_sign_on, is_approved
from kassa.iso8583 import Message, codec, decode
from kassa.iso8583.framing import Frame, HeaderMode, split_body
from kassa.iso8583.keys import WorkingKeys
from kassa.iso8583.mac import verify_mac
from kassa.iso8583.transactions import response_mti
from kassa.terminal.states import Event


@dataclass(frozen=True, slots=True)
class Verdict:
    event: Event
    code: str | None = None  # F39 when an answer was trusted
    resign_on: bool = False
    reply: Message | None = None
    why: str = ""


def judge(request: Message, body: bytes, keys: WorkingKeys | None, mode: HeaderMode) -> Verdict:
    """Classify the frame body `body` received for `request`."""
    try:
        frame: Frame = split_body(body, mode)
        reply = decode(frame.message)
    except DecodeError as exc:
        return Verdict(Event.NO_ANSWER, why=f"broken response: {exc}")
    mismatch = _mismatch(request, reply)
    if mismatch:
        return Verdict(Event.NO_ANSWER, why=mismatch)
    code = reply.get(39) or ""
    resign = forces_sign_on(code) or bool(frame.header and frame.header.processing == "3")
    if not is_approved(code):
        return Verdict(Event.DECLINED, code, resign, reply)
    if request.mti in ("0100", "0200", "0220", "0400") and keys is not None:
        mac = reply.get(64)
        ok = mac is not None and verify_mac(
            keys.mak, codec.mac_input(frame.message), bytes.fromhex(mac)
        )
        if not ok:
            return Verdict(Event.MAC_BAD, code, True, reply, "approval with a bad MAC")
    return Verdict(Event.APPROVED, code, resign, reply)


def _mismatch(request: Message, reply: Message) -> str:
    if reply.mti != response_mti(request.mti):
        return f"answer MTI {reply.mti} does not answer {request.mti}"
    for number, name in ((11, "STAN"), (41, "terminal")):
        if number in request and reply.get(number) not in (None, request[number]):
            return f"answer {name} {reply.get(number)} is not ours ({request[number]})"
    if 4 in request and 4 in reply and reply[4] != request[4] and reply.get(39) != "10":
        return "answer amount differs from the request"
    return ""
