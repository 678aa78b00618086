"""The dashboard works without internet access: Swagger UI from local assets, a favicon."""

from __future__ import annotations

import re

from tests.dashboard.conftest import Env


def test_swagger_ui_loads_every_asset_from_the_scaler_itself(env: Env) -> None:
    page = env.client.get("/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assets = [u for u in urls if u.endswith((".js", ".css", ".png", ".svg"))]
    assert len(assets) >= 3, urls
    for url in urls:
        assert not url.startswith(("http://", "https://", "//")), url
    for url in assets:
        got = env.client.get(url)
        assert got.status_code == 200 and len(got.content) > 100, url
    assert env.client.get("/openapi.json").status_code == 200
    assert env.client.get("/redoc").status_code == 404


def test_every_page_has_a_favicon(env: Env) -> None:
    icon = env.client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in icon.text
    assert 'rel="icon" href="/static/favicon.svg"' in env.client.get("/").text
    assert env.client.get("/static/favicon.svg").status_code == 200
