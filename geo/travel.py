"""Travel-time matrices for the dispatcher: a haversine estimate, OSRM, and a cache.

Every provider answers ``matrix(points)`` (square, zero diagonal) and
``matrix_between(origins, destinations)`` (rectangular: few origins x many destinations
for emergency insertion). Values are whole seconds and whole metres in int64 arrays.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from geo.points import EARTH_RADIUS_M, Point

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class TravelTimeError(RuntimeError):
    """A routing backend failed (HTTP error, timeout, bad answer) and no fallback was set."""


@dataclass(frozen=True, eq=False)  # eq=False: ndarray == ndarray is elementwise, not a bool
class Matrix:
    """Durations (s) and road distances (m); rows are origins, columns destinations."""

    durations_s: IntArray
    distances_m: IntArray
    # True when some block is a crow-flies estimate because the router failed; such a
    # matrix is usable for dispatch but must not be cached as if it were routed.
    degraded: bool = False

    def __post_init__(self) -> None:
        for name in ("durations_s", "distances_m"):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.dtype != np.int64 or value.ndim != 2:
                raise ValueError(f"{name} must be a 2-D int64 array")
        if self.durations_s.shape != self.distances_m.shape:
            raise ValueError("durations_s and distances_m must have the same shape")

    @property
    def shape(self) -> tuple[int, int]:
        """(origins, destinations)."""
        rows, cols = self.durations_s.shape
        return int(rows), int(cols)


class TravelTimeProvider(Protocol):
    """Anything that can price trips between points."""

    def matrix(self, points: Sequence[Point]) -> Matrix:
        """Square matrix over ``points`` with a zero diagonal."""
        ...

    def matrix_between(self, origins: Sequence[Point], destinations: Sequence[Point]) -> Matrix:
        """Rectangular matrix: one row per origin, one column per destination."""
        ...


def _empty(rows: int, cols: int) -> Matrix:
    return Matrix(np.zeros((rows, cols), np.int64), np.zeros((rows, cols), np.int64))


def _to_int(values: FloatArray) -> IntArray:
    """Round half to even to whole units (what np.rint and Python's round both do)."""
    return np.rint(values).astype(np.int64)


def _radians(points: Sequence[Point]) -> tuple[FloatArray, FloatArray]:
    n = len(points)
    lat = np.fromiter((p.lat for p in points), dtype=np.float64, count=n)
    lon = np.fromiter((p.lon for p in points), dtype=np.float64, count=n)
    return np.radians(lat), np.radians(lon)


def great_circle_m(origins: Sequence[Point], destinations: Sequence[Point]) -> FloatArray:
    """Haversine distances in metres for every origin x destination pair, vectorised."""
    olat, olon = _radians(origins)
    dlat, dlon = _radians(destinations)
    # sin((b - a) / 2) = sin(b/2)cos(a/2) - cos(b/2)sin(a/2): expanding the difference turns
    # n*m sine calls into n+m sines plus products, which is most of the speed. Exact for a == b
    # (the two products are the same float), so identical points give exactly 0.
    so, co = np.sin(olat / 2), np.cos(olat / 2)
    sd, cd = np.sin(dlat / 2), np.cos(dlat / 2)
    sin_dphi = np.outer(co, sd)
    sin_dphi -= np.outer(so, cd)
    so, co = np.sin(olon / 2), np.cos(olon / 2)
    sd, cd = np.sin(dlon / 2), np.cos(dlon / 2)
    sin_dlmb = np.outer(co, sd)
    sin_dlmb -= np.outer(so, cd)
    h: FloatArray = np.square(sin_dphi, out=sin_dphi)
    sin_dlmb *= sin_dlmb
    sin_dlmb *= np.outer(np.cos(olat), np.cos(dlat))
    h += sin_dlmb
    np.minimum(h, 1.0, out=h)  # rounding can push antipodal pairs a hair above 1
    np.sqrt(h, out=h)
    np.arcsin(h, out=h)
    h *= 2 * EARTH_RADIUS_M
    return h


class HaversineProvider:
    """Great-circle distance x detour factor / speed: instant, needs no road network."""

    def __init__(
        self, speed_kmh: float = 30.0, detour_factor: float = 1.3, min_travel_s: int = 0
    ) -> None:
        if not (math.isfinite(speed_kmh) and speed_kmh > 0):
            raise ValueError(f"speed_kmh must be a positive number, got {speed_kmh!r}")
        if not (math.isfinite(detour_factor) and detour_factor >= 1):
            raise ValueError(f"detour_factor must be >= 1, got {detour_factor!r}")
        if min_travel_s < 0:
            raise ValueError(f"min_travel_s must be >= 0, got {min_travel_s!r}")
        self.speed_kmh = float(speed_kmh)
        self.detour_factor = float(detour_factor)
        self.min_travel_s = int(min_travel_s)

    def __repr__(self) -> str:
        return (
            f"HaversineProvider(speed_kmh={self.speed_kmh}, detour_factor={self.detour_factor}, "
            f"min_travel_s={self.min_travel_s})"
        )

    def matrix(self, points: Sequence[Point]) -> Matrix:
        """Square matrix over ``points`` with a zero diagonal."""
        result = self.matrix_between(points, points)
        np.fill_diagonal(result.durations_s, 0)
        np.fill_diagonal(result.distances_m, 0)
        return result

    def matrix_between(self, origins: Sequence[Point], destinations: Sequence[Point]) -> Matrix:
        """Rectangular matrix: one row per origin, one column per destination."""
        if not origins or not destinations:
            return _empty(len(origins), len(destinations))
        road_m = great_circle_m(origins, destinations)
        road_m *= self.detour_factor
        # Duration from the unrounded distance, so rounding happens once per figure.
        duration = road_m / (self.speed_kmh / 3.6)
        durations = _to_int(duration)
        if self.min_travel_s:
            # A floor for any real trip (parking, walking to the door); the same spot stays 0.
            np.maximum(durations, self.min_travel_s, out=durations, where=road_m > 0)
        return Matrix(durations, _to_int(road_m))


_PROFILE = re.compile(r"[A-Za-z0-9_.-]+")


class OsrmProvider:
    """OSRM's table service, in blocks of at most max_table_size x max_table_size."""

    def __init__(
        self,
        base_url: str,
        profile: str = "driving",
        timeout_s: float = 10.0,
        max_table_size: int = 100,
        fallback: TravelTimeProvider | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        # urllib would also open file:// and ftp:// URLs; a router is only ever HTTP(S).
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"OSRM base_url must be an http(s) URL, got {base_url!r}")
        if not _PROFILE.fullmatch(profile):
            raise ValueError(f"bad OSRM profile {profile!r}")
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        if max_table_size < 1:
            raise ValueError(f"max_table_size must be >= 1, got {max_table_size!r}")
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.timeout_s = float(timeout_s)
        self.max_table_size = int(max_table_size)
        # Block-level fallback on failure only when asked for; unroutable pairs (null) always
        # need some value, so they use the fallback or a default estimate.
        self.fallback = fallback
        self._fill: TravelTimeProvider = fallback if fallback is not None else HaversineProvider()
        self._lock = threading.Lock()
        self.fallbacks = 0  # blocks answered by the fallback because OSRM failed
        self.unroutable_pairs = 0  # null cells filled from the estimate

    def __repr__(self) -> str:
        return f"OsrmProvider({self.base_url!r}, profile={self.profile!r})"

    def matrix(self, points: Sequence[Point]) -> Matrix:
        """Square matrix over ``points`` with a zero diagonal."""
        result = self._table(points, points, square=True)
        np.fill_diagonal(result.durations_s, 0)
        np.fill_diagonal(result.distances_m, 0)
        return result

    def matrix_between(self, origins: Sequence[Point], destinations: Sequence[Point]) -> Matrix:
        """Rectangular matrix: one row per origin, one column per destination."""
        return self._table(origins, destinations, square=False)

    def _table(
        self, origins: Sequence[Point], destinations: Sequence[Point], *, square: bool
    ) -> Matrix:
        durations = np.zeros((len(origins), len(destinations)), np.int64)
        distances = np.zeros((len(origins), len(destinations)), np.int64)
        degraded = False
        step = self.max_table_size
        for r in range(0, len(origins), step):
            block_origins = origins[r : r + step]
            for c in range(0, len(destinations), step):
                block_destinations = destinations[c : c + step]
                same = square and r == c
                if same and len(block_origins) == 1:
                    # OSRM refuses a table of one coordinate; a point to itself is 0 anyway.
                    continue
                d, m, fell_back = self._block(block_origins, block_destinations, same)
                durations[r : r + d.shape[0], c : c + d.shape[1]] = d
                distances[r : r + d.shape[0], c : c + d.shape[1]] = m
                degraded = degraded or fell_back
        return Matrix(durations, distances, degraded)

    def _block(
        self, origins: Sequence[Point], destinations: Sequence[Point], same: bool
    ) -> tuple[IntArray, IntArray, bool]:
        try:
            durations, distances = self._request(origins, destinations, same)
        except TravelTimeError as exc:
            if self.fallback is None:
                raise
            with self._lock:
                self.fallbacks += 1
            log.warning(
                "OSRM failed, estimating a %dx%d block: %s", len(origins), len(destinations), exc
            )
            estimate = self.fallback.matrix_between(origins, destinations)
            return estimate.durations_s, estimate.distances_m, True
        holes = np.isnan(durations) | np.isnan(distances)
        if holes.any():
            estimate = self._fill.matrix_between(origins, destinations)
            durations[holes] = estimate.durations_s[holes]
            distances[holes] = estimate.distances_m[holes]
            with self._lock:
                self.unroutable_pairs += int(holes.sum())
        return _to_int(durations), _to_int(distances), False

    def _request(
        self, origins: Sequence[Point], destinations: Sequence[Point], same: bool
    ) -> tuple[FloatArray, FloatArray]:
        """One table call; returns float arrays with NaN where OSRM found no route."""
        # Send only this block's coordinates (not the whole problem) to keep URLs short; on a
        # diagonal block origins and destinations are the same list, so send it once.
        coords = list(origins) if same else [*origins, *destinations]
        first_destination = 0 if same else len(origins)
        path = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in coords)
        query = urllib.parse.urlencode(
            {
                "annotations": "duration,distance",
                "sources": ";".join(str(i) for i in range(len(origins))),
                "destinations": ";".join(
                    str(i) for i in range(first_destination, first_destination + len(destinations))
                ),
            },
            safe=";,",
        )
        url = f"{self.base_url}/table/v1/{self.profile}/{path}?{query}"
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": "fieldservice-dispatch"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            # OSRM explains 400s in a JSON body ({"code": "NoSegment", "message": ...}).
            try:
                detail = _describe(json.loads(exc.read()))
            except (OSError, ValueError, http.client.HTTPException):
                detail = exc.reason
            raise TravelTimeError(f"OSRM table failed: HTTP {exc.code}: {detail}") from exc
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out
            raise TravelTimeError(f"OSRM unreachable at {self.base_url}: {exc}") from exc
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise TravelTimeError("OSRM answered with invalid JSON") from exc
        if not isinstance(payload, dict) or payload.get("code") != "Ok":
            raise TravelTimeError(f"OSRM table failed: {_describe(payload)}")
        shape = (len(origins), len(destinations))
        return (
            _table_array(payload.get("durations"), shape, "durations"),
            _table_array(payload.get("distances"), shape, "distances"),
        )


def _describe(payload: Any) -> str:
    if isinstance(payload, dict):
        code, message = payload.get("code"), payload.get("message")
        return f"{code}: {message}" if message else str(code)
    return "unexpected answer"


def _table_array(raw: Any, shape: tuple[int, int], name: str) -> FloatArray:
    """OSRM rows as floats; null (no route) becomes NaN."""
    try:
        values = np.array(raw, dtype=np.float64)  # None -> nan
    except (TypeError, ValueError) as exc:
        raise TravelTimeError(f"OSRM {name} is not a numeric table") from exc
    if values.shape != shape:
        raise TravelTimeError(f"OSRM {name} has shape {values.shape}, expected {shape}")
    if np.any(values < 0) or np.any(np.isinf(values)):
        raise TravelTimeError(f"OSRM {name} has negative or infinite values")
    return values


_ID_SHIFT = 32
_MAX_IDS = 1 << 31  # origin id sits above bit 32 of an int64 pair code


class CachedProvider:
    """Bounded, thread-safe pairwise cache in front of another provider.

    Points are keyed by lat/lon rounded to 5 decimals (~1 m). Pairs live in sorted NumPy
    arrays of int64 codes (origin id << 32 | destination id) so that a 1,000-point lookup is
    a handful of vector operations instead of a million dict probes. Eviction is least
    recently used, by pair, once more than ``max_entries`` pairs are held.
    """

    def __init__(self, inner: TravelTimeProvider, max_entries: int = 200_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        self.inner = inner
        self.max_entries = int(max_entries)
        self.hits = 0  # pairs served from the cache
        self.misses = 0  # pairs that had to be asked of the inner provider
        self._lock = threading.Lock()
        self._epoch = 0
        self._reset()

    def __repr__(self) -> str:
        return f"CachedProvider({self.inner!r}, max_entries={self.max_entries})"

    def __len__(self) -> int:
        """Number of cached pairs."""
        return len(self._codes)

    def clear(self) -> None:
        """Forget every cached pair (counters are kept)."""
        with self._lock:
            self._reset()

    def matrix(self, points: Sequence[Point]) -> Matrix:
        """Square matrix over ``points`` with a zero diagonal."""
        return self._get(points, points, square=True)

    def matrix_between(self, origins: Sequence[Point], destinations: Sequence[Point]) -> Matrix:
        """Rectangular matrix: one row per origin, one column per destination."""
        return self._get(origins, destinations, square=False)

    def _reset(self) -> None:
        self._ids: dict[tuple[float, float], int] = {}
        self._next_id = 0
        # Bumped on every reset: a fetch that started before it must not store ids that the
        # fresh numbering may hand to other points.
        self._epoch += 1
        self._codes: IntArray = np.empty(0, np.int64)  # sorted
        self._durations = np.empty(0, np.int64)
        self._distances = np.empty(0, np.int64)
        self._used = np.empty(0, np.int64)  # tick of last use, for LRU eviction
        self._tick = 0

    def _get(
        self, origins: Sequence[Point], destinations: Sequence[Point], *, square: bool
    ) -> Matrix:
        rows, cols = len(origins), len(destinations)
        if rows == 0 or cols == 0:
            return _empty(rows, cols)
        with self._lock:
            self._prune_ids(rows + (0 if square else cols))
            epoch = self._epoch
            origin_ids = self._ids_for(origins)
            destination_ids = origin_ids if square else self._ids_for(destinations)
            codes = (origin_ids[:, None] << _ID_SHIFT) | destination_ids[None, :]
            found, where = self._find(codes)
            durations = np.zeros((rows, cols), np.int64)
            distances = np.zeros((rows, cols), np.int64)
            durations[found] = self._durations[where[found]]
            distances[found] = self._distances[where[found]]
            self._tick += 1
            self._used[where[found]] = self._tick
            n_found = int(found.sum())
            self.hits += n_found
            self.misses += rows * cols - n_found
        missing = ~found
        degraded = False
        if n_found == 0:
            fresh = (
                self.inner.matrix(origins)
                if square
                else self.inner.matrix_between(origins, destinations)
            )
            durations = fresh.durations_s.astype(np.int64, copy=True)
            distances = fresh.distances_m.astype(np.int64, copy=True)
            degraded = fresh.degraded
        elif n_found < rows * cols:
            # Inner calls happen outside the lock: a router call can take seconds and other
            # threads should keep reading the cache meanwhile. Cover the gaps with whole rows
            # and whole columns: new origins x all destinations, then the other origins x new
            # destinations. Gaps left by eviction go to whichever side is cheaper to re-ask.
            gap_rows = np.asarray(missing.all(axis=1))
            gap_cols = np.asarray(missing[~gap_rows].all(axis=0))
            left = missing & ~gap_rows[:, None] & ~gap_cols[None, :]
            if left.any():
                left_rows, left_cols = left.any(axis=1), left.any(axis=0)
                if int(left_rows.sum()) * cols <= int(left_cols.sum()) * rows:
                    gap_rows |= left_rows
                else:
                    gap_cols |= left_cols
            row_ix = np.flatnonzero(gap_rows)
            if row_ix.size:
                part = self.inner.matrix_between(
                    [origins[i] for i in row_ix.tolist()], destinations
                )
                durations[row_ix, :] = part.durations_s
                distances[row_ix, :] = part.distances_m
                degraded = degraded or part.degraded
            other_ix = np.flatnonzero(~gap_rows)
            col_ix = np.flatnonzero(gap_cols & missing[other_ix].any(axis=0))
            if col_ix.size:
                part = self.inner.matrix_between(
                    [origins[i] for i in other_ix.tolist()],
                    [destinations[j] for j in col_ix.tolist()],
                )
                block = np.ix_(other_ix, col_ix)
                durations[block] = part.durations_s
                distances[block] = part.distances_m
                degraded = degraded or part.degraded
        if square:
            np.fill_diagonal(durations, 0)
            np.fill_diagonal(distances, 0)
        if n_found < rows * cols and not degraded:
            with self._lock:
                if self._epoch == epoch:
                    self._store(codes[missing], durations[missing], distances[missing])
        return Matrix(durations, distances, degraded)

    def _prune_ids(self, incoming: int) -> None:
        """Keep the point registry bounded: drop points no cached pair refers to."""
        if self._next_id + incoming >= _MAX_IDS:
            self._reset()  # ids are never reused, so running out means starting over
            return
        if len(self._ids) <= 2 * self.max_entries + 1024:
            return
        # A fetch in flight on another thread may still store pairs under a dropped id; those
        # entries are merely unreachable and age out through LRU eviction.
        live = np.union1d(self._codes >> _ID_SHIFT, self._codes & ((1 << _ID_SHIFT) - 1))
        live_set = set(live.tolist())
        self._ids = {key: ident for key, ident in self._ids.items() if ident in live_set}

    def _ids_for(self, points: Sequence[Point]) -> IntArray:
        ids = np.empty(len(points), np.int64)
        registry = self._ids
        for i, p in enumerate(points):
            key = (round(p.lat, 5), round(p.lon, 5))
            ident = registry.get(key)
            if ident is None:
                ident = registry[key] = self._next_id
                self._next_id += 1
            ids[i] = ident
        return ids

    def _find(self, codes: IntArray) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp]]:
        """Which codes are cached, and where (positions are meaningless where not found)."""
        where = np.searchsorted(self._codes, codes)
        if len(self._codes) == 0:
            return np.zeros(codes.shape, np.bool_), where
        np.minimum(where, len(self._codes) - 1, out=where)
        return self._codes[where] == codes, where

    def _store(
        self,
        codes: IntArray,
        durations: IntArray,
        distances: IntArray,
    ) -> None:
        # Codes usually arrive sorted and unique (ids are handed out in request order), so
        # check that in O(n) before paying for a sort. The same point twice in one request,
        # or two points within ~1 m, give repeated codes.
        if codes.size > 1 and not bool(np.all(codes[1:] > codes[:-1])):
            codes, first = np.unique(codes, return_index=True)
            durations, distances = durations[first], distances[first]
        # Another thread may have stored some of these while this one was fetching.
        found, _ = self._find(codes)
        if found.any():
            codes, durations, distances = codes[~found], durations[~found], distances[~found]
        if codes.size == 0:
            return
        self._tick += 1
        used = np.full(codes.size, self._tick, np.int64)
        if len(self._codes) == 0:
            self._codes, self._durations, self._distances = codes, durations, distances
            self._used = used
            self._evict()
            return
        # Merge two sorted runs: new entry k lands at (its insertion point + k); everything
        # else keeps its order. One pass per array, unlike np.insert's generic path.
        slots = np.searchsorted(self._codes, codes) + np.arange(codes.size)
        old = np.ones(len(self._codes) + codes.size, np.bool_)
        old[slots] = False
        self._codes = _merge(self._codes, codes, slots, old)
        self._durations = _merge(self._durations, durations, slots, old)
        self._distances = _merge(self._distances, distances, slots, old)
        self._used = _merge(self._used, used, slots, old)
        self._evict()

    def _evict(self) -> None:
        """Drop least recently used pairs beyond max_entries."""
        excess = len(self._codes) - self.max_entries
        if excess > 0:
            # Least recently used first; ties within one batch fall arbitrarily, which is fine.
            drop = np.argpartition(self._used, excess - 1)[:excess]
            keep = np.ones(len(self._codes), np.bool_)
            keep[drop] = False
            self._codes = self._codes[keep]
            self._durations = self._durations[keep]
            self._distances = self._distances[keep]
            self._used = self._used[keep]


def _merge(
    current: IntArray, new: IntArray, slots: IntArray, old: npt.NDArray[np.bool_]
) -> IntArray:
    merged = np.empty(old.size, np.int64)
    merged[old] = current
    merged[slots] = new
    return merged


def provider_from_config(
    osrm_url: str | None, speed_kmh: float, detour_factor: float
) -> TravelTimeProvider:
    """Cached OSRM when a URL is configured (estimating when it fails), else cached haversine."""
    estimate = HaversineProvider(speed_kmh=speed_kmh, detour_factor=detour_factor)
    if osrm_url:  # an empty setting means "not configured", like None
        return CachedProvider(OsrmProvider(osrm_url, fallback=estimate))
    return CachedProvider(estimate)
