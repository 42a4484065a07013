"""Authoring script: writes data/guess_my_city/countries.json from Natural Earth's 1:110m
admin-0 countries.

Not part of the package and not run by the project (nothing imports it); run it by hand after
changing the countries of cities.json. It needs ``pyshp`` and ``shapely`` and the shapefile
naturalearth_lowres.shp, which the geopandas 0.14.4 wheel bundles (geopandas/datasets/):

    pip install pyshp shapely && pip download geopandas==0.14.4 --no-deps && unzip geopandas-*.whl
    python tools/guess_my_city/build_countries.py \
        geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp

It takes every country of cities.json and every country named in a city's neighbouring_countries,
simplifies each outline with shapely's ``simplify(0.1)`` (degrees, topology kept), keeps the outer
ring of each polygon (no holes) rounded to 2 decimals. The microstates that the 1:110m map leaves
out and the Gaza Strip get the rough hand-drawn outlines of HAND_DRAWN (cut out of the countries
around them: CUT_OUT).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import shapefile  # pyshp
from shapely.geometry import box, shape
from shapely.ops import unary_union

HERE = Path(__file__).parents[2] / "data" / "guess_my_city"  # where the data live
TOLERANCE = 0.1  # degrees, for shapely's simplify

NATURAL_EARTH_NAMES = {  # our name -> its name in the shapefile
    "United States": "United States of America",
    "Democratic Republic of the Congo": "Dem. Rep. Congo",
    "Republic of the Congo": "Congo",
    "Central African Republic": "Central African Rep.",
    "South Sudan": "S. Sudan",
    "Czech Republic": "Czechia",
    "Cote d'Ivoire": "Côte d'Ivoire",
    "Western Sahara": "W. Sahara",
    "Palestine (Gaza Strip)": "Palestine",
}
MERGED = {"Somalia": ("Somalia", "Somaliland")}  # the de jure country, drawn as two on the map

HAND_DRAWN = {  # rough [longitude, latitude] outlines, not Natural Earth's
    "Singapore": [
        [103.64, 1.32],
        [103.7, 1.43],
        [103.81, 1.47],
        [103.92, 1.42],
        [104.03, 1.4],
        [104.03, 1.32],
        [103.87, 1.27],
        [103.8, 1.26],
        [103.7, 1.28],
    ],
    "Andorra": [[1.41, 42.43], [1.79, 42.43], [1.79, 42.66], [1.41, 42.66]],
    "Monaco": [[7.41, 43.72], [7.44, 43.72], [7.44, 43.75], [7.41, 43.75]],
    "San Marino": [[12.4, 43.89], [12.52, 43.89], [12.52, 43.99], [12.4, 43.99]],
    "Vatican City": [[12.445, 41.9], [12.458, 41.9], [12.458, 41.907], [12.445, 41.907]],
}
CUT_OUT = {  # (west, south, east, north) boxes of land that the 1:110m map gives the wrong country
    "Malaysia": (103.6, 1.1, 104.1, 1.42),  # Singapore, south of the Johor Strait
}
GAZA_STRIP = [[34.22, 31.32], [34.27, 31.22], [34.56, 31.54], [34.49, 31.6]]

ALIASES = {  # for countries that are only neighbours (cities' country_aliases cover the rest)
    "Republic of the Congo": ["Congo-Brazzaville"],  # "Congo" is DR Congo's alias
    "Central African Republic": ["CAR"],
    "Czech Republic": ["Czechia"],
    "Palestine (Gaza Strip)": ["Palestine", "State of Palestine", "Gaza Strip", "Gaza"],
    "Timor-Leste": ["East Timor"],
    "Vatican City": ["Vatican", "Holy See"],
}
CONTINENTS = {"Russia": "Europe", "Turkey": "Asia"}  # countries whose cities lie on two continents
HAND_DRAWN_CONTINENTS = {"Singapore": "Asia"}  # the others are in Europe

NOTES = (
    "Countries of cities.json and of their neighbouring_countries. outline: the country's land as"
    " a list of polygons, each a list of [longitude, latitude] pairs (outer rings only, no holes),"
    " from Natural Earth's 1:110m admin-0 countries (public domain; naturalearthdata.com),"
    f" simplified with shapely simplify({TOLERANCE}) and rounded to 2 decimals by"
    " tools/guess_my_city/build_countries.py, so borders and coasts are off by up to about 20 km."
    " Somalia includes Somaliland; 'Palestine (Gaza Strip)' is Natural Earth's West Bank plus a"
    " hand-drawn Gaza Strip; Singapore, Andorra, Monaco, San Marino and Vatican City (too small"
    " for that map) are rough hand-drawn outlines. France includes French Guiana and Corsica;"
    " Morocco's outline excludes Western Sahara, which has its own. continent: the cities'"
    " continent where the country has a city in cities.json."
)


def outline(geometry) -> list[list[list[float]]]:
    """The simplified outer rings of a Natural Earth country."""
    simple = geometry.simplify(TOLERANCE, preserve_topology=True)
    polygons = getattr(simple, "geoms", [simple])
    return [
        [[round(x, 2), round(y, 2)] for x, y in polygon.exterior.coords[:-1]]
        for polygon in polygons
        if not polygon.is_empty
    ]


def main(shapefile_path: str) -> None:
    cities = json.loads((HERE / "cities.json").read_text())["cities"]
    reader = shapefile.Reader(shapefile_path)
    maps = {
        record.record["name"]: (shape(record.shape.__geo_interface__), record.record["continent"])
        for record in reader.shapeRecords()
    }
    aliases = {c["country"]: c["country_aliases"] for c in cities}
    continents = {c["country"]: c["continent"] for c in cities} | CONTINENTS
    neighbours = {n for c in cities for n in c["neighbouring_countries"]}
    names = sorted({c["country"] for c in cities} | neighbours)
    countries = []
    for name in names:
        if name in HAND_DRAWN:
            polygons, continent = [HAND_DRAWN[name]], HAND_DRAWN_CONTINENTS.get(name, "Europe")
        else:
            parts = MERGED.get(name, (NATURAL_EARTH_NAMES.get(name, name),))
            geometry = unary_union([maps[part][0] for part in parts])
            polygons = outline(
                geometry.difference(box(*CUT_OUT[name])) if name in CUT_OUT else geometry
            )
            continent = maps[parts[0]][1]
            if name == "Palestine (Gaza Strip)":
                polygons.append(GAZA_STRIP)
        countries.append(
            {
                "name": name,
                "aliases": aliases.get(name) or ALIASES.get(name, []),
                "continent": continents.get(name, continent),
                "outline": polygons,
            }
        )
    data = {"_notes": NOTES, "countries": countries}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    (HERE / "countries.json").write_text(text.replace('},{"name"', '},\n{"name"') + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
