"""Guess My City's geography: the geometry helpers, how the reader reads questions about
regions, positions, borders, islands, lakes and other cities, and the oracle's accuracy on the
held-out geography questions (tests/data/guess_my_city_geography.jsonl)."""

import json
from collections import Counter

import numpy as np
import pytest

from archer_envs.guess_my_city import geography
from archer_envs.guess_my_city.knowledge import (
    NOT_SURE,
    AdminRegion,
    CityOracle,
    default_cities,
    load_cities,
)
from archer_envs.question_game import NO, YES
from tests import DATA

SQUARE = [[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]]  # [lon, lat] corners


@pytest.fixture(scope="module")
def oracle():
    return CityOracle()


# --- geometry ------------------------------------------------------------------------------------
def test_haversine_distances():
    assert geography.haversine_km(51.51, -0.13, 48.86, 2.35) == pytest.approx(343, abs=3)
    assert geography.haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.2, abs=0.5)
    assert geography.haversine_km(10, 10, 10, 10) == 0


def test_distance_to_an_outline_and_inside():
    assert geography.distance_to_outline_km(5, 12, SQUARE) == pytest.approx(
        2 * geography.KM_PER_DEGREE * np.cos(np.radians(5)), rel=1e-6
    )
    assert geography.distance_to_outline_km(5, 5, SQUARE) == pytest.approx(
        5 * geography.KM_PER_DEGREE * np.cos(np.radians(5)), rel=1e-6
    )
    assert geography.distance_to_outline_km(0, 0, []) == float("inf")
    lats, lons = np.array([5.0, 5.0, 11.0]), np.array([5.0, 11.0, 5.0])
    assert geography.inside(lats, lons, SQUARE[0]).tolist() == [True, False, False]


def test_the_coast_is_the_outline_without_its_land_borders():
    """A square country whose east side borders another square: its coast is the other three
    sides, so a point near the border is far from the coast."""
    neighbour = [[[10, 0], [20, 0], [20, 10], [10, 10]]]
    degree = geography.KM_PER_DEGREE * np.cos(np.radians(5))
    assert geography.coast_distance_km(5, 9, SQUARE, [neighbour], reach_km=1000) == pytest.approx(
        5 * geography.KM_PER_DEGREE, rel=0.01
    )  # to the north and south sides; the east side (1 degree away) is a border
    assert geography.coast_distance_km(5, 1, SQUARE, [neighbour]) == pytest.approx(degree)
    assert geography.coast_distance_km(5, 9, SQUARE, []) == pytest.approx(degree)
    assert geography.coast_distance_km(5, 5, SQUARE, [], reach_km=100) == float("inf")


def test_position_is_the_share_of_the_land_south_and_west():
    centre = geography.position_in(5, 5, SQUARE)
    assert centre.north == pytest.approx(0.5, abs=0.02)
    assert centre.east == pytest.approx(0.5, abs=0.02)
    corner = geography.position_in(9.9, 0.1, SQUARE)
    assert corner.north > 0.97 and corner.east < 0.03
    # a far-off island does not count
    assert geography.position_in(5, 5, [*SQUARE, [[100, 5], [101, 5], [101, 6]]]) == centre


def test_position_across_the_antimeridian():
    land = [[[170.0, 0.0], [180.0, 0.0], [180.0, 10.0], [170.0, 10.0]]]
    land.append([[-180.0, 0.0], [-170.0, 0.0], [-170.0, 10.0], [-180.0, 10.0]])
    assert geography.position_in(5, 179.9, land).east == pytest.approx(0.5, abs=0.03)


def test_containing_polygon():
    island = [[20.0, 0.0], [22.0, 0.0], [22.0, 2.0]]
    assert geography.containing_polygon(5, 5, [*SQUARE, island]) == SQUARE[0]
    assert geography.containing_polygon(50, 50, SQUARE) is None


def test_every_city_lies_in_its_countrys_outline():
    outlines = geography.default_outlines()
    for city in default_cities():
        outline = outlines[city.country]["outline"]
        assert geography.containing_polygon(city.latitude, city.longitude, outline), city.name


# --- the knowledge -------------------------------------------------------------------------------
def test_cities_carry_their_geography():
    tokyo = next(c for c in default_cities() if c.name == "Tokyo")
    assert (tokyo.latitude, tokyo.longitude, tokyo.island) == (35.69, 139.69, "Honshu")
    assert tokyo.admin_region.name == "Tokyo" and "Kanto" in tokyo.admin_region.areas
    old = {"name": "Atlantis", "country": "Sea", "continent": "Europe"}
    (city,) = load_cities([old])  # files without the geography keys still load
    assert city.latitude is None and city.admin_region == AdminRegion() and city.lakes == ()
    with pytest.raises(ValueError, match="unknown keys"):
        load_cities([{**old, "admin_region": {"name": "X", "capital": "Y"}}])


# --- reading -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Is it in the state of Kerala?", "place"),
        ("Is it in Ontario province?", "place"),
        ("Is it in the Kanto region?", "place"),
        ("Is it in the north of the country?", "pos"),
        ("Is it in northern Peru?", "pos"),
        ("Is it near the border with Chile?", "border_near"),
        ("Is it near the Indian border?", "border_near"),
        ("Is it near Osaka?", "near"),
        ("Is it close to Kobe?", "near"),
        ("Is it within 50 miles of Kobe?", "near"),
        ("Is it east of Osaka?", "dir_of"),
        ("Is it in the same province as Hangzhou?", "same_admin"),
        ("Is it on an island?", "island_any"),
        ("Is it on Honshu?", "island"),
        ("Is it on Lake Michigan?", "lake"),
        ("Is there a lake in the city?", "lake_any"),
        ("Is it near the equator?", "equator"),
        ("Is it a special administrative region?", "admin_kind"),
        ("Is the city you are from Hanoi?", "elsewhere"),
    ],
)
def test_the_reader_reads_geography_questions(oracle, question, kind):
    assert oracle.reader.read(question)[0] == kind


@pytest.mark.parametrize(
    ("city", "question", "expected"),
    [
        ("Madras", "Is it in the state of Tamil Nadu?", YES),
        ("Berlin", "Is your city in Bavaria?", NO),
        ("Toronto", "Is it in Ontario province?", YES),
        ("Osaka", "Is it in the Kanto region?", NO),
        ("Paris", "Is it in Ile-de-France?", YES),
        ("Chicago", "Is it in New England?", NO),
        ("Lima", "Is it in Atlantis province?", NOT_SURE),
        ("Seoul", "Is it in the north of the country?", YES),
        ("Pusan", "Is it in the southeast of South Korea?", YES),
        ("Delhi", "Is it in southern India?", NO),
        ("Los Angeles", "Is it on the west coast of the United States?", YES),
        ("Lahore", "Is it close to the Indian border?", YES),
        ("Toronto", "Is it near the US border?", YES),
        ("Wuhan", "Is it near the border with another country?", NO),
        ("Moscow", "Is it near the equator?", NO),
        ("Medan", "Is it on the island of Java?", NO),
        ("Chicago", "Is it on the shore of Lake Michigan?", YES),
        ("Paris", "Is it on the Rhine?", NO),
        ("Tokyo", "Is it within 100 km of Yokohama?", YES),
        ("Tokyo", "Is it far from Osaka?", YES),
        ("Osaka", "Is it north of Tokyo?", NO),
        ("Guangzhou", "Is it in the same province as Shenzhen?", YES),
        ("Osaka", "Is it in the same prefecture as Kobe?", NO),
        ("Rome", "Is it near Naples?", NOT_SURE),  # about 190 km: neither near nor far
        ("Bangkok", "Is the city you are from Phuket?", NO),
        ("London", "Is it in Westminster?", NOT_SURE),
        ("Seoul", "Is it in the Itaewon district?", NOT_SURE),
        ("Bangkok", "Is it near the coast?", YES),  # about 30 km from the gulf
        ("Bangkok", "Is it on the coast?", NO),  # its own coastal fact
        ("Madrid", "Is it near the sea?", NO),
        ("Moscow", "Is it far from the coast?", YES),
        ("Cairo", "Is it near the coast?", NOT_SURE),  # about 150 km: neither near nor far
        ("Madrid", "Is it in the northern part of Europe?", NO),  # between the continent's ends
        ("Moscow", "Is it in the eastern part of Europe?", YES),
        ("Kinshasa", "Is it in the southern part of Africa?", NO),
        ("Tokyo", "Is it in the east of Asia?", YES),
        ("Sydney", "Is it in the southern part of Asia?", NO),  # another continent
        ("Berlin", "Is it east of France?", YES),  # beyond the whole country that way
        ("Madrid", "Is it east of France?", NO),  # not even past its middle
        ("Paris", "Is it east of France?", NO),  # in it
        ("Tashkent", "Is it northeast of Iran?", YES),
        ("Kiev", "Is it west of Russia?", NOT_SURE),  # west of its middle, not of all of it
    ],
)
def test_geography_answers(oracle, city, question, expected):
    assert oracle.answer_one(city, question) == expected


def test_region_names_with_the_citys_name_stay_out_of_answers(oracle):
    assert oracle.answer_one("Tokyo", "Is it in Tokyo Metropolis?") == YES
    assert oracle.answer_one("Jakarta", "Is it in the Special Capital Region?") == YES
    assert "Tokyo" not in oracle.answer_one("Tokyo", "Which region is it in?")


# --- the geography question sets ------------------------------------------------------------------
FLOORS = {  # measured, rounded down to the percent
    "region": 1.00,
    "position": 0.99,
    "island_water": 1.00,
    "other_city": 1.00,
    "not_sure": 1.00,
}
OVERALL_FLOOR = 0.99


def test_geography_development_set_accuracy(oracle):
    """668 questions written before the oracle read any; some of its errors were looked at while
    the general rules were written, so this is a development figure."""
    lines = [json.loads(line) for line in (DATA / "guess_my_city_geography.jsonl").open()]
    wanted = {"yes": YES, "no": NO, "not sure": NOT_SURE}
    right, total = Counter(), Counter()
    confident_when_unsure = []
    for line in lines:
        answer = oracle.answer_one(line["city"], line["question"])
        total[line["class"]] += 1
        right[line["class"]] += answer == wanted[line["expected"]]
        if line["class"] == "not_sure" and answer in (YES, NO):
            confident_when_unsure.append((line["city"], line["question"], answer))
    accuracy = {kind: right[kind] / total[kind] for kind in total}
    overall = sum(right.values()) / sum(total.values())
    print(
        f"geography development set: {overall:.3f} overall;",
        {k: f"{v:.3f}" for k, v in accuracy.items()},
    )
    assert not confident_when_unsure
    assert overall >= max(0.90, OVERALL_FLOOR)
    for kind, floor in FLOORS.items():
        assert accuracy[kind] >= max(0.85, floor), kind


def test_every_city_is_in_its_admin_region_and_areas(oracle):
    regions = geography.default_regions()
    for city in default_cities():
        assert regions[city.country]["subdivisions"], city.country
        for place in (city.admin_region.name, *city.admin_region.areas):
            if place == "Northeast":  # a position: "in the northeast (of the country)"
                continue
            assert oracle.answer_one(city.name, f"Is it in {place}?") == YES, (city.name, place)


def test_fresh_geography_questions(oracle):
    """69 questions written after the rules, in other words than the development set's, and
    run once: 67 right (the misses: Santiago "close to the Argentine border?" is answered not
    sure, about 100 km being between the near and far distances; "Is it near Copacabana?",
    keyed not sure, is answered Yes, which is true of Rio)."""
    lines = [json.loads(line) for line in (DATA / "guess_my_city_geography_fresh.jsonl").open()]
    wanted = {"yes": YES, "no": NO, "not sure": NOT_SURE}
    right = sum(
        oracle.answer_one(ln["city"], ln["question"]) == wanted[ln["expected"]] for ln in lines
    )
    print(f"fresh geography questions: {right}/{len(lines)}")
    assert len(lines) == 69 and right >= 67
