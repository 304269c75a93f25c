"""HTTP-edge helpers shared by the intake API views and the public pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app, request

from geo.travel import TravelTimeProvider, provider_from_config
from server.blobs.storage import BlobStorage, storage_from_config, storage_settings


def base_url() -> str:
    """The origin public links use: PUBLIC_BASE_URL, else the one this request came to."""
    configured: str | None = current_app.config.get("PUBLIC_BASE_URL")
    return configured or request.host_url


def blob_storage() -> BlobStorage:
    """The configured blob backend, shared with the blob endpoints' cache."""
    settings = storage_settings(current_app.config)
    cached = current_app.extensions.get("blob_storage")
    if cached is None or cached[0] != settings:
        cached = (settings, storage_from_config(current_app.config))
        current_app.extensions["blob_storage"] = cached
    storage: BlobStorage = cached[1]
    return storage


def travel_provider() -> TravelTimeProvider:
    """The travel-time provider for ETAs (OSRM when configured, else an estimate), cached."""
    provider: TravelTimeProvider | None = current_app.extensions.get("intake_travel")
    if provider is None:
        config = current_app.config
        provider = provider_from_config(
            config["OSRM_URL"], config["TRAVEL_SPEED_KMH"], config["TRAVEL_DETOUR_FACTOR"]
        )
        current_app.extensions["intake_travel"] = provider
    return provider


def photo_limits() -> dict[str, Any]:
    """Keyword arguments of ``service.prepare_photos`` from the config."""
    config = current_app.config
    return {
        "max_photos": config["INTAKE_MAX_PHOTOS"],
        "max_bytes": config["INTAKE_MAX_PHOTO_BYTES"],
        "max_pixels": config["BLOB_MAX_PIXELS"],
    }


def duplicate_window() -> dt.timedelta:
    """How long an identical request maps to the earlier one."""
    return dt.timedelta(minutes=current_app.config["INTAKE_DUPLICATE_WINDOW_MINUTES"])


def allow_large_body() -> None:
    """Raise this request's body limit to the intake one (photos) before the form is read."""
    request.max_content_length = current_app.config["INTAKE_MAX_BODY_BYTES"]


def photo_streams() -> list[Any]:
    """Uploaded photo streams (browsers send an empty part when none was chosen)."""
    return [f.stream for f in request.files.getlist("photos") if f.filename]
