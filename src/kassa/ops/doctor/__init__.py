"""`kassa doctor`: network, clock, keys, queues, printer, disk and journal checks for a
terminal; database, schema, ledger and terminals for a host. Each warning or failure
names its operator-guide entry. See `checks` for severities and exit statuses."""

from __future__ import annotations

from kassa.ops.doctor.checks import (
    EXIT_FAILURES,
    EXIT_OK,
    EXIT_WARNINGS,
    Check,
    EchoFacts,
    Severity,
    exit_status,
)
from kassa.ops.doctor.report import render_json, render_text
from kassa.ops.doctor.run import DoctorReport, doctor, examine_terminal, parse_ntp

__all__ = [
    "EXIT_FAILURES",
    "EXIT_OK",
    "EXIT_WARNINGS",
    "Check",
    "DoctorReport",
    "EchoFacts",
    "Severity",
    "doctor",
    "examine_terminal",
    "exit_status",
    "parse_ntp",
    "render_json",
    "render_text",
]
