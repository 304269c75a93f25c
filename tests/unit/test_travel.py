"""geo.travel: haversine matrices, the OSRM table client (against a fake OSRM), the cache."""

from __future__ import annotations

import json
import math
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.points import EARTH_RADIUS_M, Point, haversine_m
from geo.travel import (
    CachedProvider,
    HaversineProvider,
    Matrix,
    OsrmProvider,
    TravelTimeError,
    TravelTimeProvider,
    great_circle_m,
    provider_from_config,
)

PEOPLES_SQUARE = Point(31.2304, 121.4737)
PUDONG_AIRPORT = Point(31.1443, 121.8083)


def shanghai(n: int, seed: int = 7) -> list[Point]:
    """Seeded random points inside Shanghai's extent."""
    rng = random.Random(seed)
    return [Point(rng.uniform(30.9, 31.4), rng.uniform(121.2, 121.8)) for _ in range(n)]


def expected(
    origins: Sequence[Point], destinations: Sequence[Point], speed_kmh: float, detour: float
) -> tuple[np.ndarray, np.ndarray]:
    """The definition, pair by pair with the scalar haversine: what the vector code must equal."""
    dur = [
        [round(haversine_m(a, b) * detour / (speed_kmh / 3.6)) for b in destinations]
        for a in origins
    ]
    dist = [[round(haversine_m(a, b) * detour) for b in destinations] for a in origins]
    return np.array(dur, np.int64), np.array(dist, np.int64)


# --- HaversineProvider ---------------------------------------------------------------------


def test_peoples_square_to_pudong_airport() -> None:
    crow = haversine_m(PEOPLES_SQUARE, PUDONG_AIRPORT)
    assert 30_000 < crow < 35_000
    m = HaversineProvider(speed_kmh=36.0, detour_factor=1.0).matrix(
        [PEOPLES_SQUARE, PUDONG_AIRPORT]
    )
    assert m.distances_m[0, 1] == round(crow)
    assert m.durations_s[0, 1] == round(crow / 10.0)  # 36 km/h is 10 m/s


def test_great_circle_on_exact_arcs() -> None:
    equator = Point(0.0, 0.0)
    d = great_circle_m([equator], [Point(1.0, 0.0), Point(0.0, 90.0), Point(0.0, 180.0)])
    assert d.shape == (1, 3)
    assert d[0, 0] == pytest.approx(EARTH_RADIUS_M * math.pi / 180, rel=1e-12)
    assert d[0, 1] == pytest.approx(EARTH_RADIUS_M * math.pi / 2, rel=1e-12)
    assert d[0, 2] == pytest.approx(EARTH_RADIUS_M * math.pi, rel=1e-12)


points_st = st.lists(
    st.builds(Point, st.floats(-89.9, 89.9), st.floats(-179.9, 179.9)), min_size=1, max_size=6
)


@given(points_st, points_st)
def test_vectorised_distance_matches_scalar_haversine(
    origins: list[Point], destinations: list[Point]
) -> None:
    d = great_circle_m(origins, destinations)
    want = np.array([[haversine_m(a, b) for b in destinations] for a in origins])
    np.testing.assert_allclose(d, want, rtol=1e-9, atol=1.0)


def test_matrix_is_symmetric_with_zero_diagonal() -> None:
    m = HaversineProvider().matrix(shanghai(60))
    assert m.durations_s.dtype == np.int64 and m.distances_m.dtype == np.int64
    assert m.shape == (60, 60)
    assert (m.durations_s == m.durations_s.T).all()
    assert (m.distances_m == m.distances_m.T).all()
    assert (np.diag(m.durations_s) == 0).all() and (np.diag(m.distances_m) == 0).all()
    off = ~np.eye(60, dtype=bool)
    assert (m.durations_s[off] > 0).all() and (m.distances_m[off] > 0).all()


@pytest.mark.parametrize("speed,detour", [(30.0, 1.3), (36.0, 1.5), (18.0, 1.0), (55.5, 2.25)])
def test_detour_and_speed_arithmetic_is_exact(speed: float, detour: float) -> None:
    pts = shanghai(25, seed=3)
    m = HaversineProvider(speed_kmh=speed, detour_factor=detour).matrix(pts)
    want_dur, want_dist = expected(pts, pts, speed, detour)
    np.testing.assert_array_equal(m.distances_m, want_dist)
    np.testing.assert_array_equal(m.durations_s, want_dur)


def test_one_degree_of_meridian_at_ten_metres_a_second() -> None:
    m = HaversineProvider(speed_kmh=36.0, detour_factor=2.0).matrix([Point(0, 0), Point(1, 0)])
    metres = 2 * EARTH_RADIUS_M * math.pi / 180  # 222,390.2 m
    assert m.distances_m[0, 1] == round(metres) == 222_390
    assert m.durations_s[0, 1] == round(metres / 10) == 22_239


def test_min_travel_floor_applies_to_real_trips_only() -> None:
    a, b = Point(31.2, 121.4), Point(31.2001, 121.4)  # ~11 m apart
    m = HaversineProvider(min_travel_s=120).matrix_between([a, a], [a, b])
    assert m.durations_s.tolist() == [[0, 120], [0, 120]]
    plain = HaversineProvider().matrix_between([a], [b])
    assert 0 < plain.durations_s[0, 0] < 120


def test_rectangular_matrix_matches_the_square_one() -> None:
    pts = shanghai(12)
    provider = HaversineProvider()
    full = provider.matrix(pts)
    rect = provider.matrix_between(pts[3:5], pts)
    assert rect.shape == (2, 12)
    np.testing.assert_array_equal(rect.durations_s, full.durations_s[3:5])
    np.testing.assert_array_equal(rect.distances_m, full.distances_m[3:5])
    assert provider.matrix_between(pts, pts[:1]).shape == (12, 1)


def test_empty_inputs() -> None:
    provider = HaversineProvider()
    assert provider.matrix([]).shape == (0, 0)
    assert provider.matrix_between([], shanghai(3)).shape == (0, 3)
    assert provider.matrix_between(shanghai(3), []).shape == (3, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"speed_kmh": 0.0},
        {"speed_kmh": -5.0},
        {"speed_kmh": math.nan},
        {"speed_kmh": math.inf},
        {"detour_factor": 0.99},
        {"detour_factor": math.nan},
        {"min_travel_s": -1},
    ],
)
def test_bad_haversine_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        HaversineProvider(**kwargs)  # type: ignore[arg-type]


def test_matrix_checks_its_arrays() -> None:
    ok = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError):
        Matrix(ok, np.zeros((3, 2), np.int64))
    with pytest.raises(ValueError):
        Matrix(ok, np.zeros((2, 3), np.float64))
    with pytest.raises(ValueError):
        Matrix(np.zeros(3, np.int64), np.zeros(3, np.int64))


# --- a fake OSRM on loopback ----------------------------------------------------------------

BASE_LON, STEP = 121.40, 0.01


def pt(k: int) -> Point:
    """The k-th fake stop: 0.01 degrees of longitude apart, so OSRM can tell them apart."""
    return Point(31.20, BASE_LON + k * STEP)


class FakeOsrm:
    """Answers /table/v1 like OSRM: duration 10*|i-j| (+0.4), distance 100*|i-j| (+0.6)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.unroutable: set[tuple[int, int]] = set()  # (from stop, to stop) answered null
        self.failure: str | None = None
        self.lock = threading.Lock()

    def answer(self, raw_path: str) -> tuple[int, bytes]:
        """(HTTP status, body) for one request."""
        parts = urllib.parse.urlsplit(raw_path)
        _, service, version, profile, coords = parts.path.split("/")
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        stops = [round((float(c.split(",")[0]) - BASE_LON) / STEP) for c in coords.split(";")]
        everyone = ";".join(str(i) for i in range(len(stops)))
        sources = [stops[int(i)] for i in query.get("sources", everyone).split(";")]
        destinations = [stops[int(i)] for i in query.get("destinations", everyone).split(";")]
        with self.lock:
            self.requests.append(
                {
                    "service": (service, version),
                    "profile": profile,
                    "coordinates": stops,
                    "sources": sources,
                    "destinations": destinations,
                    "annotations": query.get("annotations"),
                }
            )
        if self.failure == "http500":
            return 500, b"internal error"
        if self.failure == "nosegment":
            body = {"code": "NoSegment", "message": "Could not find a matching segment"}
            return 400, json.dumps(body).encode()
        if self.failure == "notok":
            return 200, json.dumps({"code": "NoTable"}).encode()
        if self.failure == "garbage":
            return 200, b"<html>proxy error</html>"
        if self.failure == "slow":
            time.sleep(1.0)

        def cell(i: int, j: int, unit: float, extra: float) -> float | None:
            if (i, j) in self.unroutable:
                return None
            return unit * abs(i - j) + (extra if i != j else 0.0)

        payload = {
            "code": "Ok",
            "durations": [[cell(i, j, 10, 0.4) for j in destinations] for i in sources],
            "distances": [[cell(i, j, 100, 0.6) for j in destinations] for i in sources],
        }
        if self.failure == "shape":
            payload["durations"] = payload["durations"][:-1]
        return 200, json.dumps(payload).encode()


class _Server(ThreadingHTTPServer):
    fake: FakeOsrm


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        status, body = self.server.fake.answer(self.path)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def osrm() -> Iterator[tuple[FakeOsrm, str]]:
    """A fake OSRM on 127.0.0.1 with an ephemeral port: (its state, its base URL)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeOsrm()
    # A short poll interval keeps shutdown() (it waits for the next poll) out of test time.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.fake, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def grid(origins: Sequence[int], destinations: Sequence[int], unit: int) -> list[list[int]]:
    return [[unit * abs(i - j) for j in destinations] for i in origins]


# --- OsrmProvider ---------------------------------------------------------------------------


def test_osrm_table_request_and_rounding(osrm: tuple[FakeOsrm, str]) -> None:
    fake, url = osrm
    m = OsrmProvider(url, profile="car").matrix([pt(k) for k in range(4)])
    assert m.durations_s.tolist() == grid(range(4), range(4), 10)  # 10*d + 0.4 rounds down
    assert m.distances_m.tolist() == [
        [100 * abs(i - j) + (1 if i != j else 0) for j in range(4)] for i in range(4)
    ]  # 100*d + 0.6 rounds up
    assert m.durations_s.dtype == np.int64 and not m.degraded
    [req] = fake.requests
    assert req["service"] == ("table", "v1")
    assert req["profile"] == "car"
    assert req["annotations"] == "duration,distance"
    assert req["coordinates"] == [0, 1, 2, 3]  # a square block sends its points once
    assert req["sources"] == req["destinations"] == [0, 1, 2, 3]


def test_osrm_chunks_a_square_matrix(osrm: tuple[FakeOsrm, str]) -> None:
    fake, url = osrm
    m = OsrmProvider(url, max_table_size=3).matrix([pt(k) for k in range(7)])
    assert m.durations_s.tolist() == grid(range(7), range(7), 10)
    # Blocks of 3, 3, 1 -> 3x3 = 9 blocks; the 1x1 diagonal block is a point to itself and
    # OSRM refuses one-coordinate tables, so it is answered locally.
    assert len(fake.requests) == 8
    asked: list[tuple[int, int]] = []
    for req in fake.requests:
        assert len(req["sources"]) <= 3 and len(req["destinations"]) <= 3
        assert len(req["coordinates"]) >= 2
        asked += [(i, j) for i in req["sources"] for j in req["destinations"]]
    assert sorted(asked) == sorted({(i, j) for i in range(7) for j in range(7)} - {(6, 6)})


def test_osrm_rectangular_blocks(osrm: tuple[FakeOsrm, str]) -> None:
    fake, url = osrm
    m = OsrmProvider(url, max_table_size=3).matrix_between(
        [pt(0), pt(5)], [pt(k) for k in range(7)]
    )
    assert m.shape == (2, 7)
    assert m.durations_s.tolist() == grid([0, 5], range(7), 10)
    assert len(fake.requests) == 3
    for req in fake.requests:
        assert req["sources"] == [0, 5]
        assert req["coordinates"][:2] == [0, 5]  # origins first, then this block's columns


def test_osrm_null_cells_use_the_default_estimate(osrm: tuple[FakeOsrm, str]) -> None:
    fake, url = osrm
    fake.unroutable = {(1, 4), (3, 0)}
    provider = OsrmProvider(url)
    m = provider.matrix([pt(k) for k in range(5)])
    estimate = HaversineProvider().matrix_between([pt(1), pt(3)], [pt(4), pt(0)])
    assert m.durations_s[1, 4] == estimate.durations_s[0, 0]
    assert m.distances_m[1, 4] == estimate.distances_m[0, 0]
    assert m.durations_s[3, 0] == estimate.durations_s[1, 1]
    assert m.durations_s[4, 1] == 30  # the way back is routable
    assert provider.unroutable_pairs == 2 and provider.fallbacks == 0
    assert not m.degraded  # unroutable is an answer, not a failure


class Constant:
    """A provider that prices every trip the same, to see where its values land."""

    def __init__(self, seconds: int, metres: int) -> None:
        self.seconds, self.metres = seconds, metres
        self.calls = 0

    def matrix(self, points: Sequence[Point]) -> Matrix:
        m = self.matrix_between(points, points)
        np.fill_diagonal(m.durations_s, 0)
        np.fill_diagonal(m.distances_m, 0)
        return m

    def matrix_between(self, origins: Sequence[Point], destinations: Sequence[Point]) -> Matrix:
        self.calls += 1
        shape = (len(origins), len(destinations))
        return Matrix(np.full(shape, self.seconds, np.int64), np.full(shape, self.metres, np.int64))


def test_osrm_null_cells_use_the_configured_fallback(osrm: tuple[FakeOsrm, str]) -> None:
    fake, url = osrm
    fake.unroutable = {(0, 2)}
    m = OsrmProvider(url, fallback=Constant(777, 8888)).matrix([pt(k) for k in range(3)])
    assert m.durations_s.tolist() == [[0, 10, 777], [10, 0, 10], [20, 10, 0]]
    assert m.distances_m[0, 2] == 8888


@pytest.mark.parametrize(
    "failure,message",
    [
        ("http500", "HTTP 500"),
        ("nosegment", "NoSegment"),
        ("notok", "NoTable"),
        ("garbage", "invalid JSON"),
        ("shape", "shape"),
    ],
)
def test_osrm_failures_raise_without_fallback(
    osrm: tuple[FakeOsrm, str], failure: str, message: str
) -> None:
    fake, url = osrm
    fake.failure = failure
    with pytest.raises(TravelTimeError, match=message):
        OsrmProvider(url).matrix([pt(k) for k in range(3)])


def test_osrm_timeout_raises(osrm: tuple[FakeOsrm, str]) -> None:
    fake, url = osrm
    fake.failure = "slow"
    with pytest.raises(TravelTimeError, match="unreachable"):
        OsrmProvider(url, timeout_s=0.2).matrix([pt(0), pt(1)])


def test_osrm_connection_refused_raises() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TravelTimeError, match="unreachable"):
        OsrmProvider(f"http://127.0.0.1:{port}").matrix_between([pt(0)], [pt(1)])


def test_osrm_failures_fall_back_block_by_block(osrm: tuple[FakeOsrm, str]) -> None:
    fake, url = osrm
    fake.failure = "http500"
    fallback = Constant(5, 50)
    provider = OsrmProvider(url, max_table_size=3, fallback=fallback)
    m = provider.matrix([pt(k) for k in range(7)])
    assert provider.fallbacks == 8 == fallback.calls == len(fake.requests)
    assert m.degraded
    off = ~np.eye(7, dtype=bool)
    assert (m.durations_s[off] == 5).all() and (np.diag(m.durations_s) == 0).all()
    assert (m.distances_m[off] == 50).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "file:///etc/passwd"},
        {"base_url": "localhost:5000"},
        {"base_url": "http://osrm", "profile": "../admin"},
        {"base_url": "http://osrm", "max_table_size": 0},
        {"base_url": "http://osrm", "timeout_s": 0},
    ],
)
def test_bad_osrm_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        OsrmProvider(**kwargs)


# --- CachedProvider -------------------------------------------------------------------------


class Recording:
    """Wraps a provider and records what it was asked."""

    def __init__(self, inner: TravelTimeProvider | None = None, degraded: bool = False) -> None:
        self.inner = inner or HaversineProvider()
        self.degraded = degraded
        self.calls: list[tuple[str, list[Point], list[Point]]] = []
        self.on_call: Callable[[], None] = lambda: None

    def _mark(self, m: Matrix) -> Matrix:
        return Matrix(m.durations_s, m.distances_m, self.degraded)

    def matrix(self, points: Sequence[Point]) -> Matrix:
        self.calls.append(("matrix", list(points), list(points)))
        self.on_call()
        return self._mark(self.inner.matrix(points))

    def matrix_between(self, origins: Sequence[Point], destinations: Sequence[Point]) -> Matrix:
        self.calls.append(("between", list(origins), list(destinations)))
        self.on_call()
        return self._mark(self.inner.matrix_between(origins, destinations))


def assert_same(a: Matrix, b: Matrix) -> None:
    np.testing.assert_array_equal(a.durations_s, b.durations_s)
    np.testing.assert_array_equal(a.distances_m, b.distances_m)


def test_cache_hits_and_misses() -> None:
    inner = Recording()
    cache = CachedProvider(inner)
    pts = shanghai(7)
    first = cache.matrix(pts)
    assert (cache.hits, cache.misses, len(cache)) == (0, 49, 49)
    assert [c[0] for c in inner.calls] == ["matrix"]
    second = cache.matrix(pts)
    assert (cache.hits, cache.misses) == (49, 49)
    assert len(inner.calls) == 1
    assert_same(first, second)
    assert_same(second, HaversineProvider().matrix(pts))


def test_cache_asks_only_for_new_pairs() -> None:
    inner = Recording()
    cache = CachedProvider(inner)
    old = shanghai(7)
    cache.matrix(old)
    new = Point(31.05, 121.33)
    m = cache.matrix([*old, new])
    assert inner.calls[1:] == [("between", [new], [*old, new]), ("between", old, [new])]
    assert (cache.hits, cache.misses) == (49, 49 + 15)
    assert_same(m, HaversineProvider().matrix([*old, new]))


def test_cache_is_keyed_by_place_not_position() -> None:
    inner = Recording()
    cache = CachedProvider(inner)
    pts = shanghai(6)
    cache.matrix(pts)
    shuffled = pts[::-1]
    assert_same(cache.matrix(shuffled), HaversineProvider().matrix(shuffled))
    rect = cache.matrix_between(pts[2:4], pts)
    assert_same(rect, HaversineProvider().matrix_between(pts[2:4], pts))
    assert len(inner.calls) == 1


def test_cache_rounds_points_to_about_a_metre() -> None:
    inner = Recording()
    cache = CachedProvider(inner)
    a, b = Point(31.2, 121.4), Point(31.3, 121.5)
    cache.matrix_between([a], [b])
    cache.matrix_between([Point(31.2000004, 121.3999996)], [b])  # rounds to the same key
    assert len(inner.calls) == 1
    cache.matrix_between([Point(31.20002, 121.4)], [b])  # ~2 m away: another key
    assert len(inner.calls) == 2


def test_cache_is_bounded_and_evicts_least_recently_used() -> None:
    inner = Recording()
    cache = CachedProvider(inner, max_entries=8)
    a = Point(31.0, 121.0)
    first = [Point(31.1, 121.0 + k / 100) for k in range(4)]
    second = [Point(31.2, 121.0 + k / 100) for k in range(4)]
    third = [Point(31.3, 121.0 + k / 100) for k in range(4)]
    cache.matrix_between([a], first)
    cache.matrix_between([a], second)
    assert len(cache) == 8
    cache.matrix_between([a], first)  # touch: `second` is now the least recently used
    cache.matrix_between([a], third)
    assert len(cache) == 8
    calls = len(inner.calls)
    cache.matrix_between([a], first)
    cache.matrix_between([a], third)
    assert len(inner.calls) == calls  # both still cached
    cache.matrix_between([a], second)
    assert len(inner.calls) == calls + 1  # evicted
    assert len(cache) == 8
    cache.matrix(shanghai(10))  # 100 pairs into 8 slots
    assert len(cache) == 8


def test_cache_does_not_keep_degraded_answers() -> None:
    inner = Recording(degraded=True)
    cache = CachedProvider(inner)
    pts = shanghai(4)
    assert cache.matrix(pts).degraded
    assert cache.matrix(pts).degraded
    assert len(inner.calls) == 2 and len(cache) == 0


def test_cache_clear_during_a_fetch_drops_that_fetch() -> None:
    inner = Recording()
    cache = CachedProvider(inner)
    inner.on_call = cache.clear  # ids handed out before a clear must not be stored after it
    cache.matrix(shanghai(5))
    assert len(cache) == 0


def test_cache_tolerates_pairs_stored_meanwhile() -> None:
    inner = Recording()
    cache = CachedProvider(inner)
    pts = shanghai(5)

    def another_thread_gets_there_first() -> None:
        inner.on_call = lambda: None
        cache.matrix(pts)

    inner.on_call = another_thread_gets_there_first
    assert_same(cache.matrix(pts), HaversineProvider().matrix(pts))
    assert len(cache) == 25  # stored once, not twice
    assert len(inner.calls) == 2 and cache.misses == 50
    cache.matrix(pts)
    assert len(inner.calls) == 2


def test_cache_empty_and_bad_arguments() -> None:
    inner = Recording()
    cache = CachedProvider(inner)
    assert cache.matrix([]).shape == (0, 0)
    assert cache.matrix_between(shanghai(2), []).shape == (2, 0)
    assert inner.calls == []
    with pytest.raises(ValueError):
        CachedProvider(inner, max_entries=0)


def test_cache_from_many_threads() -> None:
    pool = shanghai(40, seed=11)
    direct = HaversineProvider()
    cache = CachedProvider(HaversineProvider(), max_entries=500)
    errors: list[BaseException] = []
    asked = [0] * 8

    def worker(index: int) -> None:
        rng = random.Random(index)
        try:
            for _ in range(25):
                pts = rng.sample(pool, rng.randint(1, 25))
                if rng.random() < 0.5:
                    got, want = cache.matrix(pts), direct.matrix(pts)
                else:
                    got, want = (
                        cache.matrix_between(pts[:3], pts),
                        direct.matrix_between(pts[:3], pts),
                    )
                assert_same(got, want)
                asked[index] += got.durations_s.size
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.hits + cache.misses == sum(asked)
    assert cache.hits > 0 and len(cache) <= 500


# --- configuration --------------------------------------------------------------------------


def test_provider_from_config_without_osrm() -> None:
    provider = provider_from_config(None, speed_kmh=25.0, detour_factor=1.4)
    assert isinstance(provider, CachedProvider)
    assert isinstance(provider.inner, HaversineProvider)
    assert (provider.inner.speed_kmh, provider.inner.detour_factor) == (25.0, 1.4)
    assert isinstance(provider_from_config("", 25.0, 1.4), CachedProvider)


def test_provider_from_config_with_osrm(osrm: tuple[FakeOsrm, str]) -> None:
    fake, url = osrm
    provider = provider_from_config(url, speed_kmh=25.0, detour_factor=1.4)
    assert isinstance(provider, CachedProvider)
    assert isinstance(provider.inner, OsrmProvider)
    assert isinstance(provider.inner.fallback, HaversineProvider)
    assert provider.inner.fallback.speed_kmh == 25.0
    pts = [pt(k) for k in range(3)]
    assert provider.matrix(pts).durations_s.tolist() == grid(range(3), range(3), 10)
    provider.matrix(pts)
    assert len(fake.requests) == 1  # second time from the cache
