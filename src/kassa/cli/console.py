"""`kassa console`: serve the merchant console (the back office in a browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kassa.errors import ConfigError
from kassa.home import kassa_home
from kassa.host.runtime import open_host, parse_listen


def console(
    db: Annotated[
        str | None, typer.Option("--db", help="sqlite:///path/host.db or postgresql://user@host/db")
    ] = None,
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to listen on")
    ] = "127.0.0.1:8080",
    home: Annotated[
        Path | None, typer.Option("--home", help="Kassa home (default $KASSA_HOME)")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key")] = None,
) -> None:
    """Serve the merchant console over HTTP (HTTPS with --tls-cert/--tls-key) until stopped.

    The first user is added with `kassa recon operator add --role admin`; admins add
    the others in the console (Users)."""
    import uvicorn

    from kassa.console import create_app

    host, port = parse_listen(listen)
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    base = kassa_home(home)
    runtime = open_host(db, base)
    try:
        app = create_app(runtime.db, base)
        if not any(r.role.on_console for r in app.state.services.store.list()):
            typer.echo(
                "no console users yet: add the first with "
                "`kassa recon operator add --id ID --role admin`",
                err=True,
            )
        scheme = "https" if tls_cert else "http"
        typer.echo(f"kassa console on {scheme}://{host}:{port}/", err=True)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            proxy_headers=False,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
        )
    finally:
        runtime.close()
