"""Primary account numbers: Luhn check, validation, masking, and finding PANs in text.

Masking rule (PCI DSS v4 3.4.1 allows at most the first 6 and last 4 digits): a PAN of
n digits shows at most ``min(10, n - 6)`` digits, the last 4 first and then up to 6 from
the front. So a 16-digit PAN shows 6 + 4 (the PCI reference case, 6 hidden) and shorter
numbers hide at least as many digits as that case does: 13 digits show 3 + 4.

`mask_in_text` is what loggers and the leak scanner use. It treats every run of 13 or more
ASCII digits as suspect, because a PAN glued to other digits (an LL prefix and pad nibble
in a BCD hex dump, ``1962122640...4630``) is still a PAN. A run that is itself a Luhn-valid
13–19 digit number is masked with the rule above; in any other run every Luhn-valid 13–19
digit window is masked. After a masked PAN, a track-2 separator (``=`` or ``D``) and the
digits behind it (expiry, service code, discretionary data with the CVV) are masked too.
The price is that some long numbers that are not PANs (a 15-digit MID, a compact
timestamp) are now and then masked in logs; leaking a PAN costs more.
"""

from __future__ import annotations

import re

from kassa.errors import CardError

__all__ = ["find_pans", "luhn_digit", "luhn_ok", "mask_in_text", "mask_pan", "validate_pan"]

pan_digits_min = 13
pan_digits_max = 19
_shown_max = 10  # first 6 + last 4
_hidden_min = 6  # what a 16-digit PAN hides under first-6/last-4
_MASK = "*"

_DIGITS = re.compile(r"[0-9]+")
_RUN = re.compile(r"[0-9]{13,}")
_TRACK_TAIL = re.compile(r"[=Dd][0-9]*")
# Doubling a digit and adding the digits of the result, for the Luhn sum.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _is_ascii_digits(text: str) -> bool:
    return _DIGITS.fullmatch(text) is not None


def _luhn_sum(digits: str, check_digit_present: bool) -> int:
    total = 0
    # Counting from the right, the check digit is not doubled, the next one is.
    double = not check_digit_present
    for char in reversed(digits):
        value = ord(char) - 48
        total += _DOUBLED[value] if double else value
        double = not double
    return total


def luhn_ok(digits: str) -> bool:
    """True when `digits` is a non-empty ASCII digit string whose Luhn sum ends in 0."""
    if not _is_ascii_digits(digits):
        return False
    return _luhn_sum(digits, check_digit_present=True) % 10 == 0


def luhn_digit(partial: str) -> str:
    """The Luhn check digit to append to `partial` (ASCII digits, may be empty)."""
    if partial and not _is_ascii_digits(partial):
        raise CardError("Luhn check digit needs digits only, e.g. 621226400000189946")
    return str(-_luhn_sum(partial, check_digit_present=False) % 10)


def validate_pan(text: str) -> str:
    """Return the PAN in `text` as bare digits, or raise CardError saying what is wrong.

    Surrounding whitespace and the spaces of a PAN keyed in groups ("6212 2640 ...") are
    dropped. The message never repeats the digits, so it is safe to log.
    """
    digits = text.strip().replace(" ", "")
    if not digits:
        raise CardError("card number is empty; key the 13 to 19 digits on the card")
    if not _is_ascii_digits(digits):
        raise CardError("card number must be digits 0-9 only; key it as printed on the card")
    if not pan_digits_min <= len(digits) <= pan_digits_max:
        raise CardError(f"card number has {len(digits)} digits; a card number has 13 to 19 digits")
    if not luhn_ok(digits):
        raise CardError("card number check digit is wrong (Luhn); check the digits and re-key")
    return digits


def _shown_counts(length: int) -> tuple[int, int]:
    """How many leading and trailing characters a PAN of `length` digits may show."""
    shown = max(0, min(_shown_max, length - _hidden_min))
    last = min(4, shown)
    return shown - last, last


def mask_pan(pan: str) -> str:
    """`pan` with all but the allowed first/last digits replaced by ``*`` (same length).

    Total: any string is masked by position, so a display path never raises.
    """
    first, last = _shown_counts(len(pan))
    return pan[:first] + _MASK * (len(pan) - first - last) + pan[len(pan) - last :]


def _prefix_sums(run: str) -> tuple[list[int], list[int]]:
    """Luhn partial sums over `run`, one with odd positions doubled, one with even ones.

    A window whose last (check) digit sits at position e doubles the positions whose parity
    differs from e, so its Luhn sum is a difference of two entries of one of the lists.
    """
    odd_doubled = [0]
    even_doubled = [0]
    for index, char in enumerate(run):
        value = ord(char) - 48
        odd = index % 2 == 1
        odd_doubled.append(odd_doubled[-1] + (_DOUBLED[value] if odd else value))
        even_doubled.append(even_doubled[-1] + (value if odd else _DOUBLED[value]))
    return odd_doubled, even_doubled


def _luhn_windows(run: str) -> list[tuple[int, int]]:
    """(start, end) of every Luhn-valid window of 13–19 digits in the digit string `run`."""
    odd_doubled, even_doubled = _prefix_sums(run)
    found = []
    for start in range(len(run) - pan_digits_min + 1):
        for end in range(start + pan_digits_min, min(start + pan_digits_max, len(run)) + 1):
            sums = odd_doubled if (end - 1) % 2 == 0 else even_doubled
            if (sums[end] - sums[start]) % 10 == 0:
                found.append((start, end))
    return found


def _pan_spans(run: str) -> list[tuple[int, int]]:
    """The PAN candidates in one maximal digit run, as (start, end) offsets into it."""
    if len(run) <= pan_digits_max and luhn_ok(run):
        return [(0, len(run))]
    return _luhn_windows(run)


def _mask_run(run: str, spans: list[tuple[int, int]]) -> str:
    hidden = [False] * len(run)
    for start, end in spans:
        first, last = _shown_counts(end - start)
        for index in range(start + first, end - last):
            hidden[index] = True
    return "".join(_MASK if hide else char for char, hide in zip(run, hidden, strict=True))


def mask_in_text(text: str) -> str:
    """`text` with every PAN in it masked (see the module docstring for what counts)."""
    pieces: list[str] = []
    position = 0
    for match in _RUN.finditer(text):
        if match.start() < position:
            continue  # already consumed as the tail of a track 2
        spans = _pan_spans(match.group())
        if not spans:
            continue
        pieces.append(text[position : match.start()])
        pieces.append(_mask_run(match.group(), spans))
        position = match.end()
        if any(end == len(match.group()) for _, end in spans):
            tail = _TRACK_TAIL.match(text, position)
            if tail is not None and tail.end() > position + 1:
                pieces.append(tail.group()[0] + _MASK * (tail.end() - position - 1))
                position = tail.end()
    pieces.append(text[position:])
    return "".join(pieces)


def find_pans(text: str) -> list[str]:
    """Every PAN candidate in `text`, in order of appearance (same rule as `mask_in_text`)."""
    return [
        run.group()[start:end]
        for run in _RUN.finditer(text)
        for start, end in _pan_spans(run.group())
    ]
