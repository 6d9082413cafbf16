"""The dashboard: pages for marketers served by the same app (Jinja2 templates, Plotly's JavaScript served locally).

Pages read the same store as the API and embed their data as JSON; charts are
drawn by the ``plotly.min.js`` bundled with the ``plotly`` package (no CDN, works
offline). A page without a valid session cookie (``/api/session``) redirects to
``/login``. Responses carry a Content-Security-Policy allowing only this origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from clv.service.security import has_role

__all__ = ["add_dashboard"]

HERE = Path(__file__).parent
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'")


def plotly_js() -> Path:
    """The plotly.min.js shipped inside the installed ``plotly`` package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def add_dashboard(app: FastAPI, state) -> None:
    """Add the pages (/, /segments, /customers, /whatif, /runs, /login) and their static files to ``app``."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from clv.service.app import COOKIE

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    store = state.store
    statics = {"dashboard.js": (HERE / "static" / "dashboard.js", "text/javascript"),
               "dashboard.css": (HERE / "static" / "dashboard.css", "text/css"),
               "plotly.min.js": (plotly_js(), "text/javascript")}

    def render(name: str, page: str, title: str, role: str | None, data: dict, **extra) -> HTMLResponse:
        html = env.get_template(name).render(page=page, title=title, role=role, data=data,
                                             service_title=state.workspace.service.title, **extra)
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})

    def role_of(request: Request) -> str | None:
        return state.tokens.role(request.cookies.get(COOKIE))

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in statics:
            return Response("not found", status_code=404, media_type="text/plain")
        path, media = statics[name]
        return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=3600"})

    @app.get("/login", include_in_schema=False)
    def login() -> HTMLResponse:
        return render("login.html", "login", "Sign in", None, {})

    def page(path: str, builder):
        @app.get(path, include_in_schema=False, name=f"page{path.replace('/', '_')}")
        def handler(request: Request) -> Response:
            role = role_of(request)
            if role is None:
                return RedirectResponse("/login", status_code=303)
            return builder(role)
        return handler

    def overview(role: str) -> HTMLResponse:
        current = store.current_run_id()
        record = store.run(current) if current else None
        movers = None
        if current:
            previous = store.previous_run_id(current)
            movers = store.movers(current, previous) if previous else {"previous_run_id": None}
        kpis = record["kpis"] if record else None
        settings = (record or {}).get("settings") or {}
        horizon = f"{settings.get('horizon', 52):g} {settings.get('time_unit', 'week')}s"
        return render("overview.html", "overview", "How much are our customers worth?", role,
                      {"kpis": store.kpi_history(), "drivers": record["drivers"] if record else []},
                      kpis=kpis, run_id=current, movers=movers, horizon_words=horizon)

    def segments(role: str) -> HTMLResponse:
        current = store.current_run_id()
        record = store.run(current) if current else None
        playbook = (record or {}).get("playbook") or []
        sizes = store.segment_sizes(current) if current else []
        return render("segments.html", "segments", "Segments and what to do with them", role,
                      {"playbook": playbook, "sizes": sizes}, playbook=playbook, can_export=has_role(role, "analyst"))

    def customers(role: str) -> HTMLResponse:
        return render("customers.html", "customers", "Customer lookup", role, {})

    def whatif(role: str) -> HTMLResponse:
        current = store.current_run_id()
        record = store.run(current) if current else None
        return render("whatif.html", "whatif", "What if we changed a driver?", role, {},
                      playbook=(record or {}).get("playbook") or [])

    def runs(role: str) -> HTMLResponse:
        from clv.service.app import _run_summary

        items = [_run_summary(state, r) for r in store.runs(100)]
        return render("runs.html", "runs", "Run history and scorecards", role, {"runs": items}, runs=items,
                      current=store.current_run_id(), can_refresh=has_role(role, "admin"))

    for path, builder in (("/", overview), ("/segments", segments), ("/customers", customers), ("/whatif", whatif),
                          ("/runs", runs)):
        page(path, builder)
