"""Prometheus metrics: counters the host feeds, figures read from the database at scrape."""

from __future__ import annotations

import urllib.request

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from kassa.backoffice.recon import ensure_schema
from kassa.backoffice.recon_schema import Difference, record_run, store_differences
from kassa.host.schema import MIGRATIONS
from kassa.metrics import KassaMetrics, start_metrics_server
from kassa.store import connect, migrate


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counters_and_histogram_render() -> None:
    m = KassaMetrics()
    m.authorisation("sale", "00", 0.02)
    m.authorisation("sale", "00", 0.3)
    m.authorisation("sale", "51", 0.01)
    m.reversal("00")
    m.risk_action("hold")
    m.saf_depth("12345678", 3)
    m.saf_depth("12345678", 1)
    got = samples(m.render())
    assert got[("kassa_authorisations_total", (("code", "00"), ("txn_type", "sale")))] == 2
    assert got[("kassa_authorisations_total", (("code", "51"), ("txn_type", "sale")))] == 1
    assert got[("kassa_authorisation_seconds_count", (("txn_type", "sale"),))] == 3
    le_005 = (("le", "0.05"), ("txn_type", "sale"))
    assert got[("kassa_authorisation_seconds_bucket", le_005)] == 2
    assert got[("kassa_reversals_total", (("code", "00"),))] == 1
    assert got[("kassa_risk_actions_total", (("action", "hold"),))] == 1
    assert got[("kassa_saf_depth", (("tid", "12345678"),))] == 1
    # A registry of its own: nothing leaks into the process-global one.
    assert REGISTRY.get_sample_value("kassa_reversals_total", {"code": "00"}) is None


def test_figures_from_the_database(db_url: str) -> None:
    db = connect(db_url)
    try:
        migrate(db, "host", MIGRATIONS)
        m = KassaMetrics(db)
        m.render()  # no recon tables yet: left out, and counted (seen at the next scrape)
        missing = samples(m.render())
        assert ("kassa_scrape_errors_total", (("metric", "kassa_problems_open"),)) in missing
        ensure_schema(db)
        run_id = record_run(db, {}, None, None, 1, "ops01")
        diffs = [Difference(kind, klass, "terminal", "12345678", "000001", f"{n:06d}", None,
                            "sale", 1, 100, None, None, None, "x")
                 for n, (kind, klass) in enumerate([("missing_at_host", "mismatched"),
                                                    ("missing_at_host", "mismatched"),
                                                    ("missing_at_host", "expected")])]  # fmt: skip
        with db.transaction() as tx:
            store_differences(tx, run_id, diffs, lambda r: False, 1)
            tx.execute(
                "INSERT INTO settlements (tid, batch, status, terminal_totals, host_totals,"
                " result, settle_date, created_ms) VALUES ('12345678', '000001', 'closed', '',"
                " '', '11', '1118', 1)"
            )
        got = samples(m.render())
        key = "kassa_recon_differences_open"
        assert got[(key, (("class", "mismatched"), ("kind", "missing_at_host")))] == 2
        assert got[(key, (("class", "expected"), ("kind", "missing_at_host")))] == 1
        assert got[("kassa_settlements", (("status", "closed"),))] == 1
    finally:
        db.close()


def test_http_endpoint_serves_metrics() -> None:
    m = KassaMetrics()
    m.authorisation("refund", "00", 0.1)
    server = start_metrics_server(m, 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
    finally:
        server.shutdown()
        server.server_close()
    assert (
        samples(body)[("kassa_authorisations_total", (("code", "00"), ("txn_type", "refund")))] == 1
    )
