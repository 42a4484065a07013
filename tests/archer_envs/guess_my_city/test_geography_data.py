"""Guess My City's geography data: the cities' coordinates, admin regions, islands and lakes, the
country outlines they are checked against, and the held-out geography question set."""

import json
import math

import pytest

from archer_envs.core import data_path
from tests import DATA

CITIES = json.loads(data_path("guess_my_city", "cities.json").read_text())["cities"]
COUNTRIES = {
    country["name"]: country
    for country in json.loads(data_path("guess_my_city", "countries.json").read_text())["countries"]
}
QUESTIONS = [
    json.loads(line)
    for line in (DATA / "guess_my_city_geography.jsonl").read_text().splitlines()
    if line.strip()
]
GEOGRAPHY_KEYS = ["latitude", "longitude", "admin_region", "island", "lakes"]
COASTAL_SLACK_KM = 30  # the simplified outlines cut corners off coasts and straits


def edges(polygons: list):
    for ring in polygons:
        yield from zip(ring, ring[1:] + ring[:1], strict=True)


def inside(lon: float, lat: float, polygons: list) -> bool:
    """Even-odd ray test: a ray east from the point crosses the outlines an odd number of times."""
    crossings = 0
    for (x1, y1), (x2, y2) in edges(polygons):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            crossings += 1
    return crossings % 2 == 1


def distance_km(lon: float, lat: float, polygons: list) -> float:
    """Distance from the point to the nearest edge (flat-earth approximation, fine for this)."""
    scale = math.cos(math.radians(lat))
    best = math.inf
    for (x1, y1), (x2, y2) in edges(polygons):
        ax, ay = (x1 - lon) * scale, y1 - lat
        dx, dy = (x2 - x1) * scale, y2 - y1
        length = dx * dx + dy * dy
        t = 0.0 if length == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length))
        best = min(best, math.hypot(ax + t * dx, ay + t * dy) * 111.2)
    return best


def is_names(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


@pytest.mark.parametrize("city", CITIES, ids=lambda city: city["name"])
def test_every_city_has_the_geography_fields(city):
    keys = list(city)
    assert keys[keys.index("nicknames") + 1 :] == GEOGRAPHY_KEYS
    assert isinstance(city["latitude"], float) and -90 <= city["latitude"] <= 90
    assert isinstance(city["longitude"], float) and -180 <= city["longitude"] <= 180
    assert round(city["latitude"], 2) == city["latitude"]
    assert round(city["longitude"], 2) == city["longitude"]
    region = city["admin_region"]
    assert sorted(region) == ["aliases", "areas", "kind", "name"]
    assert isinstance(region["name"], str) and region["name"].strip()
    assert isinstance(region["kind"], str) and region["kind"].strip()
    assert is_names(region["aliases"]) and is_names(region["areas"])
    assert city["island"] is None or (isinstance(city["island"], str) and city["island"].strip())
    assert is_names(city["lakes"]) and is_names(city["rivers"])
    hemisphere_ns = "northern" if city["latitude"] > 0 else "southern"
    hemisphere_ew = "eastern" if city["longitude"] > 0 else "western"
    assert (city["hemisphere_ns"], city["hemisphere_ew"]) == (hemisphere_ns, hemisphere_ew)


@pytest.mark.parametrize("city", CITIES, ids=lambda city: city["name"])
def test_every_city_lies_in_its_country(city):
    outline = COUNTRIES[city["country"]]["outline"]
    lon, lat = city["longitude"], city["latitude"]
    assert inside(lon, lat, outline) or distance_km(lon, lat, outline) < COASTAL_SLACK_KM
    for other in COUNTRIES.values():  # and in no other country
        if other["name"] != city["country"]:
            assert not inside(lon, lat, other["outline"]), other["name"]


def test_countries_cover_the_cities_and_their_neighbours():
    named = {c["country"] for c in CITIES} | {
        n for c in CITIES for n in c["neighbouring_countries"]
    }
    assert named == set(COUNTRIES)
    for city in CITIES:
        country = COUNTRIES[city["country"]]
        assert country["aliases"] == city["country_aliases"]
    continents = {"Africa", "Asia", "Europe", "North America", "South America", "Oceania"}
    for country in COUNTRIES.values():
        assert is_names(country["aliases"]) and country["continent"] in continents
        assert country["outline"], country["name"]
        for polygon in country["outline"]:
            assert len(polygon) >= 3
            for lon, lat in polygon:
                assert -180 <= lon <= 180 and -90 <= lat <= 90


@pytest.mark.parametrize(
    ("city", "neighbour", "near"),
    [
        ("Santiago", "Argentina", True),
        ("Tashkent", "Kazakhstan", True),
        ("Lahore", "India", True),
        ("Kinshasa", "Republic of the Congo", True),
        ("Singapore", "Malaysia", True),
        ("Bogota", "Venezuela", False),
        ("Moscow", "Ukraine", False),
        ("Madrid", "France", False),
    ],
)
def test_outlines_put_borders_where_they_are(city, neighbour, near):
    entry = next(c for c in CITIES if c["name"] == city)
    distance = distance_km(entry["longitude"], entry["latitude"], COUNTRIES[neighbour]["outline"])
    assert distance < 100 if near else distance > 300


def test_outlines_put_cities_in_the_right_part_of_their_country():
    def share_south(name: str) -> float:  # 0 = northernmost point of the country, 1 = southernmost
        city = next(c for c in CITIES if c["name"] == name)
        lats = [lat for polygon in COUNTRIES[city["country"]]["outline"] for _, lat in polygon]
        return (max(lats) - city["latitude"]) / (max(lats) - min(lats))

    assert share_south("Ho Chi Minh City") > 0.8
    assert share_south("Bogota") == pytest.approx(0.5, abs=0.25)


def test_geography_question_set_names_known_cities_classes_and_answers():
    names = {city["name"] for city in CITIES}
    classes = {"region", "position", "island_water", "other_city", "not_sure"}
    assert len(QUESTIONS) >= 350
    for line in QUESTIONS:
        assert sorted(line) == ["city", "class", "expected", "question"], line
        assert line["city"] in names and line["class"] in classes, line
        assert line["expected"] in ("yes", "no", "not sure"), line
        assert line["question"].strip().endswith("?"), line
        assert (line["class"] == "not_sure") == (line["expected"] == "not sure"), line
    pairs = [(line["city"], line["question"].lower()) for line in QUESTIONS]
    assert len(pairs) == len(set(pairs))
