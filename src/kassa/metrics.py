"""Prometheus metrics of Kassa, in a registry of their own (never the process-global one).

    metrics = KassaMetrics(db)                           # db: the host database, or None
    metrics.authorisation("sale", "00", 0.042)           # the host core, per answer
    metrics.reversal("00"); metrics.risk_action("hold"); metrics.saf_depth("12345678", 3)
    body = metrics.render()                              # bytes for GET /metrics
    server = start_metrics_server(metrics, 9108)         # a tiny endpoint; server.shutdown()

Two kinds of figures:
- counted by the caller as things happen: authorisations by transaction type and result
  code, their latency, reversals by result, risk actions, and the store-and-forward depth
  of each terminal (a gauge the caller sets);
- read from the host database at each scrape with cheap indexed COUNT queries:
  settlements by state, open risk alerts, open reconciliation differences by kind and
  class, open problem records. A database that cannot answer (or lacks a table yet) only
  leaves those figures out, with ``kassa_scrape_errors_total`` counting it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from kassa.store import Database

__all__ = ["CONTENT_TYPE", "KassaMetrics", "start_metrics_server"]

log = logging.getLogger("kassa.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Authorisation latency at the host: a sale answers in milliseconds, a slow store in
# tenths of a second, a UnionPay timeout is 60 s.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_QUERIES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("kassa_settlements", "Terminal batch settlements at the host, by state.", ("status",),
     "SELECT status, COUNT(*) FROM settlements GROUP BY status"),
    ("kassa_risk_alerts_open", "Risk alerts waiting for review, by action.", ("action",),
     "SELECT action, COUNT(*) FROM risk_alerts WHERE review = 'open' GROUP BY action"),
    ("kassa_recon_differences_open", "Open reconciliation differences.", ("kind", "class"),
     "SELECT kind, class, COUNT(*) FROM recon_differences WHERE status = 'open'"
     " GROUP BY kind, class"),
    ("kassa_problems_open", "Open problem records, by kind.", ("kind",),
     "SELECT kind, COUNT(*) FROM problems WHERE status = 'open' GROUP BY kind"),
    ("kassa_saf_depth", "Store-and-forward depth each terminal last reported (0820/362).",
     ("tid",),
     "SELECT e.tid, CAST(e.code AS INTEGER) FROM events e WHERE e.kind = 'terminal_status'"
     " AND e.id = (SELECT MAX(x.id) FROM events x WHERE x.kind = 'terminal_status'"
     " AND x.tid = e.tid)"),
)  # fmt: skip


class _HostCollector(Collector):
    """Reads the host's figures from the database at each scrape."""

    def __init__(self, db: Database, errors: Counter) -> None:
        self.db = db
        self.errors = errors

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing at registration: the database is read at scrape only

    def collect(self) -> Iterator[Metric]:
        for name, documentation, labels, sql in _QUERIES:
            try:
                with self.db.transaction(write=False) as tx:
                    rows = tx.fetchall(sql)
            except Exception as exc:  # a table not there yet, the database away: skip it
                log.warning("metrics: %s not read: %s", name, exc)
                self.errors.labels(name).inc()
                continue
            family = GaugeMetricFamily(name, documentation, labels=list(labels))
            for row in rows:
                family.add_metric([str(v) for v in row[:-1]], float(row[-1]))
            yield family


class KassaMetrics:
    """The metrics of one process; share one instance (it is thread-safe)."""

    def __init__(self, db: Database | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.authorisations = Counter(
            "kassa_authorisations", "Card transactions answered, by type and response code.",
            ["txn_type", "code"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "kassa_authorisation_seconds", "Time from request to answer at the host.",
            ["txn_type"], buckets=LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.reversals = Counter("kassa_reversals", "Reversals (0400) answered, by code.",
                                 ["code"], registry=r)  # fmt: skip
        self.risk_actions = Counter("kassa_risk_actions", "Risk engine decisions, by action.",
                                    ["action"], registry=r)  # fmt: skip
        self.saf = Gauge("kassa_saf_depth", "Transactions waiting in store-and-forward.",
                         ["tid"], registry=r)  # fmt: skip
        self.scrape_errors = Counter("kassa_scrape_errors", "Database figures not read.",
                                     ["metric"], registry=r)  # fmt: skip
        if db is not None:
            r.register(_HostCollector(db, self.scrape_errors))

    def authorisation(self, txn_type: str, code: str, seconds: float) -> None:
        """One answered card transaction and how long it took."""
        self.authorisations.labels(txn_type, code).inc()
        self.latency.labels(txn_type).observe(max(seconds, 0.0))

    def reversal(self, code: str) -> None:
        self.reversals.labels(code).inc()

    def risk_action(self, action: str) -> None:
        self.risk_actions.labels(action).inc()

    def saf_depth(self, tid: str, depth: int) -> None:
        """The store-and-forward queue length of terminal ``tid``, as the caller knows it."""
        self.saf.labels(tid).set(depth)

    def render(self) -> bytes:
        """The text exposition format for ``GET /metrics`` (content type `CONTENT_TYPE`)."""
        return generate_latest(self.registry)


def start_metrics_server(metrics: KassaMetrics, port: int, addr: str = "127.0.0.1") -> WSGIServer:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread; ``shutdown()`` stops it.

    Bound to the loopback address unless told otherwise: metrics name terminals and
    merchants, so expose them beyond the host only on purpose. Port 0 picks a free port
    (``server.server_port`` says which).
    """
    server, _thread = start_http_server(port, addr, registry=metrics.registry)
    return server
