"""The FastAPI app of ``clv serve``: the REST API (OpenAPI at ``/api/openapi.json``) and the dashboard pages.

Every route but ``/api/health`` needs a token (``Authorization: Bearer clv_...``,
or the dashboard's session cookie set by ``/api/session``), with the role each
route names (:mod:`clv.service.security`). Requests are validated (ids: at most
200 characters of letters, digits and ``._@:+-`` and spaces, not starting with a
dot; numbers within bounds), rate-limited per client address (``[service]
rate_limit``), and every error answers with a JSON ``{"detail": ...}`` without
a stack trace or a server path. CORS is closed unless ``[service] cors_origins``
names origins.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import time
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from clv.errors import ClvError
from clv.service.security import TokenChecker, has_role
from clv.service.store import RunStore

__all__ = ["ServiceState", "create_app"]

log = logging.getLogger("clv.service")

ID_PATTERN = r"^[A-Za-z0-9_@:+-][A-Za-z0-9 ._@:+-]{0,199}$"
RUN_PATTERN = r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$"
SEGMENT_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9 _%-]{0,39}$"
COOKIE = "clv_session"
CURRENT_TTL = 1.0
"""Seconds a read of the current run's id is reused: a new run serves everywhere within a second of its commit."""

CustomerId = Annotated[str, Path(pattern=ID_PATTERN, max_length=200, description="A customer id.")]
RunId = Annotated[str, Path(pattern=RUN_PATTERN, max_length=22, description="A run id, e.g. 20251231T060000-1a2b3c.")]
RunQuery = Annotated[str | None, Query(pattern=RUN_PATTERN, max_length=22,
                                       description="A run id; default the current run.")]
Kind = Literal["action", "rfm_segment", "value_tier", "risk_tier"]


# --- response models (the OpenAPI schema the fuzzer checks) ------------------------------------------

class Health(BaseModel):
    status: str
    has_run: bool


class Customer(BaseModel):
    run_id: str
    customer_id: str
    email: str | None = None
    frequency: float | None
    recency: float | None
    age: float | None
    monetary_value: float | None
    n_orders: int | None
    revenue: float | None
    p_alive: float | None
    expected_purchases: float | None
    expected_spend: float | None
    clv: float | None
    clv_low: float | None
    clv_high: float | None
    expected_orders_90d: float | None
    rfm_segment: str | None
    value_tier: str | None
    risk_tier: str | None
    action: str | None
    early_warning: bool | None
    next_products: list[str]


class HistoryPoint(BaseModel):
    run_id: str
    finished_at: str | None
    p_alive: float | None
    expected_purchases: float | None
    clv: float | None
    value_tier: str | None
    risk_tier: str | None
    action: str | None
    rfm_segment: str | None


class CustomerDetail(BaseModel):
    customer: Customer
    history: list[HistoryPoint]
    action_why: str | None


class CustomerPage(BaseModel):
    run_id: str
    total: int
    limit: int
    offset: int
    items: list[Customer]


class Progress(BaseModel):
    running: bool
    run_id: str | None
    stage: str | None
    progress: float | None
    started_at: str | None
    current_run_id: str | None
    last_status: str | None
    last_error: str | None
    next_scheduled: str | None


class Triggered(BaseModel):
    run_id: str | None
    status: str


class WhatIfRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    aov: float = Field(0.0, ge=-0.9, le=2.0, description="Relative change of the average order value (0.05 = +5%).")
    frequency: float = Field(0.0, ge=-0.9, le=2.0, description="Relative change of the purchase rate.")
    margin: float = Field(0.0, ge=-0.9, le=2.0, description="Relative change of the margin rate.")
    churn: float = Field(0.0, ge=-0.9, le=2.0, description="Relative change of the mean dropout probability.")
    segment_kind: Kind | None = None
    segment: str | None = Field(None, pattern=SEGMENT_PATTERN, max_length=40)


class WhatIfAnswer(BaseModel):
    run_id: str
    totals: list[dict[str, Any]]
    classic: list[dict[str, Any]] | None
    notes: list[str]
    settings: dict[str, Any]


class ErrorBody(BaseModel):
    detail: str


class Problem(BaseModel):
    where: str
    problem: str


class InvalidRequest(BaseModel):
    detail: str
    problems: list[Problem]


class Session(BaseModel):
    token: str = Field(..., max_length=100)


# --- state ---------------------------------------------------------------------------------------

class ServiceState:
    """What the app serves: the workspace, the run store, the token checker, the refresher and a what-if cache."""

    def __init__(self, workspace, store: RunStore, refresher=None):
        self.workspace = workspace
        self.store = store
        self.tokens = TokenChecker(store)
        self.refresher = refresher
        self._orders: tuple[str, Any] | None = None
        self._why: tuple[str, dict] | None = None
        self._current: tuple[str, float] | None = None
        self.what_ifs: dict[tuple[str, str], dict] = {}
        self.what_if_lock = threading.Lock()
        self._orders_lock = threading.Lock()

    def current(self, run_id: str | None = None) -> str:
        """``run_id`` if it is a succeeded run, else the current one; 404 when there is none."""
        if run_id is not None:
            run = self.store.run(run_id)
            if run is None or run["status"] != "succeeded":
                raise HTTPException(404, "no succeeded run with that id")
            return run_id
        current = self.current_run_id()
        if current is None:
            raise HTTPException(404, "no run yet: trigger a refresh (POST /api/refresh)")
        return current

    def current_run_id(self) -> str | None:
        """The current run's id, read from the store at most once per :data:`CURRENT_TTL` seconds."""
        now = time.monotonic()
        cached = self._current
        if cached is not None and cached[1] > now:
            return cached[0]
        current = self.store.current_run_id()
        self._current = (current, now + CURRENT_TTL) if current is not None else None
        return current

    def orders_for(self, run_id: str):
        """The workspace's orders for the what-if (loaded once per run and kept)."""
        from clv.service.runs import load_workspace_orders

        with self._orders_lock:
            if self._orders is None or self._orders[0] != run_id:
                self._orders = (run_id, load_workspace_orders(self.workspace))
            return self._orders[1]

    def action_why(self, run_id: str, action: str | None) -> str | None:
        """The playbook's reason for ``action`` in ``run_id`` (the playbook is read once per run)."""
        with self._orders_lock:
            cached = self._why if self._why is not None and self._why[0] == run_id else None
        if cached is None:
            record = self.store.run(run_id) or {}
            cached = (run_id, {row["action"]: row.get("why") for row in record.get("playbook") or []})
            with self._orders_lock:
                self._why = cached
        return cached[1].get(action)

    def remember_orders(self, run_id: str, orders) -> None:
        with self._orders_lock:
            self._orders = (run_id, orders)

    def redact(self, text: str | None) -> str | None:
        """``text`` without the workspace's folder (internal paths stay out of responses)."""
        if text is None:
            return None
        return text.replace(str(self.workspace.root), "<workspace>")


# --- the app -------------------------------------------------------------------------------------

def create_app(state: ServiceState, *, dashboard: bool = True) -> FastAPI:
    """The FastAPI app serving ``state``: API routes, dashboard pages, security middleware and error handlers."""
    options = state.workspace.service
    app = FastAPI(title=f"clv service: {options.title}", version="1", openapi_url="/api/openapi.json",
                  docs_url="/api/docs", redoc_url=None,
                  description="Customer lifetime value per customer, segments and actions, history of runs. "
                              "Every route but /api/health needs a token: Authorization: Bearer clv_...")
    app.state.clv = state
    _document_errors(app)
    _security(app, options)
    _errors(app)
    _routes(app, state)
    if dashboard:
        from clv.service.dashboard import add_dashboard

        add_dashboard(app, state)
    return app


def _document_errors(app: FastAPI) -> None:
    """The schema of a 422 is the shape :func:`_errors` answers with (``detail`` + ``problems``), not FastAPI's."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["HTTPValidationError"] = InvalidRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas["HTTPValidationError"].pop("$defs", None)
            schemas["Problem"] = Problem.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def _security(app: FastAPI, options) -> None:
    from limits import parse
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    limiter = MovingWindowRateLimiter(MemoryStorage())
    rate = parse(options.rate_limit)

    @app.middleware("http")
    async def limit_and_harden(request: Request, call_next):
        client = request.client.host if request.client else "unknown"
        if request.url.path != "/api/health" and not limiter.hit(rate, "clv", client):
            return JSONResponse({"detail": "too many requests: slow down"}, status_code=429,
                                headers={"Retry-After": "10"})
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    if options.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(options.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], allow_credentials=False)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        body: dict[str, Any] = {"detail": detail}
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 422:
            body["problems"] = []
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(body, status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = [{"where": ".".join(str(p) for p in error.get("loc", ())), "problem": error.get("msg", "invalid")}
                    for error in exc.errors()[:10]]
        return JSONResponse({"detail": "invalid request", "problems": problems}, status_code=422)

    @app.exception_handler(ClvError)
    async def clv_error(request: Request, exc: ClvError):
        state: ServiceState = request.app.state.clv
        return JSONResponse({"detail": state.redact(str(exc))}, status_code=400)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
                  exc_info=exc)
        return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at this path (Starlette's 405 names only the first route's)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)


def _json_errors(codes: dict) -> dict:
    """``codes`` (AUTH/FOUND entries) as responses whose body is JSON, for a route whose success is not JSON."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}
    return {code: {"description": entry["description"], "content": {"application/json": {"schema": schema}}}
            for code, entry in codes.items()}


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.cookies.get(COOKIE)


def require(role: str):
    """A dependency: the request's token must have ``role`` (401 without a valid token, 403 with too weak a role)."""

    def check(request: Request) -> str:
        state: ServiceState = request.app.state.clv
        found = state.tokens.role(_token_of(request))
        if found is None:
            raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"})
        if not has_role(found, role):
            raise HTTPException(403, f"this needs the {role} role")
        return found

    check.__name__ = f"require_{role}"
    return check


Viewer = Annotated[str, Depends(require("viewer"))]
Analyst = Annotated[str, Depends(require("analyst"))]
Admin = Annotated[str, Depends(require("admin"))]
AUTH = {401: {"description": "Missing or invalid token", "model": ErrorBody},
        403: {"description": "The token's role is too weak", "model": ErrorBody},
        429: {"description": "Rate limit exceeded", "model": ErrorBody}}
FOUND = {**AUTH, 404: {"description": "Not found", "model": ErrorBody}}


def _routes(app: FastAPI, state: ServiceState) -> None:  # noqa: C901 - one place lists the API
    store = state.store

    @app.get("/api/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """Liveness: no token needed; says whether a run is being served."""
        return Health(status="ok", has_run=store.current_run_id() is not None)

    @app.post("/api/session", tags=["service"], responses={
        400: {"description": "The body is not JSON", "model": ErrorBody}, 401: AUTH[401], 429: AUTH[429]})
    def session(body: Session, response: Response) -> dict:
        """Exchange a token for the dashboard's session cookie (HttpOnly, SameSite=Strict)."""
        role = state.tokens.role(body.token)
        if role is None:
            raise HTTPException(401, "missing or invalid token")
        response.set_cookie(COOKIE, body.token, httponly=True, samesite="strict", max_age=8 * 3600, path="/")
        return {"role": role}

    @app.get("/api/customers/{customer_id}", response_model=CustomerDetail, tags=["customers"], responses=FOUND)
    def customer(customer_id: CustomerId, role: Viewer, run_id: RunQuery = None) -> dict:
        """One customer: scores (P(alive), expected purchases, CLV with its 80% range), labels, recommended
        action, next-product suggestions, expected orders in the next 90 days and the scores of every run."""
        run = state.current(run_id)
        found, history = store.customer_and_history(run, customer_id)
        if found is None:
            raise HTTPException(404, "no such customer in this run")
        if not has_role(role, "analyst"):
            found["email"] = None
        return {"customer": found, "history": history, "action_why": state.action_why(run, found["action"])}

    @app.get("/api/customers", response_model=CustomerPage, tags=["customers"], responses=FOUND)
    def customers(
        role: Viewer, run_id: RunQuery = None,
        segment_kind: Kind | None = None,
        segment: Annotated[str | None, Query(pattern=SEGMENT_PATTERN, max_length=40)] = None,
        min_clv: Annotated[float | None, Query(ge=-1e12, le=1e12)] = None,
        max_clv: Annotated[float | None, Query(ge=-1e12, le=1e12)] = None,
        min_p_alive: Annotated[float | None, Query(ge=0, le=1)] = None,
        max_p_alive: Annotated[float | None, Query(ge=0, le=1)] = None,
        q: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=200, description="Id or email prefix.")] = None,
        sort: Literal["clv", "p_alive", "expected_purchases", "revenue", "customer_id", "n_orders"] = "clv",
        order: Literal["asc", "desc"] = "desc",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
    ) -> dict:
        """Customers of a run, filtered by segment (of ``segment_kind``, or of any kind), CLV or P(alive), or searched
        by id (or email) prefix; paginated."""
        run = state.current(run_id)
        if q is not None and not has_role(role, "analyst") and "@" in q:
            raise HTTPException(403, "searching by email needs the analyst role")
        total, rows = store.customers(run, kind=segment_kind, segment=segment, min_clv=min_clv, max_clv=max_clv,
                                      min_p_alive=min_p_alive, max_p_alive=max_p_alive, search=q, sort=sort,
                                      descending=order == "desc", limit=limit, offset=offset)
        if not has_role(role, "analyst"):
            for row in rows:
                row["email"] = None
        return {"run_id": run, "total": total, "limit": limit, "offset": offset, "items": rows}

    @app.get("/api/segments", tags=["segments"], responses=FOUND)
    def segments(role: Viewer, run_id: RunQuery = None) -> dict:
        """The run's action playbook (customers, value at stake, assumption, why) and the size of every segment."""
        run = state.current(run_id)
        record = store.run(run)
        return {"run_id": run, "playbook": record["playbook"], "sizes": store.segment_sizes(run)}

    @app.get("/api/segments/history", tags=["segments"], responses=AUTH)
    def segment_history(role: Viewer, kind: Kind = "action") -> dict:
        """Segment sizes and value of one kind of label across runs, oldest first."""
        return {"kind": kind, "points": store.segment_history(kind)}

    @app.get("/api/segments/movers", tags=["segments"], responses=FOUND)
    def movers(role: Viewer, kind: Kind = "risk_tier", run_id: RunQuery = None) -> dict:
        """Who moved between segments since the run before: counts per move, newly at risk, won back."""
        run = state.current(run_id)
        previous = store.previous_run_id(run)
        if previous is None:
            return {"run_id": run, "previous_run_id": None, "kind": kind, "moves": []}
        return store.movers(run, previous, kind)

    @app.get("/api/segments/{kind}/{segment}/export", tags=["segments"], response_class=Response,
             responses={200: {"description": "The segment's customers",
                              "content": {"text/csv": {"schema": {"type": "string"}},
                                          "application/json": {"schema": {"type": "array",
                                                                           "items": {"type": "object"}}}}},
                        **_json_errors(FOUND)})
    def export(kind: Kind, role: Analyst,
               segment: Annotated[str, Path(pattern=SEGMENT_PATTERN, max_length=40)],
               format: Literal["csv", "json"] = "csv", run_id: RunQuery = None) -> Response:
        """A segment's customers as email and ads tools import them: customer_id, email (if known), value_tier,
        risk_tier, churn_probability, action, clv. Needs the analyst role (personal data)."""
        run = state.current(run_id)
        if not any(row["segment"] == segment for row in store.segment_sizes(run, kind)):
            raise HTTPException(404, "no such segment in this run")
        rows = store.export_rows(run, kind, segment, with_email=True)
        name = f"{kind}-{segment}-{run}".replace(" ", "_").replace("%", "pct")
        if format == "json":
            return JSONResponse(list(rows), headers={"Content-Disposition": f'attachment; filename="{name}.json"'})
        return StreamingResponse(_csv_lines(rows), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})

    @app.get("/api/runs", tags=["runs"], responses=AUTH)
    def runs(role: Viewer, limit: Annotated[int, Query(ge=1, le=500)] = 50,
             offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict:
        """Runs, newest first: status, times, KPIs and the backtest's verdict."""
        items = [_run_summary(state, r) for r in store.runs(limit, offset)]
        return {"current_run_id": store.current_run_id(), "items": items}

    @app.get("/api/runs/{run_id}", tags=["runs"], responses=FOUND)
    def run(run_id: RunId, role: Viewer) -> dict:
        """One run in full: load report, models and model choice, scorecard, KPIs, drivers, playbook."""
        record = store.run(run_id)
        if record is None:
            raise HTTPException(404, "no such run")
        record["error"] = state.redact(record["error"])
        record["settings"] = None if record["settings"] is None else {
            k: v for k, v in record["settings"].items() if k != "source"}
        return record

    @app.get("/api/runs/{run_id}/report", tags=["runs"], responses=_json_errors(FOUND), response_class=HTMLResponse)
    def report(run_id: RunId, role: Viewer) -> HTMLResponse:
        """The run's HTML report (self-contained)."""
        html = store.report_html(run_id)
        if html is None:
            raise HTTPException(404, "this run has no report")
        return HTMLResponse(html, headers={"Content-Security-Policy": "default-src 'self' 'unsafe-inline' data:"})

    @app.get("/api/kpis", tags=["kpis"], responses=AUTH)
    def kpis(role: Viewer) -> dict:
        """KPIs per run, oldest first: customers, customer equity, mean CLV, at-risk counts, the classic CLV and the
        four drivers (AOV, purchase frequency, margin, churn)."""
        return {"points": store.kpi_history()}

    @app.get("/api/kpis/drivers", tags=["kpis"], responses=FOUND)
    def drivers(role: Viewer, run_id: RunQuery = None) -> dict:
        """The four drivers per calendar month over the run's history."""
        run = state.current(run_id)
        return {"run_id": run, "months": store.run(run)["drivers"]}

    @app.post("/api/whatif", response_model=WhatIfAnswer, tags=["what-if"], responses={**FOUND, 400: {
        "description": "The body is not JSON, or a scenario the models cannot take", "model": ErrorBody}})
    def whatif(body: WhatIfRequest, role: Viewer) -> dict:
        """Customer equity before and after changing the four drivers (AOV, frequency, margin, churn), for everyone or
        one segment, through the run's fitted models (clv.what_if)."""
        return _what_if(state, body)

    @app.get("/api/refresh", response_model=Progress, tags=["refresh"], responses=AUTH)
    def progress(role: Viewer) -> dict:
        """The refresh in progress (stage, progress 0-1), the current run and the last run's status."""
        active = store.active_run()
        last = store.runs(1)
        refresher = state.refresher
        return {
            "running": active is not None, "run_id": active["run_id"] if active else None,
            "stage": active["stage"] if active else None, "progress": active["progress"] if active else None,
            "started_at": active["started_at"] if active else None, "current_run_id": store.current_run_id(),
            "last_status": last[0]["status"] if last else None,
            "last_error": state.redact(last[0]["error"]) if last else None,
            "next_scheduled": refresher.next_run_time() if refresher is not None else None,
        }

    @app.post("/api/refresh", response_model=Triggered, status_code=202, tags=["refresh"],
              responses={**AUTH, 409: {"description": "A refresh is already running"}})
    def trigger(role: Admin) -> dict:
        """Start a refresh now (admin). Follow it with GET /api/refresh."""
        if state.refresher is None:
            raise HTTPException(409, "refreshes are not enabled on this server")
        run_id = state.refresher.trigger("manual")
        if run_id is None:
            raise HTTPException(409, "a refresh is already running")
        return {"run_id": run_id, "status": "running"}


def _run_summary(state: ServiceState, record: dict) -> dict:
    scorecard = record.get("scorecard") or {}
    return {
        "run_id": record["run_id"], "status": record["status"], "trigger": record["trigger"],
        "started_at": record["started_at"], "finished_at": record["finished_at"], "n_customers": record["n_customers"],
        "error": state.redact(record["error"]), "kpis": record["kpis"],
        "verdict": scorecard.get("verdict"), "verdict_reason": scorecard.get("reason"),
        "model": (record.get("models") or {}).get("purchase_model"),
        "model_choice": (record.get("models") or {}).get("model_choice"),
    }


def _csv_lines(rows):
    buffer = io.StringIO()
    writer = None
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row))
            writer.writeheader()
        writer.writerow({k: _safe_cell(v) for k, v in row.items()})
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _safe_cell(value: Any) -> Any:
    """A text cell starting with =, +, -, @, tab or CR gets a leading ' (safe to open in a spreadsheet)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _what_if(state: ServiceState, body: WhatIfRequest) -> dict:
    """The what-if answer for the current run (answers kept per run and scenario: sliders come back to values)."""
    run = state.current()
    key = (run, body.model_dump_json())
    with state.what_if_lock:  # one at a time: the orders' DuckDB connection serves one thread
        if key not in state.what_ifs:
            if len(state.what_ifs) >= 256:
                state.what_ifs.clear()
            state.what_ifs[key] = _compute_what_if(state, run, body)
        return state.what_ifs[key]


def _compute_what_if(state: ServiceState, run: str, body: WhatIfRequest) -> dict:
    from clv.models import load_model
    from clv.service.store import json_safe
    from clv.whatif import Scenario, what_if

    record = state.store.run(run)
    saved = (record["models"] or {}).get("saved")
    if not saved:
        raise HTTPException(404, "this run has no saved models")
    segment = None
    if body.segment_kind is not None and body.segment is not None:
        _, rows = state.store.customers(run, kind=body.segment_kind, segment=body.segment, limit=10**9, sort="customer_id")
        if not rows:
            raise HTTPException(404, "no such segment in this run")
        segment = [row["customer_id"] for row in rows]
    settings = record["settings"] or {}
    result = what_if(
        state.orders_for(run), Scenario(aov=body.aov, frequency=body.frequency, margin_change=body.margin, churn=body.churn),
        segment=segment, transaction_model=load_model(saved["purchase"]), spend_model=load_model(saved["spend"]),
        time_unit=settings.get("time_unit", "week"), horizon=settings.get("horizon"),
        discount_rate=settings.get("discount_rate", 0.10), margin=(record["kpis"] or {}).get("margin_rate"),
        observation_end=(record["kpis"] or {}).get("observation_end"))
    return json_safe({
        "run_id": run, "totals": result.totals.to_dict("records"),
        "classic": None if result.classic is None else result.classic.to_dict("records"),
        "notes": list(result.notes), "settings": result.settings,
    })
