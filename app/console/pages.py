"""The console's routes: one template per page under /console, the static assets under /console/static."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
PAGES = {"signin": "Sign in", "ask": "Ask", "documents": "Documents", "jobs": "Reconciliation jobs",
         "view": "Document"}
NAV = ("ask", "documents", "jobs")  # the pages in the header, in order

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("", response_class=RedirectResponse)
@router.get("/", response_class=RedirectResponse)
async def home() -> RedirectResponse:
    return RedirectResponse("/console/ask", status_code=307)


def _page(name: str) -> None:
    async def page(request: Request) -> Response:
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
                   "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                              "frame-ancestors 'none'; base-uri 'none'"}
        return templates.TemplateResponse(request, f"{name}.html", {"page": name, "title": PAGES[name], "nav": NAV,
                                                                      "titles": PAGES}, headers=headers)

    router.add_api_route(f"/{name}", page, methods=["GET"], response_class=HTMLResponse, name=f"console-{name}")


for _name in PAGES:
    _page(_name)


def install(app: FastAPI) -> None:
    """Serve the console pages and their assets from ``app``."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
