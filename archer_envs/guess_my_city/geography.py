"""Geometry on the cities' coordinates and the country outlines of data/guess_my_city/
(countries.json): distances, inside-or-not, and where a point lies within a country.

Points are (latitude, longitude) in degrees; an outline is a list of polygons, each a list of
[longitude, latitude] pairs (the JSON's order).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EARTH_KM = 6371.0
KM_PER_DEGREE = 111.2
Outline = Sequence[Sequence[Sequence[float]]]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points, in km."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float(2 * EARTH_KM * np.arcsin(np.sqrt(min(1.0, a))))


def _edges(outline: Outline) -> np.ndarray:
    """Every edge of the outline's rings as rows (lon1, lat1, lon2, lat2)."""
    rows = [
        np.hstack([ring, np.roll(ring, -1, axis=0)])
        for ring in (np.asarray(r, dtype=float) for r in outline)
        if len(ring) > 1
    ]
    return np.vstack(rows) if rows else np.zeros((0, 4))


def wrap(degrees: np.ndarray) -> np.ndarray:
    """Longitude differences within -180..180 (across the antimeridian)."""
    return (degrees + 180) % 360 - 180


def _edge_distances_km(lat: float, lon: float, edges: np.ndarray) -> np.ndarray:
    """Distance from a point to each edge (rows lon1, lat1, lon2, lat2; locally flat), in km."""
    scale = np.cos(np.radians(lat))
    ax, ay = wrap(edges[:, 0] - lon) * scale, edges[:, 1] - lat
    dx, dy = wrap(edges[:, 2] - edges[:, 0]) * scale, edges[:, 3] - edges[:, 1]
    length = dx * dx + dy * dy
    t = np.clip(-(ax * dx + ay * dy) / np.where(length == 0, 1, length), 0, 1)
    return np.hypot(ax + t * dx, ay + t * dy) * KM_PER_DEGREE


def distance_to_outline_km(lat: float, lon: float, outline: Outline) -> float:
    """Distance from a point to the nearest edge of an outline, in km."""
    edges = _edges(outline)
    return float(np.min(_edge_distances_km(lat, lon, edges))) if len(edges) else float("inf")


def coast_distance_km(
    lat: float,
    lon: float,
    outline: Outline,
    neighbours: Sequence[Outline],
    border_km: float = 25.0,
    reach_km: float = 500.0,
) -> float:
    """Distance from a point to the coast of the land ``outline``: its edges within ``reach_km``
    that are not a land border (an edge both of whose ends lie more than ``border_km`` from
    every neighbouring country's outline); inf where there is none that near."""
    edges = _edges(outline)
    if not len(edges):
        return float("inf")
    distances = _edge_distances_km(lat, lon, edges)
    near = distances < reach_km
    edges, distances = edges[near], distances[near]
    others = [e for e in map(_edges, neighbours) if len(e)]

    def on_a_border(x: float, y: float) -> bool:
        return any(_edge_distances_km(y, x, e).min() <= border_km for e in others)

    border = np.array(
        [on_a_border(x1, y1) and on_a_border(x2, y2) for x1, y1, x2, y2 in edges], dtype=bool
    )
    coast = distances[~border]
    return float(coast.min()) if len(coast) else float("inf")


def inside(lats: np.ndarray, lons: np.ndarray, ring: Sequence[Sequence[float]]) -> np.ndarray:
    """Which of the points lie inside one polygon (even-odd ray test)."""
    result = np.zeros(np.shape(lats), dtype=bool)
    points = np.asarray(ring, dtype=float)
    for (x1, y1), (x2, y2) in zip(points, np.roll(points, -1, axis=0), strict=True):
        if y1 == y2:
            continue
        crosses = (y1 > lats) != (y2 > lats)
        result ^= crosses & (lons < x1 + (lats - y1) * (x2 - x1) / (y2 - y1))
    return result


@dataclass(frozen=True)
class Position:
    """Where a point lies in a land: the share of the land's area south of it (``north``, 0 at
    the southern end, 1 at the northern) and west of it (``east``)."""

    north: float
    east: float


def position_in(lat: float, lon: float, outline: Outline, reach_km: float = 3000) -> Position:
    """The point's position in the land of ``outline``, counting only the polygons within
    ``reach_km`` of it (a mainland without its far-off islands and territories)."""
    polygons = [
        ring
        for ring in outline
        if distance_to_outline_km(lat, lon, [ring]) < reach_km
        or inside(np.array([lat]), np.array([lon]), ring)[0]
    ]
    lats, lons, weights = _area_sample(tuple(tuple(map(tuple, r)) for r in polygons), lon)
    if not len(lats):
        return Position(0.5, 0.5)
    total = weights.sum()
    return Position(
        float(weights[lats < lat].sum() / total), float(weights[lons < lon].sum() / total)
    )


@functools.lru_cache(maxsize=256)
def _area_sample(
    polygons: tuple, lon: float, points: int = 20_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid points inside the polygons (longitudes within 180 degrees of ``lon``), each weighted
    by the area it stands for."""
    rings = [np.asarray(r, dtype=float) for r in polygons]
    for ring in rings:
        ring[:, 0] = wrap(ring[:, 0] - lon) + lon  # across the antimeridian
    if not rings:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    every = np.vstack(rings)
    (west, south), (east, north) = every.min(axis=0), every.max(axis=0)
    step = max(0.02, float(np.sqrt((east - west) * (north - south) / points)))
    grid_lons, grid_lats = np.meshgrid(
        np.arange(west + step / 2, east, step), np.arange(south + step / 2, north, step)
    )
    lats, lons = grid_lats.ravel(), grid_lons.ravel()
    keep = np.zeros(lats.shape, dtype=bool)
    for ring in rings:
        keep |= inside(lats, lons, ring)
    lats, lons = lats[keep], lons[keep]
    return lats, lons, np.cos(np.radians(lats))


def containing_polygon(lat: float, lon: float, outline: Outline) -> list | None:
    """The polygon of the outline the point lies in, else the nearest (within 50 km)."""
    for ring in outline:
        if inside(np.array([lat]), np.array([lon]), ring)[0]:
            return list(ring)
    nearest = min(outline, key=lambda ring: distance_to_outline_km(lat, lon, [ring]), default=None)
    if nearest is not None and distance_to_outline_km(lat, lon, [nearest]) < 50:
        return list(nearest)
    return None


@functools.cache
def default_outlines() -> dict[str, dict]:
    """countries.json: each country's name (and aliases) -> its entry."""
    from archer_envs.core import data_path

    countries = json.loads(data_path("guess_my_city", "countries.json").read_text())["countries"]
    return {country["name"]: country for country in countries}


@functools.cache
def default_regions() -> dict[str, dict]:
    """regions.json: country -> {"subdivisions": [[names...]...], "areas": [[names...]...]}."""
    from archer_envs.core import data_path

    return json.loads(data_path("guess_my_city", "regions.json").read_text())["countries"]


@functools.cache
def default_world_cities() -> tuple[tuple, ...]:
    """world_cities.json: (name, country, admin1, latitude, longitude, thousands of people)."""
    from archer_envs.core import data_path

    rows = json.loads(data_path("guess_my_city", "world_cities.json").read_text())["cities"]
    return tuple(map(tuple, rows))
