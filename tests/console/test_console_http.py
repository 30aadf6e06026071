"""The console over HTTP (httpx against uvicorn on loopback): login, sessions, CSRF,
roles, every page in both languages, searches, the API, and refusals as friendly pages."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_console_kit import (
    PAN,
    PASSWORD,
    World,
    build_world,
    client,
    csrf_of,
    login,
    running,
    serving,
    token,
)

from kassa import limits
from kassa.console.i18n import keys, text
from kassa.host import repo
from kassa.net.tls import make_self_signed

PAGES = (
    "/",
    "/txns",
    "/txns/2",
    "/terminals",
    "/settlement",
    "/recon",
    "/problems",
    "/risk",
    "/guide?q=51",
    "/audit",
    "/backups",
    "/users",
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running(tmp_path) as w:
        yield w


def audit_actions(world: World) -> list[tuple[str, str, str]]:
    with world.db.transaction(write=False) as tx:
        rows = tx.fetchall("SELECT actor, action, source FROM audit_log ORDER BY seq")
    return [(r[0], r[1], r[2]) for r in rows]


def test_every_page_renders_in_both_languages(world: World) -> None:
    admin = login(world, "adm01")
    for lang, word in (("zh", "交易查询"), ("en", "Transactions")):
        assert admin.get(f"/lang/{lang}").status_code == 303
        for path in PAGES:
            answer = admin.get(path)
            assert answer.status_code == 200, (lang, path, answer.text[-300:])
            assert word in answer.text, (lang, path)
    assert all(text(k, "zh") and text(k, "en") for k in keys())


def test_pages_need_a_login(world: World) -> None:
    anonymous = client(world)
    answer = anonymous.get("/txns?tid=12345678")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/txns"
    api = anonymous.get("/api/dashboard")
    assert (api.status_code, api.json()["error"]) == (401, "login required")


def test_login_cookie_is_httponly_and_strict(world: World) -> None:
    browser = client(world)
    first = browser.get("/login")
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain HTTP on loopback; Secure when served over TLS
    before = browser.cookies["kassa_session"]
    login(world, "view01", browser)
    assert browser.cookies["kassa_session"] != before  # a new token at login: no fixation
    assert "default-src 'self'" in browser.get("/").headers["content-security-policy"]


def test_over_tls_the_cookie_is_secure(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    cert, key = make_self_signed(tmp_path)
    try:
        with (
            serving(world.app, (cert, key)) as url,
            httpx.Client(
                base_url=url, verify=ssl.create_default_context(cafile=str(cert))
            ) as browser,
        ):
            answer = browser.get("/login")
            assert answer.status_code == 200
            assert "; secure" in answer.headers["set-cookie"].lower()
            assert answer.headers["strict-transport-security"].startswith("max-age=")
    finally:
        world.close()


def test_supervisor_needs_a_fresh_one_time_code(world: World) -> None:
    browser = client(world)
    page = browser.get("/login").text
    form = {"csrf": csrf_of(page), "operator_id": "sup01", "password": PASSWORD, "code": ""}
    asked = browser.post("/login", data=form)
    assert asked.status_code == 401 and "动态口令" in asked.text
    world.tick()
    code = world.code("sup01")
    assert browser.post("/login", data={**form, "code": code}).status_code == 303
    again = client(world)
    replay = {**form, "csrf": csrf_of(again.get("/login").text), "code": code}
    assert again.post("/login", data=replay).status_code == 401  # a code works once
    assert ("sup01", "login.ok", "console") in audit_actions(world)


def test_repeated_failures_lock_the_operator(world: World) -> None:
    browser = client(world)
    csrf = csrf_of(browser.get("/login").text)
    wrong = {"csrf": csrf, "operator_id": "ops01", "password": "Wrong-Pass-2026"}
    for _ in range(limits.operator_login_failures_max):
        assert browser.post("/login", data=wrong).status_code == 401
    refused = browser.post("/login", data={**wrong, "password": PASSWORD})
    assert refused.status_code == 401 and "锁定" in refused.text
    actions = [a for who, a, _ in audit_actions(world) if who == "ops01"]
    assert actions.count("login.failed") == limits.operator_login_failures_max - 1
    assert "login.locked" in actions


def test_session_ends_after_fifteen_idle_minutes(world: World) -> None:
    viewer = login(world, "view01")
    world.clock.advance(10 * 60_000)
    # The dashboard's polling keeps data flowing but is not activity.
    assert viewer.get("/api/dashboard", headers={"X-Kassa-Poll": "1"}).status_code == 200
    world.clock.advance(5 * 60_000)
    answer = viewer.get("/txns")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/txns&expired=1"
    assert "会话已超时" in viewer.get(answer.headers["location"]).text


def test_activity_keeps_the_session(world: World) -> None:
    viewer = login(world, "view01")
    for _ in range(3):
        world.clock.advance(10 * 60_000)
        assert viewer.get("/txns").status_code == 200


def test_a_form_without_the_session_token_is_refused(world: World) -> None:
    supervisor = login(world, "sup01")
    other = login(world, "sup02")
    for data in ({"csrf": "0" * 64, "note": "x"}, {"note": "x"}, {"csrf": token(other)}):
        refused = supervisor.post("/risk/1/release", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert client(world).post("/login", data={"operator_id": "sup01"}).status_code == 403
    with world.db.transaction(write=False) as tx:
        assert tx.fetchone("SELECT review FROM risk_alerts WHERE id = 1") == ("open",)


def test_roles_are_refused_what_they_may_not_do(world: World) -> None:
    viewer = login(world, "view01")
    refused = viewer.post("/risk/1/release", data={"csrf": token(viewer), "note": "mine"})
    assert refused.status_code == 403 and "无权操作" in refused.text
    assert viewer.get("/users").status_code == 403
    assert viewer.get("/settlement/2026-11-18/payout.csv").status_code == 403
    operator = login(world, "ops01")
    assert (
        operator.post("/recon/correction/1/approve", data={"csrf": token(operator)}).status_code
        == 403
    )
    supervisor = login(world, "sup01")
    assert supervisor.post("/backups/run", data={"csrf": token(supervisor)}).status_code == 403
    with world.db.transaction(write=False) as tx:
        assert tx.fetchone("SELECT review FROM risk_alerts WHERE id = 1") == ("open",)


def test_supervisor_releases_and_declines_held_transactions(world: World) -> None:
    supervisor = login(world, "sup01")
    done = supervisor.post(
        "/risk/1/decline", data={"csrf": token(supervisor), "note": "cardholder denies"}
    )
    assert done.status_code == 303
    with world.db.transaction(write=False) as tx:
        assert tx.fetchone("SELECT review, reviewed_by FROM risk_alerts WHERE id = 1") == (
            "declined",
            "sup01",
        )
        problem = tx.fetchone("SELECT refs, opened_by FROM problems")
    assert problem is not None and world.rrns[4] in problem[0] and problem[1] == "sup01"
    again = supervisor.post("/risk/1/release", data={"csrf": token(supervisor)})
    assert again.status_code == 400 and "cannot be released" in again.text
    assert ("sup01", "risk.declined", "console") in audit_actions(world)


def test_transaction_search(world: World) -> None:
    viewer = login(world, "view01")

    def found(query: str) -> httpx.Response:
        return viewer.get("/api/txns?" + query)

    assert found("last4=9463").json()["count"] == 6  # five sales and the wrong PIN
    assert [t["amount"] for t in found("amount=40.00").json()["txns"]] == ["40.00"]
    assert found("status=declined").json()["count"] == 3
    assert found("day_from=2026-11-19").json()["count"] == 0
    assert found(f"rrn={world.rrns[0]}").json()["txns"][0]["amount_fen"] == 10_000
    page = viewer.get("/txns?last4=94x3")
    assert page.status_code == 400 and "4 digits" in page.text and 'name="last4"' in page.text


def test_no_full_card_number_on_any_page(world: World) -> None:
    admin = login(world, "adm01")
    listing = admin.get("/txns").text
    assert PAN not in listing and PAN[:6] + "*********" + PAN[-4:] in listing
    ids = [t["id"] for t in admin.get("/api/txns").json()["txns"]]
    assert len(ids) >= 8
    for txn_id in ids:
        page = admin.get(f"/txns/{txn_id}")
        assert page.status_code == 200 and PAN not in page.text
        assert PAN not in admin.get(f"/api/txns/{txn_id}").text


def test_dashboard_api_counts_the_day(world: World) -> None:
    doc = login(world, "view01").get("/api/dashboard").json()
    approved = sum(m["approved"] for m in doc["per_minute"])
    declined = sum(m["declined"] for m in doc["per_minute"])
    assert (approved, declined) == (5, 3)
    assert {r["code"] for r in doc["decline_reasons"]} >= {"55"}
    assert (doc["terminals_online"], doc["held_open"]) == (1, 1)
    assert doc["charts"]["minutes"].startswith("<svg")
    spec = client(world).get("/api/openapi.json").json()
    assert {"/api/dashboard", "/api/txns", "/api/txns/{txn_id}"} <= set(spec["paths"])


def test_friendly_refusals(world: World) -> None:
    viewer = login(world, "view01")
    missing = viewer.get("/no/such/page")
    assert (
        missing.status_code == 404 and "找不到" in missing.text and "Traceback" not in missing.text
    )
    assert viewer.get("/txns/99999").status_code == 404
    bad = viewer.get("/txns/notanumber")
    assert bad.status_code == 400 and "Traceback" not in bad.text
    assert viewer.get("/api/txns/99999").json()["error"] == "Not found"


def test_admin_adds_a_user_who_must_change_the_password(world: World) -> None:
    admin = login(world, "adm01")
    weak = admin.post(
        "/users",
        data={
            "csrf": token(admin),
            "operator_id": "new01",
            "role": "operator",
            "password": "short",
        },
    )
    assert weak.status_code == 400 and "12" in weak.text
    made = admin.post(
        "/users",
        data={
            "csrf": token(admin),
            "operator_id": "new01",
            "role": "operator",
            "password": "Temp-Pass-2026",
        },
    )
    assert made.status_code == 200
    browser = client(world)
    csrf = csrf_of(browser.get("/login").text)
    first = browser.post(
        "/login", data={"csrf": csrf, "operator_id": "new01", "password": "Temp-Pass-2026"}
    )
    assert first.headers["location"] == "/password"
    assert browser.get("/txns").headers["location"].startswith("/login?next=/password")
    changed = browser.post(
        "/password",
        data={
            "csrf": token(browser, "/password"),
            "old": "Temp-Pass-2026",
            "new": "Mine-Pass-2026x",
            "again": "Mine-Pass-2026x",
        },
    )
    assert changed.status_code == 303
    assert browser.get("/txns").status_code == 200
    actions = audit_actions(world)
    assert ("adm01", "user.add", "console") in actions
    assert ("new01", "password.change", "console") in actions


def test_terminals_show_what_the_host_knows(world: World) -> None:
    with world.db.transaction() as tx:
        repo.log_event(tx, world.clock.now_ms(), "12345678", "terminal_faults", None,
                       "printer_paper_out x2")  # fmt: skip
    viewer = login(world, "view01")
    assert "printer_paper_out x2" in viewer.get("/terminals").text
    [terminal] = viewer.get("/api/terminals").json()["terminals"]
    assert (terminal["tid"], terminal["online"], terminal["batch"]) == ("12345678", True, "000001")
    world.clock.advance(11 * 60_000)  # quiet for longer than the online window
    assert login(world, "view01").get("/api/terminals").json()["terminals"][0]["online"] is False


def test_metrics_for_the_local_machine(world: World) -> None:
    answer = client(world).get("/metrics")
    assert answer.status_code == 200
    assert "kassa_settlements" in answer.text or "kassa_scrape_errors_total" in answer.text
