"""The committed OpenAPI document is exactly what the code generates (phones rely on it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTRACT = Path(__file__).resolve().parents[2] / "mobile_contract" / "openapi.json"


def test_committed_openapi_matches_code(app: Any) -> None:
    generated = app.extensions["api"].spec.to_dict()
    committed = json.loads(CONTRACT.read_text())
    assert generated == committed, (
        "API drifted from mobile_contract/openapi.json: run `make openapi`"
    )


def test_every_operation_is_documented_and_secured(app: Any) -> None:
    spec = app.extensions["api"].spec.to_dict()
    public = {
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/firebase",
    }
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op.get("summary") or op.get("description"), f"{method} {path} undocumented"
            if path not in public:
                assert spec.get("security") or op.get("security"), f"{method} {path}"
