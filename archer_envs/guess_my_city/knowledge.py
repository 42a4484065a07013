"""The offline knowledge-base oracle for Guess My City, and the leak filter every oracle's answer
goes through.

The knowledge (data/guess_my_city/cities.json) holds, for every city, the facts people ask
about: country, continent, region, hemispheres, capital status, coast, seas and rivers,
elevation, climate and seasons, population band, languages, religions, food, landmarks
(described without their names), what it is famous for, neighbouring countries, time zone and
currency. ``CityReader`` reads a question, as people and LLM agents write it, into either

    a yes/no logical form   ("continent", "asia"), ("country", "japan"), ("pop", ">", 10.0),
                            ("cities", (3, 7)), ("not", f), ("and", (f, ...)), ("or", (f, ...)),
    an open topic           ("open", "language"), ("open", "winter"), ...,
    a request for the name  ("refuse",), or nothing it can answer.

``CityOracle`` evaluates the reading against the hidden city in three-valued logic (a fact the
data does not settle is unknown) and answers in one or two sentences as someone from the city:
"Yes." / "No." for yes/no questions, a short sentence for open ones that never names the city
and never names the country, and "I'm not sure about that." for anything the facts do not cover.

``reveals(text, names)`` is the filter: it finds a city's names in any text also when written in
another case, with accents, spaced out ("T o k y o", "T-O-K-Y-O"), reversed, or base64-encoded.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import json
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from archer_envs.guess_my_city import geography
from archer_envs.oracles.base import Query
from archer_envs.oracles.english import (
    INDIRECT,
    LEAD_IN,
    NEGATIVE_INTERROGATIVE,
    TAG_QUESTION,
    TOKEN,
    NeedleIndex,
    Prefiltered,
    alternation,
    join,
    last_question,
    listing,
    normalise,
)
from archer_envs.question_game import NO, YES

NOT_SURE = "I'm not sure about that."
REFUSAL = "I can't tell you that: my city's name is what you have to guess!"
WITHHELD = "I can't answer that question."  # what is left of a reply that gave a name away


# --- the knowledge -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdminRegion:
    """The first-level subdivision a city lies in: its name, kind ("state", "prefecture"...),
    other names (which may hold the city's own name: never said) and wider informal areas."""

    name: str = ""
    kind: str = ""
    aliases: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()


@dataclass(frozen=True)
class City:
    """The facts of one city (see data/guess_my_city/ for their meaning)."""

    name: str
    aliases: tuple[str, ...]
    country: str
    country_aliases: tuple[str, ...]
    continent: str
    region: str
    hemisphere_ns: str
    hemisphere_ew: str
    capital: str
    capital_of: str | None
    coastal: bool
    seas: tuple[str, ...]
    rivers: tuple[str, ...]
    elevation: str
    elevation_m: float | None
    climate: str
    climate_description: str
    summer: str
    winter: str
    snow: bool | None
    rainy_season: str | None
    population_band: str
    languages: tuple[str, ...]
    religions: tuple[str, ...]
    cuisine: str
    dishes: tuple[str, ...]
    landmarks: tuple[str, ...]
    famous_for: tuple[str, ...]
    industries: tuple[str, ...]
    sports: tuple[str, ...]
    history: str
    neighbouring_countries: tuple[str, ...]
    utc_offset: float | None
    currency: str
    nicknames: tuple[str, ...]
    latitude: float | None = None
    longitude: float | None = None
    admin_region: AdminRegion = AdminRegion()
    island: str | None = None
    lakes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical name first, then every accepted alias."""
        return (self.name, *self.aliases)

    @property
    def proper_names(self) -> tuple[str, ...]:
        """Its names and spellings, without the aliases that are nicknames ("Big Apple")."""
        nicknames = {fold(n) for n in self.nicknames}
        return tuple(n for n in self.names if fold(n) not in nicknames)


_REQUIRED = ("name", "country", "continent")
_CAPITALS = ("national", "state", "none")


def _city_from_dict(entry: dict[str, Any]) -> City:
    if not isinstance(entry, dict):
        raise TypeError(f"a city is a JSON object, got {entry!r:.80}")
    missing = [key for key in _REQUIRED if not entry.get(key)]
    if missing:
        raise ValueError(f"city {entry.get('name')!r} lacks {missing}")
    known = {f.name: f for f in fields(City)}
    unknown = sorted(set(entry) - set(known))
    if unknown:
        raise ValueError(f"city {entry['name']!r} has unknown keys {unknown}")
    values: dict[str, Any] = {}
    for name, spec in known.items():
        value = entry.get(name)
        kind = str(spec.type)
        if kind.startswith("tuple"):
            if isinstance(value, str):
                value = [value]
            value = tuple(str(v) for v in (value or ()) if str(v).strip())
        elif kind == "bool":
            value = bool(value)
        elif kind == "bool | None":
            value = None if value is None else bool(value)
        elif kind == "float | None":
            value = None if value is None else float(value)
        elif kind == "str | None":
            value = None if value in (None, "") else str(value)
        elif kind == "AdminRegion":
            value = _admin_region(value or {})
        else:
            value = "" if value is None else str(value)
        values[name] = value
    values["capital"] = values["capital"].lower() or "none"
    if values["capital"] not in _CAPITALS:
        raise ValueError(
            f"city {entry['name']!r}: capital must be one of {_CAPITALS}, got {values['capital']!r}"
        )
    return City(**values)


def _admin_region(entry: dict[str, Any]) -> AdminRegion:
    if not isinstance(entry, dict):
        raise TypeError(f"an admin_region is a JSON object, got {entry!r:.80}")
    unknown = sorted(set(entry) - {f.name for f in fields(AdminRegion)})
    if unknown:
        raise ValueError(f"admin_region {entry.get('name')!r} has unknown keys {unknown}")
    return AdminRegion(
        str(entry.get("name") or ""),
        str(entry.get("kind") or ""),
        tuple(str(a) for a in entry.get("aliases") or ()),
        tuple(str(a) for a in entry.get("areas") or ()),
    )


def load_cities(source: str | os.PathLike | Sequence[dict] | None = None) -> tuple[City, ...]:
    """The cities of data/guess_my_city/cities.json, or of your own file (``{"cities": [...]}``)
    or list of dicts in that format. Names must be unique across cities."""
    if source is None:
        from archer_envs.core import data_path

        source = data_path("guess_my_city", "cities.json")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"city knowledge file {path} does not exist")
        loaded = json.loads(path.read_text())
        source = loaded["cities"] if isinstance(loaded, dict) else loaded
    cities = tuple(_city_from_dict(entry) for entry in source)
    if not cities:
        raise ValueError("no cities given")
    seen: dict[str, str] = {}
    for city in cities:
        for name in city.names:
            key = fold(name)
            if key in seen and seen[key] != city.name:
                raise ValueError(f"the name {name!r} belongs to both {seen[key]} and {city.name}")
            seen[key] = city.name
    return cities


@functools.cache
def default_cities() -> tuple[City, ...]:
    return load_cities()


# --- names ---------------------------------------------------------------------------------------
def ascii_fold(text: str) -> str:
    """``text`` without accents ("São Paulo" -> "Sao Paulo")."""
    if text.isascii():
        return text  # no accents to take off
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@functools.lru_cache(maxsize=65_536)  # a question is folded whole and as its clause
def fold(text: str) -> str:
    """Lowercase ASCII words separated by single spaces (the parser's normal form)."""
    return normalise(ascii_fold(text))


def name_forms(name: str, countries: Iterable[str] = ()) -> set[str]:
    """The ways people write a city's name: as given, without its spaces ("pyongyang"), "st" for
    "saint" and back, and without a final "city" unless what is left is a country ("Quezon"
    for Quezon City, never "Mexico" for Mexico City)."""
    base = fold(name)
    forms = {base}
    if base.startswith("saint "):
        forms.add("st " + base[6:])
    if base.startswith("st "):
        forms.add("saint " + base[3:])
    if base.endswith(" city") and base[:-5] not in {fold(c) for c in countries}:
        forms.add(base[:-5])
    forms |= {form.replace(" ", "") for form in forms if " " in form}
    # two-letter forms ("la", "to" from "T.O.") are words, not names: see ``acronym``
    return {form for form in forms if len(form.replace(" ", "")) >= 3}


# two-letter words that are never read as a city's acronym, even in capitals
_WORDS = frozenset(
    "AM AN AS AT BE BY DO GO HE HI IF IN IS IT ME MY NO OF OH OK ON OR SO TO UP US WE".split()
)


def acronym(name: str) -> str | None:
    """The capitals of a two-letter acronym alias ("LA", "L.A.", "HK"), matched case-sensitively
    so that "la" and "to" stay words; None for other names."""
    letters = re.sub(r"[^A-Za-z]", "", ascii_fold(name))
    if len(letters) == 2 and letters.isupper() and letters not in _WORDS:
        return letters
    return None


# phrases that contain a city's name but mean something else
_NOT_CITIES = (
    "rio de la plata",
    "el salvador",
    "salvador dali",
    "new york state",
    "state of new york",
)


class CityIndex:
    """Finds the cities a text names, by any alias (without ``nicknames``: by their proper
    names only), longest name first."""

    def __init__(self, cities: Sequence[City], nicknames: bool = True):
        self.cities = tuple(cities)
        self.nicknames = nicknames
        names = [city.names if nicknames else city.proper_names for city in cities]
        countries = {c.country for c in cities} | {a for c in cities for a in c.country_aliases}
        self.forms: dict[str, int | None] = {}
        for i, city_names in enumerate(names):
            for name in city_names:
                for form in name_forms(name, countries):
                    self.forms.setdefault(form, i)
        self.acronyms = {
            letters: i
            for i, city_names in enumerate(names)
            for letters in map(acronym, city_names)
            if letters is not None
        }
        for phrase in _NOT_CITIES:
            self.forms[phrase] = None
        self.phrases = _Phrases(self.forms)
        # multi-word names as written ("La Habana"), so that their words are not acronyms
        spaced = sorted((f for f in self.forms if " " in f), key=len, reverse=True)
        self.spaced_regex = re.compile(
            r"(?i)(?<![a-z0-9])(?:"
            + "|".join(r"[^a-z0-9]+".join(map(re.escape, f.split())) for f in spaced)
            + r")(?![a-z0-9])"
        )
        self.acronym_regex = re.compile(
            r"(?<![A-Za-z])(?:"
            + "|".join(rf"{a[0]}\.?{a[1]}\.?" for a in sorted(self.acronyms))
            + r")(?![A-Za-z])"
        )
        self.named = functools.lru_cache(maxsize=100_000)(self._named)

    def __getstate__(self):
        return {"cities": self.cities, "nicknames": self.nicknames}

    def __setstate__(self, state):
        self.__init__(state["cities"], state["nicknames"])

    def mentions(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, city index) of every city named in a *folded* text."""
        return [
            (m.start(), m.end(), self.forms[m.group(0)])
            for m in self.phrases.finditer(text, frozenset(TOKEN.findall(text)))
            if self.forms[m.group(0)] is not None
        ]

    def _named(self, text: str) -> frozenset[int]:
        """The cities a text as written names, by any alias (two-letter acronyms in capitals)."""
        found = {i for _, _, i in self.mentions(fold(text))}
        plain = ascii_fold(text)
        acronyms = list(self.acronym_regex.finditer(plain)) if self.acronyms else []
        if acronyms:  # the words of a spaced name are not acronyms
            names = [m.span() for m in self.spaced_regex.finditer(plain)]
            found |= {
                self.acronyms[re.sub(r"\.", "", m.group(0))]
                for m in acronyms
                if not any(start <= m.start() < end for start, end in names)
            }
        return frozenset(found)


# --- the leak filter ---------------------------------------------------------------------------
def _letter_runs(text: str) -> tuple[str, list[bool], list[bool]]:
    """The letters of ``text`` (lowercase, unaccented) as one string, and for each letter whether
    it starts / ends a word."""
    letters: list[str] = []
    starts: list[bool] = []
    previous_letter = False
    for char in ascii_fold(text).lower():
        if "a" <= char <= "z":
            letters.append(char)
            starts.append(not previous_letter)
            previous_letter = True
        else:
            previous_letter = False
    ends = [starts[i + 1] if i + 1 < len(starts) else True for i in range(len(starts))]
    return "".join(letters), starts, ends


def _base64_texts(text: str) -> list[str]:
    decoded = []
    for token in re.findall(r"[A-Za-z0-9+/]{8,}={0,2}", text):
        padded = token + "=" * (-len(token) % 4)
        try:
            decoded.append(base64.b64decode(padded, validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    return decoded


@functools.lru_cache(maxsize=1024)
def _secret_letters(names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The names as lowercase letters (three or more), and the two-letter acronyms."""
    targets, capitals = [], []
    for name in names:
        letters = re.sub(r"[^a-z]", "", ascii_fold(name).lower())
        if len(letters) >= 3:
            targets.append(letters)
        elif acronym(name):
            capitals.append(acronym(name))
    return targets, capitals


def reveals(text: str, names: Iterable[str]) -> bool:
    """Whether ``text`` gives away one of ``names``: in any case or accents, spaced out or split
    by punctuation ("T o k y o", "t-o-k-y-o", "Tok yo"), as the start of a longer word
    ("Tokyoite"), reversed ("oykot"), or base64-encoded. A name must begin where a word begins,
    so that "Lima" is not found in "climate" nor "Rome" in "from everywhere"."""
    targets, capitals = _secret_letters(tuple(names))
    plain = ascii_fold(text)
    for letters in capitals:
        if re.search(rf"(?<![A-Za-z]){letters[0]}\.?{letters[1]}(?![A-Za-z])", plain):
            return True
    for candidate in (text, *_base64_texts(text)):
        letters, starts, ends = _letter_runs(candidate)
        for target in targets:
            for word, whole in ((target, len(target) < 4), (target[::-1], True)):
                position = letters.find(word)
                while position != -1:
                    end = position + len(word) - 1
                    if starts[position] and (ends[end] or not whole):
                        return True
                    position = letters.find(word, position + 1)
    return False


def city_secret_names(city: City) -> tuple[str, ...]:
    """What an oracle must never say: the city's names, their forms and its nicknames."""
    return tuple(sorted({*city.names, *city.nicknames} | set().union(*map(name_forms, city.names))))


# --- reading questions -------------------------------------------------------------------------
Form = tuple

# fmt: off
_CONTINENTS = {
    "africa": "africa", "african": "africa", "asia": "asia", "asian": "asia",
    "europe": "europe", "european": "europe", "north america": "north america",
    "north american": "north america", "south america": "south america",
    "south american": "south america", "oceania": "oceania", "australasia": "oceania",
    "australia": "oceania",
}
_COUNTRY_EXTRA = {  # other ways to say the countries of the list
    "united states": ("usa", "us", "u s", "u s a", "united states of america", "america",
                      "the states"),
    "usa": ("united states", "u s", "u s a", "united states of america", "america", "the states"),
    "united kingdom": ("uk", "u k", "britain", "great britain", "england"),
    "uk": ("united kingdom", "u k", "britain", "great britain", "england"),
    "south korea": ("korea", "republic of korea"),
    "north korea": ("korea", "dprk"),
    "china": ("prc", "people s republic of china", "mainland china"),
    "dr congo": ("congo", "democratic republic of the congo", "drc", "zaire"),
    "democratic republic of the congo": ("congo", "dr congo", "drc", "zaire"),
    "congo": ("dr congo", "democratic republic of the congo", "drc", "zaire"),
    "cote d ivoire": ("ivory coast", "cote divoire"),
    "myanmar": ("burma",), "iran": ("persia",), "netherlands": ("holland",),
    "russia": ("russian federation",), "turkey": ("turkiye",), "czechia": ("czech republic",),
}
_DEMONYMS = {
    "india": "indian", "china": "chinese", "japan": "japanese", "south korea": "south korean",
    "north korea": "north korean", "indonesia": "indonesian", "pakistan": "pakistani",
    "russia": "russian", "turkey": "turkish", "mexico": "mexican", "usa": "american",
    "united states": "american", "thailand": "thai", "uk": "british", "united kingdom": "british",
    "egypt": "egyptian", "iran": "iranian", "colombia": "colombian", "peru": "peruvian",
    "brazil": "brazilian", "chile": "chilean", "australia": "australian",
    "singapore": "singaporean", "iraq": "iraqi", "bangladesh": "bangladeshi",
    "germany": "german", "vietnam": "vietnamese", "argentina": "argentinian",
    "morocco": "moroccan", "spain": "spanish", "italy": "italian", "taiwan": "taiwanese",
    "ukraine": "ukrainian", "myanmar": "burmese", "canada": "canadian", "ethiopia": "ethiopian",
    "cuba": "cuban", "france": "french", "uzbekistan": "uzbek", "ecuador": "ecuadorian",
    "romania": "romanian", "philippines": "filipino", "hungary": "hungarian",
    "venezuela": "venezuelan", "cote d ivoire": "ivorian", "dr congo": "congolese",
    "nigeria": "nigerian", "kenya": "kenyan", "greece": "greek", "poland": "polish",
    "portugal": "portuguese", "sweden": "swedish", "saudi arabia": "saudi",
}
_WORLD_COUNTRIES = tuple(  # countries people ask about that no city of the list is in
    "nigeria, kenya, south africa, ghana, algeria, tunisia, libya, sudan, tanzania, uganda, "
    "angola, saudi arabia, israel, jordan, syria, lebanon, yemen, oman, qatar, kuwait, "
    "afghanistan, nepal, sri lanka, malaysia, cambodia, laos, mongolia, kazakhstan, "
    "new zealand, greece, portugal, poland, sweden, norway, finland, denmark, netherlands, "
    "belgium, switzerland, austria, ireland, czechia, serbia, bulgaria, belarus, georgia, "
    "armenia, azerbaijan, bolivia, paraguay, uruguay, panama, guatemala, honduras, nicaragua, "
    "costa rica, jamaica, haiti, dominican republic, puerto rico, germany, france, italy, "
    "spain, canada, australia, vietnam, thailand, philippines, egypt, morocco, peru, chile, "
    "argentina, colombia, venezuela, ecuador, cuba, mexico, brazil, india, china, japan, "
    "indonesia, pakistan, bangladesh, iran, iraq, turkey, russia, ukraine, romania, hungary, "
    "uzbekistan, ethiopia, myanmar, taiwan, singapore, south korea, north korea".split(", ")
)
_LANGUAGES_EXTRA = (
    "english spanish french portuguese arabic chinese mandarin cantonese russian german "
    "italian japanese korean hindi urdu bengali bangla turkish persian farsi indonesian "
    "javanese sundanese malay thai vietnamese tagalog filipino burmese ukrainian romanian "
    "hungarian uzbek amharic swahili tamil telugu kannada marathi gujarati punjabi greek dutch "
    "polish hebrew romance slavic germanic"
).split()
_SOVIET = {"russia", "ukraine", "uzbekistan", "belarus", "kazakhstan", "georgia", "armenia",
           "azerbaijan", "moldova", "lithuania", "latvia", "estonia", "kyrgyzstan", "tajikistan",
           "turkmenistan"}
_LANGUAGE_SYNONYMS = {
    "romance": ("spanish", "portuguese", "french", "italian", "romanian", "catalan"),
    "slavic": ("russian", "ukrainian", "polish", "czech", "serbian", "bulgarian", "belarusian"),
    "germanic": ("english", "german", "dutch", "swedish", "danish", "norwegian"),
    "chinese": ("mandarin", "cantonese", "chinese", "wu", "shanghainese"),
    "farsi": ("persian", "farsi"), "persian": ("persian", "farsi"),
    "bangla": ("bengali", "bangla"), "bengali": ("bengali", "bangla"),
    "filipino": ("filipino", "tagalog"), "tagalog": ("filipino", "tagalog"),
}
_RELIGIONS = {
    "muslim": "islam", "muslims": "islam", "islam": "islam", "islamic": "islam",
    "christian": "christian", "christians": "christian", "christianity": "christian",
    "catholic": "catholic", "catholics": "catholic", "catholicism": "catholic",
    "roman catholic": "catholic", "protestant": "protestant", "protestants": "protestant",
    "protestantism": "protestant", "evangelical": "protestant", "orthodox": "orthodox",
    "hindu": "hindu", "hindus": "hindu", "hinduism": "hindu", "buddhist": "buddh",
    "buddhists": "buddh", "buddhism": "buddh", "jewish": "jew", "jews": "jew", "judaism": "jew",
    "shinto": "shinto", "shintoism": "shinto", "taoism": "tao", "taoist": "tao", "sikh": "sikh",
    "sikhism": "sikh", "confucian": "confuci", "confucianism": "confuci",
    "atheist": "irreligio", "atheism": "irreligio", "non religious": "irreligio",
    "irreligious": "irreligio", "secular": "irreligio", "shia": "shia", "shiite": "shia",
    "sunni": "sunni", "no religion": "irreligio",
}
_RELIGION_MATCH = {
    "christian": ("christian", "catholic", "protestant", "orthodox", "evangelical", "anglican"),
    "irreligio": ("irreligio", "no religion", "non religious", "atheis", "secular"),
    "jew": ("jew", "juda"),
}
_CURRENCIES = {
    "euro": "euro", "euros": "euro", "dollar": "dollar", "dollars": "dollar", "yen": "yen",
    "yuan": "yuan", "renminbi": "yuan", "rmb": "yuan", "rupee": "rupee", "rupees": "rupee",
    "rupiah": "rupiah", "peso": "peso", "pesos": "peso", "real": "real", "reais": "real",
    "pound": "pound", "pounds": "pound", "sterling": "pound", "won": "won", "ruble": "rub",
    "rubles": "rub", "rouble": "rub", "roubles": "rub", "lira": "lira", "baht": "baht",
    "dong": "dong", "naira": "naira", "rand": "rand", "franc": "franc", "francs": "franc",
    "dinar": "dinar", "rial": "rial", "riyal": "riyal", "sol": "sol", "soles": "sol",
    "birr": "birr", "som": "som", "sum": "som", "kyat": "kyat", "taka": "taka",
    "forint": "forint", "leu": "leu", "lei": "leu", "hryvnia": "hryvnia", "bolivar": "bolivar",
    "bolivares": "bolivar", "dirham": "dirham", "ringgit": "ringgit", "us dollar": "us dollar",
    "american dollar": "us dollar", "u s dollar": "us dollar", "cfa franc": "cfa franc",
}
_CURRENCY_MATCH = {
    "rub": ("ruble", "rouble"), "yuan": ("yuan", "renminbi"), "real": ("real", "reais"),
    "pound": ("pound", "sterling"),
    "us dollar": ("us dollar", "united states dollar", "u s dollar"),
    "som": ("som", "sum"), "leu": ("leu", "lei"),
}
_AMBIGUOUS_CURRENCIES = {"real", "reais", "pound", "pounds", "won", "sol", "sum", "rand", "dong",
                         "som", "lei", "franc", "francs", "sterling"}
_NUMBERS = {
    "a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "twenty five": 25, "thirty": 30, "forty": 40, "fifty": 50, "half a": 0.5,
}
_MORE = ("more than|over|above|at least|greater than|bigger than|larger than|exceeds?|"
         "exceeding|in excess of|upwards of")
_LESS = "less than|fewer than|under|below|at most|not more than|smaller than"
_STOP = frozenset(
    """a an the of and or in on at to for with from by is are was were be it its it s your
    you there their they this that city town place country people what which does do did has
    have had famous known very big large small many much most lot lots any some one two three
    also well good great really quite popular main major important local well known often
    usually can could would should will not no yes near around about into over as than more
    less such other others part kind type sort get got like just home lives live living
    something anything thing things many world area areas region nation industry industries
    sector business businesses economy hub center centre capital renowned celebrated noted
    there s here its has province provinces prefecture prefectures oblast governorate county
    territory""".split()
)
# fmt: on


_INLINE: dict[str, Prefiltered] = {}  # the reader's patterns written where they are used


def _prefiltered(pattern: str) -> Prefiltered:
    regex = _INLINE.get(pattern)
    if regex is None:
        regex = _INLINE[pattern] = Prefiltered(pattern)
    return regex


def _search(pattern: str, text: str) -> re.Match | None:
    """``re.search``, that first looks for the literal texts every match holds."""
    return _prefiltered(pattern).search(text)


def _finditer(pattern: str, text: str) -> Iterable[re.Match]:
    return _prefiltered(pattern).finditer(text)


def _sub(pattern: str, replacement: str, text: str) -> str:
    return _prefiltered(pattern).sub(replacement, text)


class _Phrases:
    """Phrases found as whole words (``alternation``), searched only in texts where one of
    their first words stands as a word: most questions name none of them."""

    def __init__(self, phrases: Iterable[str], regex: re.Pattern | None = None):
        phrases = set(phrases)
        self.regex = regex or alternation(phrases)
        starts = [TOKEN.match(phrase) for phrase in phrases]
        self.starts = frozenset(m.group(0) for m in starts if m) if all(starts) else None

    def finditer(self, text: str, words: frozenset[str]) -> Iterable[re.Match]:
        if self.starts is not None and self.starts.isdisjoint(words):
            return ()
        return self.regex.finditer(text)


_CONTINENT_PHRASES = _Phrases(_CONTINENTS)
_RELIGION_PHRASES = _Phrases(_RELIGIONS)
_CURRENCY_PHRASES = _Phrases(_CURRENCIES)

_NAME_REQUEST = Prefiltered(
    r"\b(?:names?|named|called|call (?:it|your city|the city)|spell\w*|letters?|initials?|"
    r"rhym\w*|anagram\w*|acronym|abbreviat\w*|nick ?names?|"
    r"backwards?|reversed?|revers\w+|base ?64|encode\w*|decode\w*|"
    r"cipher|acrostic|demonym|syllables?|starts? with|begins? with|ends? with|"
    r"first word|last word|characters?|hash|morse|rot ?13|hex\w*|binary|emoji\w*|"
    r"translate|translat\w+|"
    r"in (?:french|spanish|german|chinese|japanese|russian|arabic|latin)\b(?! america)"
    r"|what city|which city|city s name|the answer|your answer|reveal\w*|tell me the city|"
    r"say (?:the|its|it s|your city s) name|type the|write the|fill in|complete the|"
    r"complete this|blank|(?:what|which) (?:is|s) (?:your|the) (?:home ?town|city)$|"
    r"where (?:do you|are you|you) (?:live|from|come from))\b"
)
# names of other things (a mayor, a club, an airport, a street): the facts hold none of them
_OTHER_NAMES = Prefiltered(
    r"\b(?:mayor\w*|chief of police|police chief|governor|postcode|post code|zip code|"
    r"area code|postal address|address|airports?|iata|football club|soccer club|sports? club|"
    r"teams? (?:name|called)|name of (?:the|your|its|a|their|my) (?!city\b|town\b|home ?town\b)"
    r"\w+|(?:favou?rite|best) (?:restaurant|bar|cafe|hotel|shop|street|park)|restaurants?|"
    r"streets?|neighbou?rhoods?|districts?|suburbs?|(?:village|town|hamlet) of|communes?|"
    r"sectors?|(?:in|near) the [a-z]+(?: [a-z]+)? (?:market|area|quarter))\b"
)
_OPEN_START = re.compile(
    r"^(?:what|what s|which|where|whereabouts|when|who|whom|whose|why|how|describe|tell|give|"
    r"name|list|"
    r"say|explain|share|talk|mention|anything|any|i (?:would|d) like to know|"
    r"(?:in|on|at|from|to) (?:which|what)|could you describe|can you describe|can you tell|"
    r"could you tell|would you tell|"
    r"can you share|could you share|please describe|please tell)\b"
)
_TAG = Prefiltered(
    r" (?:is|are|does|do|did|was|were|has|have|can|will|would) (?:it|you|they|there|we|he|she)$"
)
_UNKNOWN = Prefiltered(
    r"\b(?:yesterday|tomorrow|tonight|right now|this (?:week|month|year)|forecast|"
    r"(?:weather|temperature|it)(?: like)? today|"
    r"last (?:week|month|year|night|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"summer|winter)|exact|exactly|per square|density|rent|rents|prices?|costs?|salar\w*|wages?|"
    r"(?:my|your) (?:neighbou?rs?(?! countr)|family|friends?|job|age|pets?|dog|cat|car|house|"
    r"flat|apartment|school|street)|personally|own a|tourists?|cats|dogs|ships|statistics|"
    r"percent|percentage|ride the|mayor|president|prime minister|king|queen|crime|safe|"
    r"dangerous|expensive|cheap|wealthy|rich|poor|gdp|earthquakes?|typhoons?|hurricanes?|"
    r"cyclones?|volcano\w*|tsunamis?|subway|metro|underground|universit\w*|zoo|museums?|"
    r"bridges?|traffic|pollut\w*|smog|born|celebrit\w*|famous people|who (?:is|was)|"
    r"when was|what year|which year|founded|how old|older than|phone|internet speed|"
    r"wifi|speed limit|elections?|vote|voted|law|laws|legal|tax|taxes|colon\w*|"
    r"(?:former|old|ancient|historic|once|ever|used to be|formerly) (?:the |a )?capital|"
    r"(?:largest|biggest|most populous|second largest|smallest) city|communis\w*|"
    r"exchange rate|january|february|march|april|june|july|august|september|october|"
    r"november|december|how many (?!people\b|inhabitants|residents|citizens|million))\b|"
    r"\b\d+ (?!million|billion|thousand|m\b|meters|metres|feet|ft|km|kilometers|kilometres|"
    r"miles?\b|people|"
    r"inhabitants|residents|hours?|degrees|c\b|f\b|percent)[a-z]+"
)
_CHOICE = Prefiltered(
    r"\b(?:sea|ocean|coast|river) or (?:a |an |the |on a |on the )?"
    r"(?:river|lake|sea|ocean|coast)\b|"
    r"\b(?:northern|southern|eastern|western|north|south|east|west|coast\w*|inland|hot|cold|"
    r"warm|big|small|high|low|wet|dry|capital) or (?:the )?(?:northern|southern|eastern|"
    r"western|north|south|east|west|coast\w*|inland|hot|cold|warm|big|small|high|low|wet|dry|"
    r"not)\b(?! not)"
)
_UTC_PLUS = re.compile(r"(?i)\b(utc|gmt) ?\+ ?")
_UTC_MINUS = re.compile(r"(?i)\b(utc|gmt) ?[-\u2212] ?")
_AUX_WORDS = "is|are|does|do|can|could|would|will|was|were|has|have|should|might|may|did|must|am"
_AUX = re.compile(rf"^(?:{_AUX_WORDS})\b")
_AUX_NOT = Prefiltered(rf"^({_AUX_WORDS}) not ")
_QUESTION_WORD = re.compile(rf"^(?:{_AUX_WORDS}|what|which|where|how|who|when|why)\b")


class _Asked:
    """A folded yes/no question, its words, and what it is about where that changes how a name
    reads ("French" is a language when speaking is asked about, else a country): worked out
    when a detector first asks."""

    def __init__(self, text: str):
        self.text = text
        self.words = frozenset(TOKEN.findall(text))

    @functools.cached_property
    def language(self) -> bool:
        return bool(_search(r"\b(?:speak\w*|spoken|language|languages|tongue)\b", self.text))

    @functools.cached_property
    def money(self) -> bool:
        return bool(_search(r"\b(?:currency|money|pay|paid|cash|coins?|notes|use)\b", self.text))

    @functools.cached_property
    def border(self) -> bool:
        return bool(_search(r"\b(?:border\w*|neighbou?r\w*|adjacent|next to)\b", self.text))

    @functools.cached_property
    def main(self) -> bool:
        return bool(
            _search(
                r"\b(?:main|mostly|majority|most|predominant\w*|primar\w*|largely|dominant|"
                r"official|mainly|biggest|largest|chief)\b",
                self.text,
            )
        )


Detected = Iterator[tuple[re.Match, Form]]


def _comparison(phrase: str) -> str:
    """The comparison a phrase makes: ">" (more than), "<" (less than) or "~" (about)."""
    return ">" if re.match(_MORE, phrase) else "<" if re.match(_LESS, phrase) else "~"


class CityReader:
    """Reads English questions about a hidden city into forms (see the module docstring)."""

    def __init__(self, cities: Sequence[City]):
        self.cities = tuple(cities)
        self.index = CityIndex(self.cities)
        self._build()
        self.read = functools.lru_cache(maxsize=200_000)(self._read)
        self._topic_stems = functools.lru_cache(maxsize=100_000)(self._word_topic)

    def __getstate__(self):
        return {"cities": self.cities}

    def __setstate__(self, state):
        self.__init__(state["cities"])

    # vocabularies built from the knowledge
    def _build(self) -> None:
        cities = self.cities
        self.country_forms = _country_forms(cities)
        self.demonyms = _demonym_countries(self.country_forms)
        self.country_phrases = _Phrases(self.country_forms)
        self.demonym_phrases = _Phrases(self.demonyms)
        self.regions = sorted({fold(c.region) for c in cities if c.region})
        self.region_regexes = [  # "north america" is the continent
            (region, Prefiltered(rf"\b{re.escape(region)}\b"))
            for region in self.regions
            if region not in _CONTINENTS
        ]
        self.region_index = NeedleIndex([regex for _, regex in self.region_regexes])
        languages = {fold(lang) for c in cities for lang in c.languages} | set(_LANGUAGES_EXTRA)
        self.language_phrases = _Phrases(languages)
        self.seas = seas = _sea_forms(cities)
        for sea in _WORLD_SEAS:
            seas.setdefault(sea, sea)
        seas.setdefault("rio de la plata", "river plate")
        self.sea_phrases = _Phrases(seas, _with_preposition(seas)) if seas else None
        self.rivers = rivers = _river_forms(cities)
        for river in _WORLD_RIVERS:
            rivers.setdefault(river, re.sub(r" river$", "", river))
        self.river_phrases = _Phrases(rivers, _with_preposition(rivers)) if rivers else None
        self._build_geography()
        climates = {fold(c.climate) for c in cities if c.climate}
        self.climate_regex = Prefiltered(
            rf"\b(?:an? )?({'|'.join(sorted(map(re.escape, climates), key=len, reverse=True))})"
            r" climate\b"
        )
        dishes = {fold(d) for c in cities for d in c.dishes if len(fold(d)) > 2}
        self.dish_phrases = _Phrases(dishes) if dishes else None
        sports = {fold(s) for c in cities for s in c.sports} | set(
            "football, soccer, cricket, baseball, basketball, ice hockey, hockey, rugby, tennis, "
            "sumo, golf, volleyball, badminton, boxing, american football".split(", ")
        )
        self.sport_phrases = _Phrases(sports)
        self.capital_of = {fold(c.capital_of) for c in cities if c.capital_of}
        # content words of the free-text facts (food, fame, industry, landmarks, history)
        self.topic_words = {
            _stem(w)
            for c in cities
            for text in (_free_text(c), c.cuisine, " ".join(c.dishes))
            for w in fold(text).split()
            if w not in _STOP and len(w) > 2
        }
        self.topic_blob = " ".join(sorted(self.topic_words))
        guards = [_Guard.of(sources(self)) for _, sources in _DETECTORS]
        self.detector_index = _DetectorIndex(guards)

    def _build_geography(self) -> None:
        """The places, islands, lakes and world cities a question may name."""
        cities = self.cities
        excluded = {*self.country_forms, *_CONTINENTS, *_STOP, *_GENERIC_PLACES, *_SEA_WORDS}
        self.places = _place_vocabulary(cities, excluded)
        self.place_words: dict[str, int] = {}  # a first word -> the most words after it
        for form in self.places:
            first, *rest = form.split()
            self.place_words[first] = max(self.place_words.get(first, 0), len(rest) + 1)
        self.place_matches = functools.lru_cache(maxsize=100_000)(self._place_matches)
        self.islands = {
            form: island
            for island in {fold(c.island) for c in cities if c.island} | set(_WORLD_ISLANDS)
            for form in {island, re.sub(r" island$", "", island)}
            if form not in _STOP
        }
        self.island_phrases = _Phrases(
            self.islands,
            re.compile(
                r"(?<![a-z0-9])(?:(?:on|in) )?(?:the )?(?:island of )?("
                + "|".join(map(re.escape, sorted(self.islands, key=len, reverse=True)))
                + r")(?: island)?(?![a-z0-9])"
            ),
        )
        lakes = {fold(lake) for c in cities for lake in c.lakes} | set(_WORLD_LAKES)
        self.lake_phrases = _Phrases(
            lakes,
            re.compile(
                r"(?<![a-z0-9])(?:(?:on|by|along|near|beside|at) )?(?:the )?(?:(?:shores?|banks?|"
                r"edge|coast) of (?:the )?)?("
                + "|".join(map(re.escape, sorted(lakes, key=len, reverse=True)))
                + r")(?![a-z0-9])"
            ),
        )
        kinds = {fold(c.admin_region.kind) for c in cities if " " in fold(c.admin_region.kind)}
        self.kind_phrases = _Phrases(
            kinds,
            re.compile(rf"(?<![a-z0-9])(?:a|an) ({alternation(kinds).pattern})(?! capital)"),
        )
        self.world = _world_city_forms(self.country_forms)

    def _unknown_name(self, pattern: Prefiltered, text: str) -> bool:
        """Whether the pattern finds what the facts do not hold, outside a known place's name
        ("metro" is not asked about in "Metro Manila")."""
        found = pattern.search(text)
        if found is None:
            return False
        places = self.place_spans(text)
        return not any(start <= found.start() < end for start, end in places)

    def place_spans(self, text: str) -> list[tuple[int, int]]:
        """Where a folded text names a subdivision or an area."""
        return [(start, end) for start, end, _ in self.place_matches(text)]

    def _place_matches(self, text: str) -> tuple[tuple[int, int, str], ...]:
        """(start, end, name) of each subdivision or area a folded text names (the longest name
        that starts at a word), with the words around it ("in the state of Kerala", "Punjab
        province")."""
        tokens = [(m.start(), m.end(), m.group(0)) for m in TOKEN.finditer(text)]
        words = [token[2] for token in tokens]
        found, i = [], 0
        while i < len(words):
            for n in range(min(self.place_words.get(words[i], 0), len(words) - i), 0, -1):
                name = " ".join(words[i : i + n])
                if name in self.places:
                    first, last = _place_context(words, i, i + n)
                    found.append((tokens[first][0], tokens[last - 1][1], name))
                    i += n - 1
                    break
            i += 1
        return tuple(found)

    # --- the reading ----------------------------------------------------------------------------
    def _read(self, question: str) -> Form | None:
        text = self._clause(question)
        if not text:
            return None
        if self._unknown_name(_OTHER_NAMES, text):
            return ("unknown",)
        if _NAME_REQUEST.search(text):
            return ("refuse",)
        mentioned = self.index.mentions(text)
        acronyms = self.index.named(question) - {i for _, _, i in mentioned}
        if acronyms:
            return ("cities", tuple(sorted(acronyms | {i for *_, i in mentioned})))
        if self._unknown_name(_UNKNOWN, text):
            return ("unknown",)
        if _OPEN_START.match(text) or (_CHOICE.search(text) and self._open(text)):
            return self._open(text)
        form = self._yes_no(text, mentioned)
        if form is None and not _AUX.match(text):
            return self._open(text)  # a request ("tell me something about your city")
        return form

    @staticmethod
    def _clause(question: str) -> str:
        """The question inside the input: its last sentence that asks one, without lead-ins,
        politeness or tag questions."""
        chosen, _ = last_question(question)
        # "thanks! to narrow it down, is it ...": the question starts after the lead-in
        parts = chosen.split(",")
        for k, part in enumerate(parts[1:], 1):
            lead_in = not _QUESTION_WORD.match(fold(parts[0]))
            if lead_in and _QUESTION_WORD.match(fold(part)) and len(part.split()) > 3:
                chosen = ",".join(parts[k:])
                break
        if "utc" in chosen.lower() or "gmt" in chosen.lower():  # "UTC+5" -> "utc plus 5"
            chosen = _UTC_PLUS.sub(r"\1 plus ", chosen)
            chosen = _UTC_MINUS.sub(r"\1 minus ", chosen)
        text = LEAD_IN.sub("", fold(chosen)).strip()
        text = INDIRECT.sub("", text).strip()
        text = _sub(r"^(?:please|pls|kindly|so|and|but|then) ", "", text)
        text = _sub(r" (?:please|then|now|at all|by any chance|perhaps|maybe)$", "", text)
        text = _sub(
            r"^(?:would|could|do|did) you (?:say|agree|think|guess|reckon)(?: that)? ", "", text
        )
        text = TAG_QUESTION.sub("", text)
        text = _sub(r" (?:is not it|is it not|does not it|do not they|are not they)$", "", text)
        # a statement with a tag asks about the plain fact: "it is not in europe, is it?" and
        # "is not buddhism the main religion?" both ask whether it is
        tagged = _TAG.search(text)
        if tagged and not _AUX.match(text):
            text = _sub(r"\b(?:not|never) ", "", text[: tagged.start()])
        text = NEGATIVE_INTERROGATIVE.sub(r"\1 \2", text)
        text = _AUX_NOT.sub(r"\1 ", text)
        return text.strip()

    def _yes_no(self, text: str, mentioned: list[tuple[int, int, int]]) -> Form | None:
        """``mentioned``: the cities the text names (``CityIndex.mentions``)."""
        if mentioned:
            places = self.place_spans(text)
            mentioned = [
                (s, e, i)
                for s, e, i in mentioned
                if not any(ps <= s and e <= pe and pe - ps > e - s for ps, pe in places)
            ]
        if mentioned:
            return self._about_cities(text, mentioned)
        atoms = self._atoms(text)
        if not atoms:
            return None
        if any(form == ("unknown",) for _, _, form in atoms):
            return ("unknown",)
        atoms.sort()
        groups: list[list[Form]] = [[atoms[0][2]]]
        for (_, end, _), (start, _, form) in itertools.pairwise(atoms):
            between = text[end:start].split()
            if {"or", "nor"} & set(between):
                groups.append([])
            groups[-1].append(form)
        return join("or", [join("and", group) for group in groups])

    def _about_cities(self, text: str, mentioned: list[tuple[int, int, int]]) -> Form:
        indices = tuple(sorted({i for _, _, i in mentioned}))
        relation = _search(
            r"\bsame (country|continent|region|time ?zone|language|hemisphere)\b", text
        )
        if relation and len(indices) == 1:
            other = self.cities[indices[0]]
            kind = relation.group(1).replace(" ", "")
            return {
                "country": ("country", fold(other.country)),
                "continent": ("continent", fold(other.continent)),
                "region": ("region", fold(other.region)),
                "timezone": ("utc", other.utc_offset),
                "language": ("or", tuple(("lang", fold(lang)) for lang in other.languages)),
                "hemisphere": (
                    "and",
                    (("hemi", other.hemisphere_ns), ("hemi", other.hemisphere_ew)),
                ),
            }[kind]
        relations = [
            self._relation(text[:start], _Place.of_city(self.cities[i]), i)
            for start, _, i in mentioned
        ]
        if all(relations):
            return join("and", relations)
        if _search(
            r"\b(?:near|close to|far from|next to|north|south|east|west|bigger|larger|smaller|"
            r"older|newer|hotter|colder|richer|like|similar|compared|than|from here|distance)\b",
            text,
        ):
            return ("unknown",)
        return ("cities", indices)

    def _atoms(self, text: str) -> list[tuple[int, int, Form]]:
        """Every fact a yes/no question names, with its span: each of ``_DETECTORS`` whose guard
        the question holds, in turn (the longest of overlapping spans kept), else the free-text
        topics; negated where a negator comes before it."""
        asked = _Asked(text)
        found = [
            (match.start(), match.end(), form)
            for k in self.detector_index.candidates(asked)
            for match, form in _DETECTORS[k][0](self, asked)
        ]
        atoms = _longest(found)
        if not atoms and not _IN_A_PLACE.search(text):  # "in Hollywood?" names a place
            atoms = self._topics(text)
        return [(s, e, ("not", f) if _negated(text, s, atoms) else f) for s, e, f in atoms]

    _HEMISPHERES = Prefiltered(
        r"\b(?:north|south) of the equator|\b(?:above|below) the equator|"
        r"\b(northern|southern|eastern|western) (?:half of the )?(?:hemisphere|half)|"
        r"\b(northern|southern) (?:part|half) of the (?:world|globe|earth|planet)"
    )

    def _hemispheres(self, asked: _Asked) -> Detected:
        for match in self._HEMISPHERES.finditer(asked.text):
            word = match.group(0)
            ns = "northern" if ("north" in word or "above" in word) else "southern"
            yield match, ("hemi", match.group(1) or match.group(2) or ns)

    _SPECIAL_REGIONS = Prefiltered(
        r"\b(?:the )?(?:middle east|near east|far east|indian subcontinent|subcontinent|"
        r"latin america|central america|sub saharan africa|the americas|americas|"
        r"(?:former )?soviet union|ussr|former soviet|soviet|"
        r"scandinavia|balkans|the tropics)\b"
    )

    def _special_regions(self, asked: _Asked) -> Detected:
        for match in self._SPECIAL_REGIONS.finditer(asked.text):
            yield match, ("region_special", match.group(0).removeprefix("the "))

    _CONTINENT_PARTS = Prefiltered(
        r"\b(?:south ?east|north ?east|south ?west|north ?west|east|west|north|south|central|"
        r"eastern|western|northern|southern) (?:asia|europe|africa)\b"
    )

    def _regions(self, asked: _Asked) -> Detected:
        for k in sorted(self.region_index.candidates(asked.text)):
            region, regex = self.region_regexes[k]
            for match in regex.finditer(asked.text):
                yield match, ("region", region)
        for match in self._CONTINENT_PARTS.finditer(asked.text):
            yield match, ("region", _region_key(match.group(0)))

    def _continents(self, asked: _Asked) -> Detected:
        for match in _CONTINENT_PHRASES.finditer(asked.text, asked.words):
            yield match, ("continent", _CONTINENTS[match.group(0)])

    def _countries(self, asked: _Asked) -> Detected:
        kind = "border" if asked.border else "country"
        for match in self.country_phrases.finditer(asked.text, asked.words):
            keys = tuple(sorted(self.country_forms[match.group(0)]))
            forms = tuple((kind, k) for k in keys)
            yield match, ("or", forms) if len(forms) > 1 else forms[0]

    def _country_directions(self, asked: _Asked) -> Detected:
        """ "east of France", "north of the US": the city's place against the country's."""
        if asked.words.isdisjoint(_COMPASS_WORDS):
            return
        for match in self.country_phrases.finditer(asked.text, asked.words):
            side = _SIDE_OF.search(asked.text[: match.start()])
            if side:
                keys = tuple(sorted(self.country_forms[match.group(0)]))
                form = ("dir_of_country", _direction(side.group("dir")), keys)
                yield _Span(side.start(), match.end()), form

    def _languages_or_demonyms(self, asked: _Asked) -> Detected:
        """Languages where speaking is asked about ("Do they speak French?"), else demonyms
        ("Is it French?" asks about a country)."""
        if asked.language:
            for match in self.language_phrases.finditer(asked.text, asked.words):
                yield match, ("lang", match.group(0), asked.main)
        else:
            for match in self.demonym_phrases.finditer(asked.text, asked.words):
                keys = tuple(sorted(self.demonyms[match.group(0)]))
                yield match, ("or", tuple(("country", k) for k in keys))

    def _religions(self, asked: _Asked) -> Detected:
        for match in _RELIGION_PHRASES.finditer(asked.text, asked.words):
            yield match, ("religion", _RELIGIONS[match.group(0)], asked.main)

    def _currencies(self, asked: _Asked) -> Detected:
        for match in _CURRENCY_PHRASES.finditer(asked.text, asked.words):
            if match.group(0) not in _AMBIGUOUS_CURRENCIES or asked.money:
                yield match, ("currency", _CURRENCIES[match.group(0)])

    def _static(self, asked: _Asked) -> Detected:
        for k in sorted(_STATIC_INDEX.candidates(asked.text)):  # in the table's order
            pattern, form = _STATIC_ATOMS[k]
            for match in pattern.finditer(asked.text):
                yield match, form

    _POPULATION = Prefiltered(
        rf"\b(?:{_MORE}|{_LESS}|around|about|roughly|approximately) "
        r"(?:about |roughly |around )?(\d+(?:\.\d+)?|[a-z]+(?: [a-z]+)?) ?(million|m|mil|"
        r"billion|thousand)\b"
    )

    def _populations(self, asked: _Asked) -> Detected:
        for match in self._POPULATION.finditer(asked.text):
            amount = _amount(match.group(1))
            if amount is not None:
                scale = {"billion": 1000.0, "thousand": 0.001}.get(match.group(2), 1.0)
                yield match, ("pop", _comparison(match.group(0)), amount * scale)

    _ELEVATION = Prefiltered(
        rf"\b({_MORE}|{_LESS}) (\d+(?:\.\d+)?) ?(m|meters|metres|feet|ft)\b(?! people)"
    )

    def _elevations(self, asked: _Asked) -> Detected:
        for match in self._ELEVATION.finditer(asked.text):
            metres = float(match.group(2)) * (0.3048 if match.group(3) in ("feet", "ft") else 1)
            yield match, ("elev_m", _comparison(match.group(1)), metres)

    _TIME_ZONE = Prefiltered(
        r"\b(?:utc|gmt)(?: (plus|minus) (\d+(?:\.\d+)?)(?: (30|45))?)?\b|"
        r"\b(ahead of|behind) (?:utc|gmt|greenwich|london)\b"
    )

    def _time_zones(self, asked: _Asked) -> Detected:
        for match in self._TIME_ZONE.finditer(asked.text):
            if match.group(4):
                yield match, ("utc_sign", ">" if match.group(4) == "ahead of" else "<")
            else:
                hours = float(match.group(2) or 0) + float(match.group(3) or 0) / 60
                yield match, ("utc", -hours if match.group(1) == "minus" else hours)

    def _waters(self, asked: _Asked) -> Detected:
        if self.sea_phrases is not None:
            for match in self.sea_phrases.finditer(asked.text, asked.words):
                yield match, ("sea", self.seas[match.group(1)])
        if self.river_phrases is not None:
            for match in self.river_phrases.finditer(asked.text, asked.words):
                yield match, ("river", self.rivers[match.group(1)])

    def _climates(self, asked: _Asked) -> Detected:
        for match in self.climate_regex.finditer(asked.text):
            yield match, ("climate_exact", match.group(1))

    _CAPITAL_OF = Prefiltered(r"\bcapital of (?:the )?([a-z]+(?: [a-z]+)?)\b")

    def _capitals_of(self, asked: _Asked) -> Detected:
        for match in self._CAPITAL_OF.finditer(asked.text):
            place = match.group(1)
            candidate = next((c for c in (place, place.split()[0]) if c in self.capital_of), None)
            if candidate is not None:
                yield match, ("capital_of", candidate)

    def _dishes_and_sports(self, asked: _Asked) -> Detected:
        if self.dish_phrases is not None:
            for match in self.dish_phrases.finditer(asked.text, asked.words):
                yield match, ("food", match.group(0))
        for match in self.sport_phrases.finditer(asked.text, asked.words):
            yield match, ("sport", match.group(0))

    @staticmethod
    def _relation(before: str, place: _Place, index: int | None = None) -> Form | None:
        """What a question asks about the city named right after ``before`` ("is it near",
        "in the same province as"), or None where it asks nothing of the kind."""
        match = _RELATION.search(before)
        if match is None:
            return None
        kind = match.lastgroup
        if kind in ("near", "far", "next"):
            yes_km, no_km = (60, 200) if kind == "next" else (_NEAR_KM, _FAR_KM)
            near = ("near", place.lat, place.lon, yes_km, no_km)
            return ("not", near) if kind == "far" else near
        if kind == "unit":
            km = float(match.group("km")) * (1.609 if match.group("unit").startswith("mi") else 1)
            return ("near", place.lat, place.lon, km * 0.9, km * 1.1)
        if kind == "dir":
            return ("dir_of", _direction(match.group("dir")), place.lat, place.lon)
        if kind == "admin":
            return ("same_admin", place.country, place.admin)
        if kind == "country":
            return ("country", place.country)
        return ("cities", (index,)) if index is not None else ("elsewhere", place.lat, place.lon)

    def _world_cities(self, asked: _Asked) -> Detected:
        """Cities outside the list, named where a relation asks about them ("near Kobe")."""
        if asked.words.isdisjoint(_RELATION_WORDS):
            return
        for match in _RELATION_NAME.finditer(asked.text):
            words = match.group("name").split()
            for n in range(len(words), 0, -1):
                rows = self.world.get(" ".join(words[:n]))
                if rows:
                    form = self._relation(match.group("before") + " ", _Place.of_row(rows[0]))
                    end = match.start("name") + len(" ".join(words[:n]))
                    if form is not None:
                        yield _Span(match.start(), end), form
                    break

    def _positions(self, asked: _Asked) -> Detected:
        """ "in the north of the country", "northern Brazil", "on the west coast of India"."""
        if asked.words.isdisjoint(_DIRECTION_WORDS):
            return
        for pattern in _POSITIONS:
            for match in pattern.finditer(asked.text):
                where = self._position_place(match.group("place") or "")
                if where is None:
                    continue
                (kind, key), length = where
                end = match.start("place") + length if match.group("place") else match.end()
                shape = match.group("shape") or ""
                limit = _SHAPES.get(shape, 0.15)  # the share off the middle it takes
                phrase = re.sub(
                    r"^(?:in |on |at |along )?(?:the )?", "", asked.text[match.start() : end]
                )
                form = ("pos", kind, key, _direction(match.group("dir")), limit, phrase)
                if shape in ("coast", "coastline", "shore", "seaboard"):
                    form = ("and", (("coastal",), form))
                yield _Span(match.start(), end), form

    def _position_place(self, text: str) -> tuple[tuple[str, str | None], int] | None:
        """The land a position is asked within: (("country", "island" or "continent", its key or
        None for the city's own), the length of its name in ``text``), or None for no land."""
        if not text or _OWN_LAND.match(text):
            kind = "island" if text.startswith(("island", "the island")) else "country"
            return (kind, None), len(_OWN_LAND.match(text).group(0)) if text else 0
        words = text.split()
        for n in range(min(4, len(words)), 0, -1):
            name = " ".join(words[:n])
            keys = self.country_keys(name)
            if keys:
                return ("country", "|".join(sorted(keys))), len(name)
            if name in self.islands:
                return ("island", self.islands[name]), len(name)
            if name in _CONTINENT_EXTENTS:
                return ("continent", name), len(name)
        return None

    def country_keys(self, name: str) -> set[str] | None:
        """The countries a name may mean, "us" included where it cannot be the pronoun."""
        if name in ("us", "u s", "the us"):
            return {"united states"}
        return self.country_forms.get(name)

    def _borders(self, asked: _Asked) -> Detected:
        for match in _FOREIGN_BORDER.finditer(asked.text):  # "near the Indian border"
            adjective = match.group("adjective")
            keys = self.demonyms.get(adjective) or self.country_keys(adjective)
            if keys:
                yield match, ("border_near", tuple(sorted(keys)))
        for match in _BORDER.finditer(asked.text):
            other = match.group("other")
            if not other or other.split()[0] in _ANY_BORDER:
                yield match, ("border_near", None)
                continue
            words = other.split()
            for n in range(len(words), 0, -1):
                keys = self.country_keys(" ".join(words[:n]))
                if keys:
                    end = match.start("other") + len(" ".join(words[:n]))
                    yield _Span(match.start(), end), ("border_near", tuple(sorted(keys)))
                    break
            else:
                yield match, ("unknown",)

    def _places(self, asked: _Asked) -> Detected:
        for start, end, name in self.place_matches(asked.text):
            yield _Span(start, end), ("place", name)

    def _islands_and_lakes(self, asked: _Asked) -> Detected:
        for match in self.island_phrases.finditer(asked.text, asked.words):
            yield match, ("island", self.islands[match.group(1)])
        for match in self.lake_phrases.finditer(asked.text, asked.words):
            yield match, ("lake", match.group(1))
        for k in sorted(_GEO_INDEX.candidates(asked.text)):
            pattern, form = _GEO_ATOMS[k]
            for match in pattern.finditer(asked.text):
                yield match, form
        for match in self.kind_phrases.finditer(asked.text, asked.words):
            yield match, ("admin_kind", match.group(1))

    def _topics(self, text: str) -> list[tuple[int, int, Form]]:
        """Fallback: words of the free-text facts ("Is it famous for its film industry?")."""
        food = bool(
            _search(r"\b(?:eat|eaten|food|foods|dish|dishes|cuisine|cook|meal|snack)", text)
        )
        atoms = []
        for match in _finditer(r"[a-z]+", text):
            word = match.group(0)
            if word in _STOP or len(word) < 3:
                continue
            stems = self._topic_stems(word)
            if stems is not None:
                atoms.append((match.start(), match.end(), ("topic", stems, food)))
        return atoms

    def _word_topic(self, word: str) -> tuple[str, ...] | None:
        """The stems a question's word stands for, if a fact holds one of them."""
        stems = _TOPIC_SYNONYMS.get(word, (_stem(word),))
        if any(_has_topic(self.topic_words, self.topic_blob, stem) for stem in stems):
            return stems
        return None

    # --- open questions -------------------------------------------------------------------------
    @staticmethod
    def _open(text: str) -> Form | None:
        for k in sorted(_OPEN_INDEX.candidates(text)):  # the first topic of the table wins
            pattern, topic = _OPEN_TOPICS[k]
            if pattern.search(text):
                return ("open", topic)
        return None


# What ``CityReader._atoms`` looks for, in this order (it matters where spans overlap), each
# with what it searches (see ``_Guard.of``): a detector runs only where one of its guard's
# words or needles stands in the question.
_DETECTORS: list[tuple[Callable[[CityReader, _Asked], Detected], Callable[[CityReader], list]]] = [
    (CityReader._hemispheres, lambda r: [r._HEMISPHERES]),
    (CityReader._special_regions, lambda r: [r._SPECIAL_REGIONS]),
    (CityReader._regions, lambda r: [r.region_index, r._CONTINENT_PARTS]),
    (CityReader._continents, lambda r: [_CONTINENT_PHRASES]),
    (CityReader._country_directions, lambda r: [_COMPASS_WORDS]),
    (CityReader._countries, lambda r: [r.country_phrases]),
    (CityReader._languages_or_demonyms, lambda r: [r.language_phrases, r.demonym_phrases]),
    (CityReader._religions, lambda r: [_RELIGION_PHRASES]),
    (CityReader._currencies, lambda r: [_CURRENCY_PHRASES]),
    (CityReader._static, lambda r: [_STATIC_INDEX]),
    (CityReader._populations, lambda r: [r._POPULATION]),
    (CityReader._elevations, lambda r: [r._ELEVATION]),
    (CityReader._time_zones, lambda r: [r._TIME_ZONE]),
    (CityReader._waters, lambda r: [r.sea_phrases, r.river_phrases]),
    (CityReader._climates, lambda r: [r.climate_regex]),
    (CityReader._capitals_of, lambda r: [r._CAPITAL_OF]),
    (CityReader._dishes_and_sports, lambda r: [r.dish_phrases, r.sport_phrases]),
    (CityReader._world_cities, lambda r: [_RELATION_WORDS]),
    (CityReader._borders, lambda r: [_FOREIGN_BORDER, _BORDER]),
    (CityReader._positions, lambda r: [_DIRECTION_WORDS]),
    (CityReader._places, lambda r: [frozenset(r.place_words)]),
    (
        CityReader._islands_and_lakes,
        lambda r: [r.island_phrases, r.lake_phrases, _GEO_INDEX, r.kind_phrases],
    ),
]


@dataclass(frozen=True)
class _Guard:
    """What a detector needs in a question to find anything: one of ``words`` as a word, or one
    of ``needles`` anywhere in its text (None: any text may do)."""

    words: frozenset[str]
    needles: frozenset[str] | None

    @classmethod
    def of(cls, sources: Iterable) -> _Guard:
        """From what a detector searches: a set of words it requires, ``_Phrases`` (their first
        words), a ``Prefiltered`` or a ``NeedleIndex`` (their needles); None searches nothing."""
        words: set[str] = set()
        needles: set[str] | None = set()
        for source in sources:
            if isinstance(source, _Phrases):
                source = source.starts  # None where a phrase does not start with a word
                if source is None:
                    needles = None
            if isinstance(source, frozenset):
                words |= source
            elif source is None:
                continue
            elif source.needles is None or needles is None:
                needles = None
            else:
                needles |= set(source.needles)
        return cls(frozenset(words), None if needles is None else frozenset(needles))


class _DetectorIndex:
    """Which of ``_DETECTORS`` may find something in a question: those with one of their guard's
    words among its words or one of its needles in its text (``NeedleIndex``)."""

    def __init__(self, guards: Sequence[_Guard]):
        self.needle_index = NeedleIndex(guards)
        self.by_word: dict[str, list[int]] = {}
        for k, guard in enumerate(guards):
            for word in guard.words:
                self.by_word.setdefault(word, []).append(k)

    def candidates(self, asked: _Asked) -> list[int]:
        found = self.needle_index.candidates(asked.text)
        for word in asked.words:
            found.update(self.by_word.get(word, ()))
        return sorted(found)


# --- geography vocabulary -------------------------------------------------------------------------
# fmt: off
_WORLD_ISLANDS = tuple(  # islands people ask about besides the cities' own
    "honshu, hokkaido, kyushu, shikoku, okinawa, java, sumatra, borneo, bali, sulawesi, "
    "new guinea, luzon, mindanao, cebu, hainan, taiwan, sri lanka, madagascar, sicily, sardinia, "
    "corsica, crete, cyprus, ireland, great britain, iceland, greenland, cuba, hispaniola, "
    "jamaica, puerto rico, manhattan, long island, vancouver island, newfoundland, tasmania, "
    "jeju, sakhalin, zanzibar, hong kong island, lantau, singapore island, salsette island, "
    "bahrain, mauritius, malta, trinidad, tierra del fuego, zealand".split(", ")
)
_WORLD_LAKES = tuple(
    "lake titicaca, lake balaton, lake erie, lake superior, lake huron, lake michigan, "
    "lake ontario, lake victoria, lake baikal, lake geneva, lake tahoe, lake malawi, "
    "lake tanganyika, lake chad, lake ladoga, lake van, tonle sap, lake toba, inle lake, "
    "lake biwa, tai lake, taihu, poyang lake, dongting lake, west lake, lake nasser, "
    "lake maracaibo, lake nicaragua, lake como, lake garda, dead sea, great salt lake, "
    "lake winnipeg, lake urmia, lake texcoco".split(", ")
)
_WORLD_SEAS = tuple(
    "red sea, persian gulf, arabian sea, caribbean, caribbean sea, adriatic, adriatic sea, "
    "black sea, baltic, baltic sea, north sea, mediterranean, aegean sea, caspian, "
    "caspian sea, sea of japan, east sea, yellow sea, bohai sea, south china sea, "
    "east china sea, bay of bengal, gulf of mexico, gulf of thailand, java sea, tasman sea, "
    "indian ocean, atlantic, pacific, arctic ocean, gulf of guinea, english channel, "
    "sea of marmara, gulf of finland, strait of malacca, bosphorus, andaman sea, "
    "philippine sea, coral sea, gulf of aden, gulf of oman, irish sea, ligurian sea, "
    "tyrrhenian sea, ionian sea, sea of okhotsk, bering sea, white sea".split(", ")
)
_WORLD_RIVERS = tuple(
    "euphrates, mississippi, missouri, rhine, volga, mekong, indus, ganges, yellow river, "
    "huang he, zambezi, orinoco, parana, st lawrence, rio grande, dnieper, danube, "
    "yenisei, lena, amur, irrawaddy, brahmaputra, tigris, loire, rhone, elbe, oder, vistula, "
    "ebro, tagus, douro, seine, thames, hudson, potomac, magdalena, nile, congo river, "
    "yangtze, pearl river, red river, mekong river, han river, neva, moskva, spree, tiber, "
    "arno, po river, thames river, jordan river, niger river, amazon river, "
    "sao francisco".split(", ")
)
_GENERIC_PLACES = frozenset(
    "centre center central capital coast islands island metropolitan region lakes savanes "
    "district state province area commune county city town village municipality territory "
    "department prefecture division".split()
) | {"eastern province", "southern province", "northern province", "western province"}
_SEA_WORDS = frozenset("pacific atlantic caribbean mediterranean indian arctic".split())
_DIRECTION_WORDS = frozenset(
    "north south east west northern southern eastern western northeast northwest southeast "
    "southwest northeastern northwestern southeastern southwestern central centre center "
    "middle heart".split()
)
_DIR = (r"(?:north|south)(?: ?(?:east|west))?(?:ern)?|east(?:ern)?|west(?:ern)?|central|centre|"
        r"center|middle|heart")
_SHAPE = r"part|half|side|region|area|corner|tip|portion|end|coast|coastline|shore|seaboard"
_POSITIONS = [
    Prefiltered(_p)
    for _p in (
        rf"\b(?:in |on |at |along )?the (?:far |extreme |very )?(?P<dir>{_DIR}) "
        rf"(?:(?P<shape>{_SHAPE}) )?of (?:the |its |your |their |this )?"
        r"(?P<place>[a-z]+(?: [a-z]+){0,3})",
        rf"\b(?:on |along |in |at )?the (?P<dir>{_DIR}) (?P<shape>coast|coastline|shore|seaboard|"
        r"side)(?P<place>)",
        rf"\b(?:in |on |at )?the (?:far )?(?P<dir>{_DIR})(?: (?P<shape>{_SHAPE}))?(?P<place>)$",
        rf"\b(?P<dir>{_DIR}) (?:(?P<shape>part|half|side) of (?:the |its |your )?)?"
        r"(?P<place>[a-z]+(?: [a-z]+){0,3})",
    )
]
_SHAPES = {"half": 0.0, "side": 0.0, "coast": 0.0, "coastline": 0.0, "shore": 0.0,
           "seaboard": 0.0, "tip": 0.35, "end": 0.3, "corner": 0.2}
_OWN_LAND = re.compile(
    r"(?:the |its |your |their |this |my |our )?(?:country|nation|island|peninsula|land|"
    r"mainland)\b"
)
_BORDER = Prefiltered(
    r"\b(?:near|close to|next to|on|along|at|by|beside) (?:the |a |an |any |your |its )?"
    r"(?:national |international |country s |land |country )?(?:border|frontier)s?"
    r"(?: (?:with|of) (?:the )?(?P<other>[a-z]+(?: [a-z]+){0,3}))?"
)
_FOREIGN_BORDER = Prefiltered(
    r"\b(?:near|close to|next to|on|along|at|by|beside) the (?P<adjective>[a-z]+) "
    r"(?:border|frontier)\b"
)
_ANY_BORDER = frozenset("another any a other its neighbouring neighboring some".split())
_NEAR_KM, _FAR_KM = 150, 300  # near a city: yes under, no over (in between: not sure)
_BORDER_KM, _NOT_BORDER_KM = 100, 250
_REL = (
    r"(?:(?P<near>near|nearby|close to|not far from|around|in the vicinity of)|"
    r"(?P<far>far from|far away from|a long way from)|"
    r"(?P<next>next to|beside|adjacent to|across (?:the [a-z]+ )?from)|"
    r"within (?P<km>\d+(?:\.\d+)?) ?(?P<unit>km|kms|kilometers|kilometres|miles|mile|mi) "
    r"(?:of|from)|(?P<dir>(?:north|south)(?: ?(?:east|west))?|east|west) of|"
    r"(?:in )?the same (?P<admin>province|state|prefecture|oblast|governorate|department|"
    r"county|division) as|(?:in )?the same (?P<country>country) as|"
    r"(?P<same>the same city as|the city you are from|the city you re from|are you from))"
)
_SIDE_OF = re.compile(r"\b(?P<dir>(?:north|south)(?: ?(?:east|west))?|east|west) of (?:the )?$")
_COMPASS_WORDS = frozenset("north south east west northeast northwest southeast southwest".split())
_RELATION = Prefiltered(rf"\b{_REL} (?:the (?:city|town) of )?$")
_RELATION_NAME = Prefiltered(
    rf"(?P<before>\b{_REL}) (?:the (?:city|town) of )?(?P<name>[a-z]+(?: [a-z]+){{0,3}})"
)
_RELATION_WORDS = frozenset(
    "near nearby close far next beside adjacent across within north south east west "
    "northeast northwest southeast southwest same from around vicinity".split()
)
_LAKE_GROUPS = {"great lakes": ("lake michigan", "lake superior", "lake huron", "lake erie",
                                "lake ontario")}
_GEO_ATOMS = [
    (Prefiltered(_p), _f)
    for _p, _f in [
        (r"\b(?:on|in) (?:an|a) island\b|\bisland (?:city|nation|country|state)\b|"
         r"\bon (?:the )?islands?\b", ("island_any",)),
        (r"\b(?:on|by|near|beside|next to|along|at) (?:a|the|any) (?:big |large |great |huge |"
         r"famous )?(?:lake|lagoon)s?\b|\b(?:a|any) (?:big |large |great |huge |famous )?"
         r"(?:lake|lagoon)s?\b|\blakes?(?:ide| ?front| shore)\b", ("lake_any",)),
        (r"\b(?:one of )?the great lakes\b", ("lake", "great lakes")),
        (r"\b(?:near|close to|on|at) (?:to )?the equator\b|\bequatorial\b", ("equator",)),
    ]
]
# fmt: on
_IN_A_PLACE = Prefiltered(
    r"^(?:is it|is your city|is the city|are you|do you live|is your home ?town)(?: located)? "
    r"(?:in|near|close to|next to)\b"
)
_GEO_INDEX = NeedleIndex([pattern for pattern, _ in _GEO_ATOMS])


@dataclass(frozen=True)
class _Span:
    """A detected span where no single regex match covers it."""

    begin: int
    finish: int

    def start(self) -> int:
        return self.begin

    def end(self) -> int:
        return self.finish


@dataclass(frozen=True)
class _Place:
    """A city a question names: where it is, its country (folded) and its subdivision's forms."""

    lat: float
    lon: float
    country: str
    admin: frozenset[str]

    @classmethod
    def of_city(cls, city: City) -> _Place:
        names = (city.admin_region.name, *city.admin_region.aliases)
        return cls(
            city.latitude if city.latitude is not None else math.nan,
            city.longitude if city.longitude is not None else math.nan,
            fold(city.country),
            frozenset(f for n in names if n for f in _place_forms(n)),
        )

    @classmethod
    def of_row(cls, row: tuple) -> _Place:
        return cls(
            row[3], row[4], fold(row[1]), frozenset(_place_forms(row[2])) if row[2] else frozenset()
        )


def _direction(word: str) -> str:
    """ "northern" -> "north", "north eastern" -> "northeast", "central" -> "centre"."""
    word = word.replace(" ", "")
    if word in ("central", "centre", "center", "middle", "heart"):
        return "centre"
    return word.removesuffix("ern")


_PLACE_PREFIX = re.compile(r"^(?:muhafazat |changwat |provincia de |the |state of |city of )")
_PLACE_SUFFIX = re.compile(
    r" (?:sheng|shi|zizhiqu|zhuangzu|huizu|uygur|province|prefecture|governorate|oblast|"
    r"region|state|division|department|metropolis|do|gwangyeoksi|teukbyeolsi|special city|"
    r"metropolitan city|capital city|special administrative region|sar)$"
)


@functools.lru_cache(maxsize=8192)
def _place_forms(name: str) -> tuple[str, ...]:
    """The ways a question may write a subdivision's name: "Guangxi Zhuangzu Zizhiqu" ->
    ("guangxi zhuangzu zizhiqu", "guangxi"), "Gyeonggi-do" -> ("gyeonggi do", "gyeonggi")."""
    form = fold(name).removeprefix("the ")
    forms = [form]
    stripped = _PLACE_PREFIX.sub("", form)
    while True:
        shorter = _PLACE_SUFFIX.sub("", stripped)
        if shorter == stripped:
            break
        stripped = shorter
    forms.append(stripped)
    return tuple(f for f in dict.fromkeys(forms) if len(f) >= 4)


_PLACE_KINDS = frozenset(
    "state province prefecture region department governorate county oblast territory".split()
)
_PLACE_BEFORE = frozenset("in on at within inside".split())
_PLACE_AFTER = _PLACE_KINDS | {"district", "division", "area", "metropolis"}


def _place_context(words: list[str], first: int, last: int) -> tuple[int, int]:
    """A place name's span (words ``first`` to ``last``) with what frames it: "in the state
    of" before, "province" after."""
    if first and words[first - 1] == "the":
        first -= 1
    if first > 1 and words[first - 1] == "of" and words[first - 2] in _PLACE_KINDS:
        first -= 2
        if first and words[first - 1] == "the":
            first -= 1
    if first and words[first - 1] in _PLACE_BEFORE:
        first -= 1
    if last < len(words) and words[last] in _PLACE_AFTER:
        last += 1
    return first, last


_COMPASS = frozenset(
    "north south east west northern southern eastern western northeast northwest southeast "
    "southwest".split()
)


def _is_direction_only(form: str) -> bool:
    """ "North West", "the South": positions, not places."""
    return all(w in _COMPASS or w == "the" for w in form.split())


def _place_vocabulary(cities: Sequence[City], excluded: set[str]) -> dict[str, set[tuple]]:
    """Every way a question names a subdivision or an informal area (regions.json and the
    cities' own admin regions) -> its keys (country, first name)."""
    entries: list[tuple[str, Sequence[str]]] = []
    for country, data in geography.default_regions().items():
        entries += [(fold(country), names) for names in (*data["subdivisions"], *data["areas"])]
    for city in cities:
        admin = city.admin_region
        if admin.name:
            entries.append((fold(city.country), (admin.name, *_own_names(city))))
        entries += [(fold(city.country), (area,)) for area in admin.areas]
    vocabulary: dict[str, set[tuple]] = {}
    for country, names in entries:
        key = (country, fold(names[0]))
        for name in names:
            for form in _place_forms(name):
                if (
                    form not in excluded
                    and not _is_direction_only(form)
                    and not (form.endswith(" coast") and form.split()[0] in _SEA_WORDS)
                ):
                    vocabulary.setdefault(form, set()).add(key)
    return vocabulary


def _own_names(city: City) -> list[str]:
    """A city's admin region's aliases, also without " of <the city>" ("Special Capital Region
    of Jakarta" -> "Special Capital Region")."""
    names = []
    for alias in city.admin_region.aliases:
        names.append(alias)
        for name in city.names:
            if fold(alias).endswith(" of " + fold(name)):
                names.append(fold(alias)[: -len(fold(name)) - 4])
    return names


def _world_city_forms(country_forms: dict[str, set[str]]) -> dict[str, list[tuple]]:
    """The world's cities (world_cities.json) by name, the most populous first; without names
    that are countries, continents or stop words."""
    world: dict[str, list[tuple]] = {}
    for row in geography.default_world_cities():
        form = fold(row[0])
        if len(form) >= 3 and form not in {*country_forms, *_CONTINENTS, *_STOP}:
            world.setdefault(form, []).append(row)
    for rows in world.values():
        rows.sort(key=lambda row: -row[5])
    return world


def _country_forms(cities: Sequence[City]) -> dict[str, set[str]]:
    """Every way a question names a country (the cities' countries and their other names, their
    neighbours, other countries of the world) -> the countries (folded) it may mean."""
    forms: dict[str, set[str]] = {}
    for city in cities:
        key = fold(city.country)
        for form in {key, *map(fold, city.country_aliases), *_COUNTRY_EXTRA.get(key, ())}:
            forms.setdefault(form, set()).add(key)
    for city in cities:
        for neighbour in city.neighbouring_countries:
            forms.setdefault(fold(neighbour), {fold(neighbour)})
    for country in _WORLD_COUNTRIES:
        forms.setdefault(country, {country})
    forms.pop("us", None)  # the pronoun
    forms.pop("u s", None)
    return forms


def _demonym_countries(country_forms: dict[str, set[str]]) -> dict[str, set[str]]:
    """Each demonym ("french") -> the countries it names."""
    demonyms: dict[str, set[str]] = {}
    for country, demonym in _DEMONYMS.items():
        for key in country_forms.get(country, ()):
            demonyms.setdefault(demonym, set()).add(key)
    return demonyms


def _sea_forms(cities: Sequence[City]) -> dict[str, str]:
    """The cities' seas, each as written and, for the big ones, in short ("pacific") -> itself."""
    seas: dict[str, str] = {}
    for city in cities:
        for sea in city.seas:
            full = fold(sea)
            seas[full] = full
            short = re.sub(r"^the |\b(?:ocean|sea)$", "", full).strip()
            if short in ("pacific", "atlantic", "mediterranean", "caspian", "baltic"):
                seas[short] = short
    return seas


def _river_forms(cities: Sequence[City]) -> dict[str, str]:
    """The cities' rivers, each as written and in short ("thames" for "the river thames") -> its
    short name; without forms of two letters or a stop word."""
    rivers: dict[str, str] = {}
    for city in cities:
        for river in city.rivers:
            full = fold(river)
            short = re.sub(r"^the |^river |\briver$", "", full).strip()
            for form in {full, short}:
                if len(form) > 2 and form not in _STOP:
                    rivers[form] = short
    return rivers


def _with_preposition(names: Iterable[str]) -> re.Pattern:
    """Names, with the "on the" that comes before them in a question (so that "on the river
    thames" outweighs "on the river")."""
    ordered = "|".join(map(re.escape, sorted(set(names), key=len, reverse=True)))
    return re.compile(
        rf"(?<![a-z0-9])(?:(?:on|by|along|near|beside|at) )?(?:the )?({ordered})(?![a-z0-9])"
    )


def _region_key(phrase: str) -> tuple[str, ...]:
    """The ways the knowledge may write a region a question names: "south east asia" ->
    ("southeast asia",), "east europe" -> ("east europe", "eastern europe")."""
    words = re.sub(r"\b(south|north) ?(east|west)\b", r"\1\2", phrase).split()
    nouns = {"eastern": "east", "western": "west", "northern": "north", "southern": "south"}
    adjectives = {noun: adjective for adjective, noun in nouns.items()}
    first = nouns.get(words[0], words[0])
    return tuple(
        dict.fromkeys(" ".join([w, *words[1:]]) for w in (first, adjectives.get(first, first)))
    )


_SUFFIXES = tuple("ational ations ation ings ing ical ial ies es al s e y".split())  # longest first


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


_TOPIC_SYNONYMS = {  # a question's word -> the words of the facts that mean it
    "tech": ("technolog", "software", "it", "electronic", "start"),
    "technology": ("technolog", "software", "it", "electronic", "start"),
    "movies": ("film", "cinema", "movie"),
    "movie": ("film", "cinema", "movie"),
    "cinema": ("film", "cinema", "movie"),
    "films": ("film", "cinema", "movie"),
    "film": ("film", "cinema", "movie"),
    "banking": ("financ", "bank"),
    "financial": ("financ", "bank"),
    "finance": ("financ", "bank"),
    "cars": ("automobile", "car", "automotive"),
    "car": ("automobile", "car", "automotive"),
    "factories": ("manufactur", "factor", "industrial"),
    "factory": ("manufactur", "factor", "industrial"),
}


def _has_topic(words: set[str], blob: str, stem: str) -> bool:
    """Whether a fact's words (also joined in ``blob``) hold ``stem``: as a word, or inside one
    if it is long enough ("technolog" in "biotechnology")."""
    return stem in words or (len(stem) >= 5 and stem in blob)


def _amount(text: str) -> float | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    return _NUMBERS.get(text) or _NUMBERS.get(text.split()[-1])


def _longest(found: list[tuple[int, int, Form]]) -> list[tuple[int, int, Form]]:
    found.sort(key=lambda m: (m[0] - m[1], m[0]))
    taken: list[tuple[int, int, Form]] = []
    for start, end, form in found:
        if all(end <= s or e <= start for s, e, _ in taken):
            taken.append((start, end, form))
    return sorted(taken)


_NEGATORS = frozenset("not no never non without neither nor outside lack lacks except".split())


def _negated(text: str, start: int, atoms: list[tuple[int, int, Form]]) -> bool:
    """Whether a negator stands between the previous atom (or the clause start) and this one."""
    previous_end = max((e for _, e, _ in atoms if e <= start), default=0)
    words = text[previous_end:start].split()
    return sum(word in _NEGATORS for word in words) % 2 == 1


# yes/no atoms that need no vocabulary, longest phrases first where they overlap
_STATIC_ATOMS = [
    (Prefiltered(_p), _f)
    for _p, _f in [
        (
            r"\b(?:state|provincial|province|regional|prefectural|prefecture) capital\b|"
            r"\bcapital (?:city )?of (?:a|its|the|your|their) (?:\w+ )?(?:state|province|region|"
            r"prefecture)\b",
            ("capital", "state"),
        ),
        (
            r"\b(?:national |country s |nation s )?capital(?: city)?(?: of (?:the|its|your|their|"
            r"a) "
            r"(?:country|nation))?\b|\bseat of (?:the )?(?:national )?government\b",
            ("capital", "national"),
        ),
        (r"\bany (?:kind of )?capital\b|\ba capital of (?:any|some)\w*\b", ("capital", "any")),
        (
            r"\b(?:near|close to|not far from) (?:the |a |an )?(?:sea|ocean|coast|beach|shore|"
            r"seashore|seafront|coastline)\b",
            ("coast_near",),
        ),
        (
            r"\bcoast\w*|\bseaside\b|\b(?:by|on|at|next to|along|beside) "
            r"(?:the |a |an )?(?:sea|ocean|coast|beach|shore|seashore|seafront)\b|"
            r"\bbeach(?:es)?\b|\bsea ?port\b|"
            r"\bport city\b|\b(?:a|big|major|large) port\b|\bharbou?r\b|\baccess to (?:the )?"
            r"(?:sea|ocean)\b|\bwaterfront\b|\bseafront\b|\bon the water\b|\bmaritime\b",
            ("coastal",),
        ),
        (
            r"\bfar (?:away )?from (?:the |any )?(?:sea|ocean|coast)\b",
            ("not", ("coast_near",)),
        ),
        (
            r"\binland\b|\blandlocked\b",
            ("not", ("coastal",)),
        ),
        (r"\blandlocked country\b|\bcountry (?:is )?landlocked\b", ("unknown",)),
        (
            r"\b(?:on|by|near|along|beside|next to|straddles|straddle|across) (?:a |the )?(?:big |"
            r"large |major |famous |great |wide |long )?river\b|\briver (?:runs|flows|passes|"
            r"goes|running|flowing)\b|"
            r"\b(?:a|any) (?:big |large |major |famous )?river(?: (?:runs|flows|passes|goes|"
            r"running|flowing))?\b",
            ("river_any",),
        ),
        (r"\bnear (?:the )?water\b|\bnear (?:a |any )?(?:body of )?water\b", ("water",)),
        (
            r"\bhigh (?:altitude|elevation|up)\b|\bin the mountains\b|\bmountainous\b|"
            r"\bhighlands?\b|\bon a plateau\b|\bplateau\b|\bup in the mountains\b|"
            r"\bat (?:a )?high altitude\b|\baltitude sickness\b|\belevated\b",
            ("elev", "high"),
        ),
        (
            r"\blow (?:altitude|elevation|lying)\b|\bat (?:or near )?sea level\b|"
            r"\bnear sea level\b|"
            r"\blow lying\b|\blowlands?\b|\bflat\b",
            ("elev", "low"),
        ),
        (r"\bmountains?\b|\bhills?\b|\bhilly\b", ("mountains",)),
        (r"\bsnow\w*\b|\bblizzards?\b", ("snow",)),
        (
            r"\bfreez\w*\b|\bbelow (?:zero|0)\b|\bsub zero\b|\bfrost\w*\b|\bice\b|\bicy\b",
            ("freezing",),
        ),
        (r"\btropic\w*\b", ("climate", ("tropical",))),
        (
            r"\bdesert\b|\barid\b|\bdry climate\b|\bvery dry\b|\bdry all year\b|\bsemi arid\b|"
            r"\bsteppe\b",
            ("climate", ("arid", "semi-arid")),
        ),
        (r"\bmediterranean climate\b", ("climate", ("mediterranean",))),
        (r"\boceanic climate\b|\bmaritime climate\b", ("climate", ("oceanic",))),
        (r"\bcontinental climate\b", ("climate", ("humid continental", "continental"))),
        (r"\bsubtropical\b|\bsub tropical\b", ("climate", ("humid subtropical", "subtropical"))),
        (r"\bsubarctic\b|\barctic\b|\bpolar\b", ("climate", ("subarctic",))),
        (
            r"\btemperate\b|\bfour (?:distinct )?seasons\b|\bdistinct seasons\b",
            ("climate", ("humid continental", "humid subtropical", "oceanic", "mediterranean")),
        ),
        (r"\bhumid\w*\b|\bmuggy\b|\bsticky\b", ("humid",)),
        (
            r"\b(?:hot|warm|sunny)(?: and (?:humid|wet|sunny))?(?: weather| climate)? (?:all|the "
            r"whole|throughout the) year\b|"
            r"\b(?:hot|warm) year round\b|\byear round (?:warm|hot|heat)\b|"
            r"\b(?:warm|hot) all the time\b",
            ("climate", ("tropical",)),
        ),
        (r"\bhot\b|\bheat\b|\bscorching\b|\bswelter\w*\b|\bwarm\b|\bwarm weather\b", ("hot",)),
        (r"\bcold\b|\bchilly\b|\bharsh winters?\b|\bbitter\w*\b", ("cold",)),
        (r"\bmild (?:winters?|climate|weather)\b|\bwinters? (?:are |is )?mild\b", ("mild",)),
        (r"\bmonsoons?\b", ("monsoon",)),
        (r"\b(?:rainy|wet) seasons?\b", ("rainy_season",)),
        (r"\brain\w*\b|\bwet\b|\bprecipitation\b", ("rainy",)),
        (r"\bdry season\b", ("rainy_season",)),
        (r"\bmega ?city\b|\bmegalopolis\b", ("pop", ">", 10.0)),
        (
            r"\b(?:big|large|major|huge|populous|busy|metropolis|metropolitan)(?: city)?\b",
            ("pop", ">", 1.0),
        ),
        (r"\bsmall (?:city|town)\b|\bvillage\b|\btown\b", ("pop", "<", 0.5)),
        (r"\bmillions? of (?:people|inhabitants|residents)\b", ("pop", ">", 1.0)),
    ]
]

_OPEN_TOPICS = [
    (Prefiltered(_p), _t)
    for _p, _t in [
        (r"\bcontinent\b", "continent"),
        (r"\bhemisphere\b", "hemisphere"),
        (r"\bborder\w*\b|\bneighbou?r\w*\b", "neighbours"),
        (
            r"\b(?:what|which) (?:country|nation)\b|\bcountry (?:is it|are you|is your city)\b|"
            r"\bcountry\b.*\bin\b$|\bwhat country\b",
            "country",
        ),
        (r"\blanguages?\b|\bspeak\b|\bspoken\b|\btongue\b|\bdialects?\b", "language"),
        (r"\bwinters?\b", "winter"),
        (r"\bsummers?\b", "summer"),
        (
            r"\b(?:rainy|wet) season\b|\bmonsoon\b|\bwhen does it rain\b|\bhow (?:much|often) does "
            r"it rain\b|\brainfall\b",
            "rain",
        ),
        (r"\bsnow\w*\b", "snow"),
        (
            r"\bweather\b|\bclimate\b|\btemperatures?\b|\bhow (?:hot|cold|warm)\b|\bseasons?\b",
            "climate",
        ),
        (r"\bcurrenc\w*\b|\bmoney\b|\bpay (?:with|in)\b|\bcash\b", "currency"),
        (r"\breligio\w*\b|\bfaith\b|\bworship\b|\bbelieve\b|\bgods?\b", "religion"),
        (
            r"\bfood\b|\beat\w*\b|\bcuisine\b|\bdish\w*\b|\bmeals?\b|\bcook\w*\b|\bdelicac\w*\b|"
            r"\bsnacks?\b|\btaste\b|\brecipes?\b",
            "food",
        ),
        (
            r"\bsports?\b|\bteams?\b|\bgames? (?:do|are)\b|\bfootball\b|\bsoccer\b|\bathlet\w*\b",
            "sport",
        ),
        (
            r"\bindustr\w*\b|\beconom\w*\b|\bjobs?\b|\bwork\b|\bbusiness\w*\b|\bexports?\b|"
            r"\bproduce\b|\bmake a living\b",
            "industry",
        ),
        (
            r"\bpopulation\b|\bhow many (?:people|inhabitants|residents|citizens)\b|\bhow (?:big|"
            r"large|populous)\b|\bpeople live\b|\binhabitants\b|\bsize\b",
            "population",
        ),
        (
            r"\baltitude\b|\belevation\b|\babove sea level\b|\bhow high\b|\bmountains?\b",
            "elevation",
        ),
        (
            r"\bseas?\b|\boceans?\b|\bcoast\w*\b|\bbeach\w*\b|\brivers?\b|\bwater\b|\bbay\b|"
            r"\bports?\b|\blakes?\b",
            "water",
        ),
        (r"\btime ?zone\b|\butc\b|\bgmt\b|\bwhat time is it\b", "timezone"),
        (r"\bcapital\b", "capital"),
        (r"\bhistory\b|\bhistoric\w*\b|\bpast\b|\bancient\b|\bold is\b|\bhow old\b", "history"),
        (
            r"\blandmarks?\b|\bsights?\b|\battractions?\b|\bvisit\w*\b|\btourist\w*\b|"
            r"\bmonuments?\b|\bbuildings?\b|\bsee there\b|\bsee in\b|\bsightseeing\b|"
            r"\barchitecture\b|\bsee\b",
            "landmarks",
        ),
        (
            r"\bfamous\b|\bknown for\b|\brenowned\b|\bspecial\b|\bunique\b|\bstand out\b|"
            r"\bbest thing\b|\bcelebrated\b|\bnoted for\b|\bpopular for\b|\btell me about\b|"
            r"\binteresting\b|\bfun facts?\b|\bsomething about\b|"
            r"\bdescribe (?:your|the) city\b|\bwhat is (?:your|the) city like\b|"
            r"\bwhat is it like\b",
            "famous",
        ),
        (
            r"^where\b|\blocated\b|\bpart of\b|\b(?:what|which) part\b|\bregion\b|"
            r"\bwhereabouts\b|\bgeograph\w*\b",
            "location",
        ),
    ]
]


_STATIC_INDEX = NeedleIndex([pattern for pattern, _ in _STATIC_ATOMS])
_OPEN_INDEX = NeedleIndex([pattern for pattern, _ in _OPEN_TOPICS])


def _free_text(city: City) -> str:
    return " ".join(
        [*city.famous_for, *city.industries, *city.landmarks, city.history, *city.nicknames]
    )


# --- evaluation ---------------------------------------------------------------------------------
def _band(text: str) -> tuple[float, float]:
    """Population band in millions as (low, high)."""
    folded = text.lower()
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", folded)]
    if not numbers:
        return (0.0, math.inf)
    if re.search(r"over|more than|above|\+", folded):
        return (numbers[0], math.inf)
    if re.search(r"under|less than|below", folded):
        return (0.0, numbers[0])
    return (numbers[0], numbers[-1])


def _contains_word(haystack: str, needle: str) -> bool:
    return re.search(rf"(?<![a-z-]){re.escape(needle)}(?![a-z-])", haystack) is not None


class CityFacts:
    """One city's facts in the folded forms the evaluation compares."""

    def __init__(self, city: City, reader: CityReader):
        self.city = city
        self.country = fold(city.country)
        self.country_keys = {self.country}
        self.neighbours = {fold(n) for n in city.neighbouring_countries}
        for neighbour in list(self.neighbours):
            self.neighbours |= reader.country_forms.get(neighbour, set())
        self.region = fold(city.region)
        self.continent = fold(city.continent)
        self.climate = city.climate.lower()
        self.weather = " ".join(
            fold(t) for t in (city.climate, city.climate_description, city.summer, city.winter)
        )
        self.winter = fold(city.winter)
        self.summer = fold(city.summer)
        self.languages = [fold(lang) for lang in city.languages]
        self.religions = [fold(r) for r in city.religions]
        self.currency = fold(city.currency)
        self.seas = " | ".join(fold(s) for s in city.seas)
        self.rivers = " | ".join(fold(r) for r in city.rivers)
        self.food = fold(" ".join([city.cuisine, *city.dishes]))
        self.sports = " | ".join(fold(s) for s in city.sports)
        self.topics = {_stem(w) for w in fold(_free_text(city)).split()}
        self.all_topics = self.topics | {_stem(w) for w in self.food.split()}
        self.topic_blob = " ".join(sorted(self.topics))
        self.all_topic_blob = " ".join(sorted(self.all_topics))
        self.band = _band(city.population_band)
        self.lakes = {fold(lake) for lake in city.lakes}
        self.island = fold(city.island) if city.island else None
        self.place = _Place.of_city(city)
        self.reader_places, self.reader_country_forms = reader.places, reader.country_forms
        own = [city.admin_region.name, *_own_names(city), *city.admin_region.areas]
        self.place_names = {f for n in own if n for f in _place_forms(n)}
        self.place_keys = {
            key
            for form in self.place_names
            for key in reader.places.get(form, ())
            if key[0] == self.country
        }
        # the city's names become "my city" and, in open answers, its country "my country" (a
        # safety net: the facts are written without them)
        secrets = city_secret_names(city)
        self.names_regex = _names_regex(secrets)
        self.derived_regex = _derived_regex(secrets)
        self.country_regex = _names_regex(
            (city.country, *city.country_aliases), r"(?<!north )(?<!south )(?<!latin )(?<!central )"
        )

    @functools.cached_property
    def outline(self) -> list | None:
        """The outline of the city's country (countries.json), if it has one."""
        return _outlines().get(self.country)

    @functools.cached_property
    def position(self) -> geography.Position | None:
        """Where the city lies in its country."""
        if self.outline is None or math.isnan(self.place.lat):
            return None
        return geography.position_in(self.place.lat, self.place.lon, self.outline)

    @functools.cached_property
    def coast_km(self) -> float | None:
        """How far the city lies from its country's coast (outline edges that are no land
        border), None where the outline is unknown."""
        if self.outline is None or math.isnan(self.place.lat):
            return None
        neighbours = [_outlines().get(n) for n in self.neighbours]
        return geography.coast_distance_km(
            self.place.lat, self.place.lon, self.outline, [o for o in neighbours if o]
        )

    @functools.cached_property
    def island_position(self) -> geography.Position | None:
        """Where the city lies in the part of its country's outline it stands on (an island)."""
        if self.outline is None or math.isnan(self.place.lat):
            return None
        ring = geography.containing_polygon(self.place.lat, self.place.lon, self.outline)
        return (
            None if ring is None else geography.position_in(self.place.lat, self.place.lon, [ring])
        )


@functools.cache
def _outlines() -> dict[str, list]:
    """Country outlines by every folded name and alias of countries.json."""
    outlines = {}
    for name, country in geography.default_outlines().items():
        for form in (name, *country.get("aliases", ())):
            outlines.setdefault(fold(form), country["outline"])
    return outlines


def _place_truth(form: Form, facts: CityFacts) -> bool:
    """Whether the city lies in the subdivision or area a question names (one it does not lie
    in is a known place elsewhere)."""
    keys = facts.reader_places.get(form[1], set())
    return form[1] in facts.place_names or bool(facts.place_keys & keys)


_DIRECTION_STEPS = {
    "north": (0, 1),
    "south": (0, -1),
    "east": (1, 0),
    "west": (-1, 0),
    "northeast": (1, 1),
    "northwest": (-1, 1),
    "southeast": (1, -1),
    "southwest": (-1, -1),
}


# each continent's mainland extremes in degrees (south, north, west, east): Europe to the
# Urals, Asia from the Aegean, Oceania from Australia's west coast
_CONTINENT_EXTENTS = {
    "europe": (36.0, 71.0, -10.0, 60.0),
    "asia": (-10.0, 77.0, 26.0, 180.0),
    "africa": (-35.0, 37.5, -17.5, 51.5),
    "north america": (7.0, 72.0, -168.0, -52.0),
    "south america": (-55.0, 12.5, -81.5, -34.5),
    "oceania": (-47.0, 0.0, 113.0, 180.0),
}


def _continent_position(continent: str, facts: CityFacts) -> geography.Position | None:
    """Where the city lies between its continent's extremes (shares of the way north and east)."""
    if math.isnan(facts.place.lat):
        return None
    south, north, west, east = _CONTINENT_EXTENTS[continent]
    return geography.Position(
        (facts.place.lat - south) / (north - south), (facts.place.lon - west) / (east - west)
    )


def _lies(direction: str, position: geography.Position, threshold: float) -> bool:
    """Whether a position (shares of the land south and west of it) is in that direction."""
    dx, dy = position.east - 0.5, position.north - 0.5
    if direction == "centre":
        return abs(dx) < 0.3 and abs(dy) < 0.3
    sx, sy = _DIRECTION_STEPS[direction]
    if sx and sy:
        return (sx * dx + sy * dy) / math.sqrt(2) > threshold and min(sx * dx, sy * dy) > -0.05
    return sx * dx + sy * dy > threshold


def _position_truth(form: Form, facts: CityFacts) -> bool | None:
    """ "In the north of the country": an area of the city's country of that name decides
    ("South India"), else where the city lies in its country or island."""
    _, kind, key, direction, threshold, phrase = form
    for name in dict.fromkeys((phrase, phrase.split(" of ")[0])):
        if any(k[0] == facts.country for k in facts.reader_places.get(name, ())):
            return _place_truth(("place", name), facts)
    if kind == "continent":
        if facts.continent != key:
            return False
        position = _continent_position(key, facts)
    elif kind == "country":
        if key is not None and facts.country not in key.split("|"):
            return False
        position = facts.position
    else:
        if key is not None and key not in (
            facts.island,
            re.sub(r" island$", "", facts.island or ""),
        ):
            return False
        position = facts.island_position
    return None if position is None else _lies(direction, position, threshold)


def _near(form: Form, facts: CityFacts) -> bool | None:
    _, lat, lon, yes_km, no_km = form
    if math.isnan(facts.place.lat) or math.isnan(lat):
        return None
    km = geography.haversine_km(facts.place.lat, facts.place.lon, lat, lon)
    return True if km < yes_km else False if km > no_km else None


def _direction_of(form: Form, facts: CityFacts) -> bool | None:
    """ "East of Osaka": the city's latitude and longitude against the other city's."""
    _, direction, lat, lon = form
    if math.isnan(facts.place.lat) or math.isnan(lat):
        return None
    sx, sy = _DIRECTION_STEPS.get(direction, (0, 0))
    steps = [((facts.place.lon - lon + 180) % 360 - 180) * sx, (facts.place.lat - lat) * sy]
    values = [
        True if d > 0.5 else False if d < -0.5 else None
        for d, step in zip(steps, (sx, sy), strict=True)
        if step
    ]
    return _and(values) if values else None


_COAST_KM, _NOT_COAST_KM = 40, 150  # near the coast: yes under, no over (the outlines are coarse)


def _coast_near(facts: CityFacts) -> bool | None:
    """Near the sea: a coastal city is; another by its distance to its country's coast."""
    if facts.city.coastal:
        return True
    km = facts.coast_km
    if km is None:
        return None
    return True if km < _COAST_KM else False if km > _NOT_COAST_KM else None


def _direction_of_country(form: Form, facts: CityFacts) -> bool | None:
    """ "East of France": True where the city lies beyond every point of the country's mainland
    (its outline's longest ring) that way, False where it is not even past its middle (or is in
    it), else None."""
    _, direction, keys = form
    if facts.country_keys & set(keys):
        return False
    outlines = [_outlines().get(k) for k in keys]
    if None in outlines or math.isnan(facts.place.lat):
        return None
    points = np.asarray(max((ring for o in outlines for ring in o), key=len), dtype=float)
    offsets = (
        geography.wrap(facts.place.lon - points[:, 0]),  # how far east of each point
        facts.place.lat - points[:, 1],  # how far north
    )
    values = [
        True if (step * d).min() > 0 else False if (step * d).mean() < 0 else None
        for d, step in zip(offsets, _DIRECTION_STEPS.get(direction, (0, 0)), strict=True)
        if step
    ]
    return _and(values) if values else None


def _border_near(form: Form, facts: CityFacts) -> bool | None:
    """Near the border (with a country): the distance to the neighbour's outline."""
    if math.isnan(facts.place.lat):
        return None
    neighbours = [fold(n) for n in facts.city.neighbouring_countries]
    if form[1] is not None:
        wanted = set(form[1])
        forms = facts.reader_country_forms
        neighbours = [n for n in neighbours if n in wanted or forms.get(n, set()) & wanted]
    outlines = [_outlines().get(n) for n in neighbours]
    if not neighbours:
        return False
    if None in outlines:
        return None
    km = min(
        geography.distance_to_outline_km(facts.place.lat, facts.place.lon, o) for o in outlines
    )
    return True if km < _BORDER_KM else False if km > _NOT_BORDER_KM else None


def _same_admin(form: Form, facts: CityFacts) -> bool:
    _, country, admin = form
    own = {
        f
        for n in (facts.city.admin_region.name, *_own_names(facts.city))
        if n
        for f in _place_forms(n)
    }
    return country in facts.country_keys and bool(own & admin)


def _and(values: list[bool | None]) -> bool | None:
    return False if False in values else None if None in values else True


def _or(values: list[bool | None]) -> bool | None:
    return True if True in values else None if None in values else False


def _not(form: Form, facts: CityFacts, index: int) -> bool | None:
    value = truth(form[1], facts, index)
    return None if value is None else not value


def _continent(form: Form, facts: CityFacts) -> bool:
    if form[1] == "oceania" and "australia" in facts.country_keys:
        return True
    return facts.continent == form[1]


def _region(form: Form, facts: CityFacts) -> bool:
    names = form[1] if isinstance(form[1], tuple) else (form[1],)
    return any(re.search(rf"\b{re.escape(n)}\b", facts.region) for n in names)


def _capital(form: Form, city: City) -> bool:
    return city.capital != "none" if form[1] == "any" else city.capital == form[1]


def _elevation_m(form: Form, city: City) -> bool | None:
    if city.elevation_m is None:
        return None
    return city.elevation_m > form[2] if form[1] == ">" else city.elevation_m < form[2]


def _cold(facts: CityFacts) -> bool:
    cold_winter = _contains_word(facts.winter, "cold") and not _contains_word(
        facts.winter, "not cold"
    )
    return (
        bool(facts.city.snow)
        or facts.climate in ("humid continental", "subarctic")
        or (cold_winter)
    )


def _rainy(facts: CityFacts) -> bool:
    if facts.climate == "arid":
        return False
    wet_climate = facts.climate in ("tropical", "oceanic", "humid subtropical")
    return facts.city.rainy_season is not None or wet_climate or "rain" in facts.weather


def _population_truth(form: Form, facts: CityFacts) -> bool | None:
    low, high = facts.band
    operator, value = form[1], form[2]
    if operator == ">":
        return True if low >= value else False if high <= value else None
    if operator == "<":
        return True if high <= value else False if low >= value else None
    return True if low <= value <= high and high - low <= value else None


def _language(form: Form, facts: CityFacts) -> bool:
    wanted = _LANGUAGE_SYNONYMS.get(form[1], (form[1],))
    spoken = facts.languages[:1] if form[2] else facts.languages
    return any(w in lang for lang in spoken for w in wanted)


def _religion(form: Form, facts: CityFacts) -> bool:
    wanted = _RELIGION_MATCH.get(form[1], (form[1],))
    followed = facts.religions[:1] if form[2] else facts.religions
    return any(w in r for r in followed for w in wanted)


def _currency(form: Form, facts: CityFacts) -> bool:
    wanted = _CURRENCY_MATCH.get(form[1], (form[1],))
    return any(_contains_word(facts.currency, w) for w in wanted)


def _sport(form: Form, facts: CityFacts) -> bool:
    sport = form[1]
    if sport in ("soccer", "football") and "american football" not in facts.sports:
        return "football" in facts.sports or "soccer" in facts.sports
    return sport in facts.sports


def _utc(form: Form, city: City) -> bool | None:
    if city.utc_offset is None or form[1] is None:
        return None
    return abs(city.utc_offset - form[1]) < 0.01


def _utc_sign(form: Form, city: City) -> bool | None:
    if city.utc_offset is None:
        return None
    return city.utc_offset > 0 if form[1] == ">" else city.utc_offset < 0


def _topic(form: Form, facts: CityFacts) -> bool:
    if form[2]:
        words, blob = facts.all_topics, facts.all_topic_blob
    else:
        words, blob = facts.topics, facts.topic_blob
    return any(_has_topic(words, blob, stem) for stem in form[1])


_COLD_CLIMATES = ("humid continental", "subarctic")
# a yes/no form's kind -> its truth for one city: (form, facts, city index) -> True/False/None
_TRUTH: dict[str, Callable[[Form, CityFacts, int], bool | None]] = {
    "not": _not,
    "and": lambda form, facts, index: _and([truth(f, facts, index) for f in form[1]]),
    "or": lambda form, facts, index: _or([truth(f, facts, index) for f in form[1]]),
    "cities": lambda form, facts, index: index in form[1],
    "unknown": lambda form, facts, index: None,
    "continent": lambda form, facts, index: _continent(form, facts),
    "region": lambda form, facts, index: _region(form, facts),
    "region_special": lambda form, facts, index: _special_region(form[1], facts),
    "hemi": lambda form, facts, index: (
        form[1] in (facts.city.hemisphere_ns.lower(), facts.city.hemisphere_ew.lower())
    ),
    "country": lambda form, facts, index: form[1] in facts.country_keys,
    "border": lambda form, facts, index: form[1] in facts.neighbours,
    "capital": lambda form, facts, index: _capital(form, facts.city),
    "capital_of": lambda form, facts, index: (
        facts.city.capital_of is not None and fold(facts.city.capital_of).startswith(form[1])
    ),
    "coastal": lambda form, facts, index: facts.city.coastal,
    "coast_near": lambda form, facts, index: _coast_near(facts),
    "water": lambda form, facts, index: facts.city.coastal or bool(facts.city.rivers),
    "river_any": lambda form, facts, index: bool(facts.city.rivers),
    "sea": lambda form, facts, index: _contains_word(facts.seas, form[1]),
    "river": lambda form, facts, index: _contains_word(facts.rivers, form[1]),
    "elev": lambda form, facts, index: (
        facts.city.elevation == ("high" if form[1] == "high" else "low")
    ),
    "elev_m": lambda form, facts, index: _elevation_m(form, facts.city),
    "mountains": lambda form, facts, index: (
        facts.city.elevation in ("high", "medium") or "mountain" in facts.weather
    ),
    "snow": lambda form, facts, index: facts.city.snow,
    "freezing": lambda form, facts, index: bool(facts.city.snow) or facts.climate in _COLD_CLIMATES,
    "climate": lambda form, facts, index: any(_contains_word(facts.climate, c) for c in form[1]),
    "climate_exact": lambda form, facts, index: fold(facts.climate) == form[1],
    "humid": lambda form, facts, index: "humid" in facts.weather or facts.climate == "tropical",
    "hot": lambda form, facts, index: (
        facts.climate in ("tropical", "arid", "semi-arid") or _contains_word(facts.summer, "hot")
    ),
    "cold": lambda form, facts, index: _cold(facts),
    "mild": lambda form, facts, index: not facts.city.snow and facts.climate not in _COLD_CLIMATES,
    "monsoon": lambda form, facts, index: (
        "monsoon" in facts.weather or "monsoon" in fold(facts.city.rainy_season or "")
    ),
    "rainy_season": lambda form, facts, index: facts.city.rainy_season is not None,
    "rainy": lambda form, facts, index: _rainy(facts),
    "pop": lambda form, facts, index: _population_truth(form, facts),
    "lang": lambda form, facts, index: _language(form, facts),
    "religion": lambda form, facts, index: _religion(form, facts),
    "currency": lambda form, facts, index: _currency(form, facts),
    "food": lambda form, facts, index: form[1] in facts.food,
    "sport": lambda form, facts, index: _sport(form, facts),
    "utc": lambda form, facts, index: _utc(form, facts.city),
    "utc_sign": lambda form, facts, index: _utc_sign(form, facts.city),
    "topic": lambda form, facts, index: _topic(form, facts),
    "place": lambda form, facts, index: _place_truth(form, facts),
    "pos": lambda form, facts, index: _position_truth(form, facts),
    "near": lambda form, facts, index: _near(form, facts),
    "dir_of": lambda form, facts, index: _direction_of(form, facts),
    "dir_of_country": lambda form, facts, index: _direction_of_country(form, facts),
    "border_near": lambda form, facts, index: _border_near(form, facts),
    "same_admin": lambda form, facts, index: _same_admin(form, facts),
    "elsewhere": lambda form, facts, index: (
        None if _near(("near", form[1], form[2], 5, 5), facts) is not False else False
    ),
    "equator": lambda form, facts, index: _near_equator(facts.place.lat),
    "island_any": lambda form, facts, index: facts.island is not None,
    "island": lambda form, facts, index: (
        facts.island is not None
        and form[1] in (facts.island, re.sub(r" island$", "", facts.island))
    ),
    "lake_any": lambda form, facts, index: bool(facts.lakes) or "lagoon" in facts.seas,
    "lake": lambda form, facts, index: bool(
        facts.lakes & set(_LAKE_GROUPS.get(form[1], (form[1],)))
    ),
    "admin_kind": lambda form, facts, index: fold(facts.city.admin_region.kind) == form[1],
}


def _near_equator(lat: float) -> bool | None:
    if math.isnan(lat):
        return None
    return True if abs(lat) < 10 else False if abs(lat) > 20 else None


def truth(form: Form, facts: CityFacts, index: int) -> bool | None:
    """The truth of a yes/no form for one city (``facts``, at ``index`` of the list): True,
    False, or None where the facts do not settle it."""
    rule = _TRUTH.get(form[0])
    if rule is None:
        raise ValueError(f"unknown logical form {form!r}")
    return rule(form, facts, index)


def _special_region(name: str, facts: CityFacts) -> bool | None:
    region, continent = facts.region, facts.continent
    if name in ("middle east", "near east"):
        return "middle east" in region or "western asia" in region or facts.country == "egypt"
    if "soviet" in name or name == "ussr":
        return facts.country in _SOVIET
    if name == "far east":
        return "east asia" in region and "south" not in region
    if name in ("indian subcontinent", "subcontinent"):
        return "south asia" in region
    if name == "latin america":
        return (
            continent == "south america"
            or any(r in region for r in ("latin america", "central america", "caribbean"))
            or facts.country in ("mexico", "cuba")
        )
    if name == "central america":
        return "central america" in region
    if name == "sub saharan africa":
        return continent == "africa" and "north" not in region
    if name in ("americas", "the americas"):
        return continent in ("north america", "south america")
    if name == "the tropics" or name == "tropics":
        return facts.climate == "tropical"
    return "scandinavia" in region if name == "scandinavia" else "balkan" in region


# --- answering ----------------------------------------------------------------------------------
class CityOracle:
    """Answers questions about the hidden city from the knowledge, offline and deterministically.

    The answers never name the city (nor its aliases or nicknames); open answers never name the
    country either; what the facts do not cover gets "I'm not sure about that."."""

    def __init__(self, cities: Sequence[City] | None = None, reader: CityReader | None = None):
        self.cities = tuple(cities) if cities is not None else default_cities()
        self.reader = reader or reader_for(self.cities)
        self._facts: dict[int, CityFacts] = {}
        self._by_name = {fold(c.name): i for i, c in enumerate(self.cities)}
        self._by_name.update({c.name: i for i, c in enumerate(self.cities)})

    def __getstate__(self):
        return {"cities": self.cities}

    def __setstate__(self, state):
        self.__init__(state["cities"])

    def answer(self, queries: Sequence[Query]) -> list[str]:
        return [self.answer_one(q.target, q.question) for q in queries]

    def facts(self, index: int) -> CityFacts:
        if index not in self._facts:
            self._facts[index] = CityFacts(self.cities[index], self.reader)
        return self._facts[index]

    def answer_one(self, target: str, question: str) -> str:
        index = self._by_name.get(target)
        if index is None:
            index = self._by_name.get(fold(target))
        if index is None:
            raise KeyError(f"{target!r} is not a city of this knowledge base")
        form = self.reader.read(question)
        if form is None:
            return NOT_SURE
        if form[0] == "refuse":
            return REFUSAL
        facts = self.facts(index)
        if form[0] == "open":
            text = _open_answer(form[1], facts) or NOT_SURE
        else:
            value = truth(form, facts, index)
            if value is not None:
                return YES if value else NO
            text = _unsure(form, facts)
        return facts.derived_regex.sub("local", facts.names_regex.sub("my city", text))


def _unsure(form: Form, facts: CityFacts) -> str:
    if form[0] == "pop":
        low, high = facts.band
        return f"{NOT_SURE[:-1]} exactly; {_population(low, high)}."
    return NOT_SURE


def _population(low: float, high: float) -> str:
    if math.isinf(high):
        return f"more than {low:g} million people live in the metropolitan area"
    if low <= 0:
        return f"fewer than {high:g} million people live here"
    return f"between {low:g} and {high:g} million people live in the metropolitan area"


def _names_regex(names: Iterable[str], lookbehind: str = "") -> re.Pattern:
    ordered = sorted({n for n in names if len(n) > 1}, key=len, reverse=True)
    return re.compile(
        rf"(?i)(?<![a-z]){lookbehind}(?:{'|'.join(map(re.escape, ordered))})(?![a-z])"
    )


def _derived_regex(names: Iterable[str]) -> re.Pattern:
    """Words that begin with a name ("Cantonese" from Canton, "Shanghainese")."""
    stems = sorted({fold(n) for n in names if len(fold(n)) >= 4}, key=len, reverse=True)
    return re.compile(rf"(?i)(?<![a-z])(?:{'|'.join(map(re.escape, stems))})[a-z]+")


def _clean_items(items: Sequence[str], facts: CityFacts, country: bool = True) -> list[str]:
    """Items that name neither the city nor (if ``country``) the country; others are dropped."""
    city = facts.city
    secret = [*city_secret_names(city), *((city.country, *city.country_aliases) if country else ())]
    secret = [s for s in secret if len(s) > 3]
    kept = []
    for item in items:
        # "Shanghainese (Wu Chinese)" -> "Wu Chinese": keep the part that names nothing
        for part in (item, *re.findall(r"\(([^)]+)\)", item), re.sub(r"\s*\([^)]*\)", "", item)):
            if part.strip() and not reveals(part, secret):
                kept.append(part.strip())
                break
    return kept


def _the(name: str) -> str:
    """ "the Nile", but "a river of the same name" as it is."""
    return name if re.match(r"(?i)(?:a|an|the) ", name) else f"the {name}"


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "." if text else ""


def _place(city: City) -> str:
    where = city.region or city.continent
    return where + (f", in {city.continent}" if where != city.continent else "")


def _say_neighbours(facts: CityFacts) -> str:
    neighbours = _clean_items(facts.city.neighbouring_countries, facts, country=False)
    if not neighbours:
        return "My country has no land borders with other countries."
    return f"My country borders {listing(neighbours)}."


def _say_language(facts: CityFacts) -> str | None:
    languages = _clean_items(facts.city.languages, facts, country=False)
    if not languages:
        return None
    others = listing(languages[1:3])
    return f"Most people here speak {languages[0]}" + (
        f"; you also hear {others}." if others else "."
    )


def _say_religion(facts: CityFacts) -> str | None:
    religions = facts.city.religions
    if not religions:
        return None
    others = listing(list(religions[1:3]))
    verb = "is" if len(religions) == 2 else "are"
    if _RELIGIONS.get(fold(religions[0])) == "irreligio":
        text = "Most people here are not religious"
    else:
        text = f"Most people here follow {religions[0]}"
    return text + (f"; {others} {verb} common too." if others else ".")


def _say_food(facts: CityFacts) -> str | None:
    city = facts.city
    dishes = _clean_items(city.dishes, facts)[:3]
    text = _sentence(f"The food here is {city.cuisine}") if city.cuisine else ""
    if dishes:
        text += f" You should try {listing(dishes).replace(' and ', ' or ')}."
    return text.strip() or None


_ELEVATION_BANDS = {"low": "less than 200", "medium": "200 to 1,000", "high": "more than 1,000"}


def _say_elevation(facts: CityFacts) -> str | None:
    city = facts.city
    if city.elevation_m is not None:
        return f"We're about {city.elevation_m:,.0f} metres above sea level."
    if city.elevation in _ELEVATION_BANDS:
        return f"We're {_ELEVATION_BANDS[city.elevation]} metres above sea level."
    return None


def _say_water(facts: CityFacts) -> str:
    city = facts.city
    seas = _clean_items(city.seas, facts)
    rivers = _clean_items(city.rivers, facts)
    if city.coastal:
        text = f"We're on the coast{' of ' + _the(listing(seas[:2])) if seas else ''}."
    else:
        text = "We're inland, away from the sea."
    if rivers:
        verb = "runs" if len(rivers) == 1 else "run"
        text += " " + _sentence(f"{_the(listing(rivers[:2]))} {verb} through the city")
    return text


def _say_timezone(facts: CityFacts) -> str | None:
    hours = facts.city.utc_offset
    if hours is None:
        return None
    sign = "+" if hours >= 0 else "-"
    whole, minutes = int(abs(hours)), round(abs(hours) % 1 * 60)
    return f"We're on UTC{sign}{whole}" + (f":{minutes:02d}" if minutes else "") + "."


def _say_capital(facts: CityFacts) -> str:
    city = facts.city
    if city.capital == "national":
        return "My city is the capital of the country."
    if city.capital != "state":
        return "My city isn't a capital."
    place = city.capital_of
    if place and not _clean_items([place], facts):
        place = None
    if place:
        return f"My city is the capital of {place}, but not of the whole country."
    return "My city is the capital of its state or province, not of the country."


def _say_items(items: str, template: str, count: int) -> Callable[[CityFacts], str | None]:
    """An answer listing up to ``count`` of the city's ``items`` (names cleaned), if it has any."""

    def say(facts: CityFacts) -> str | None:
        found = _clean_items(getattr(facts.city, items), facts)[:count]
        return template.format(listing(found)) if found else None

    return say


def _sentence_of(text: str | None, template: str = "{}") -> str | None:
    return _sentence(template.format(text)) if text else None


# an open topic -> the answer for one city (None: nothing to say)
_OPEN_ANSWERS: dict[str, Callable[[CityFacts], str | None]] = {
    "continent": lambda facts: f"It's in {facts.city.continent}.",
    "hemisphere": lambda facts: (
        f"We're in the {facts.city.hemisphere_ns} and {facts.city.hemisphere_ew} hemispheres."
    ),
    "location": lambda facts: f"It's in {_place(facts.city)}.",
    "country": lambda facts: (
        f"I'd rather not name my country, but my city is in {_place(facts.city)}."
    ),
    "neighbours": _say_neighbours,
    "language": _say_language,
    "winter": lambda facts: _sentence_of(facts.city.winter, "Winters here are {}"),
    "summer": lambda facts: _sentence_of(facts.city.summer, "Summers here are {}"),
    "rain": lambda facts: (
        f"The rainy season here is {facts.city.rainy_season}."
        if facts.city.rainy_season
        else "We don't really have a rainy season."
    ),
    "snow": lambda facts: (
        "Yes, it snows here most winters." if facts.city.snow else "No, it doesn't snow here."
    ),
    "climate": lambda facts: _sentence(
        f"The climate is {facts.city.climate}: {facts.city.climate_description}"
    ),
    "currency": lambda facts: (
        f"We pay with the {_currency_word(facts.city)}." if facts.city.currency else None
    ),
    "religion": _say_religion,
    "food": _say_food,
    "sport": lambda facts: (
        f"People here love {listing(list(facts.city.sports[:3]))}." if facts.city.sports else None
    ),
    "industry": _say_items("industries", "Big industries here are {}.", 4),
    "population": lambda facts: _sentence(_population(*facts.band)),
    "elevation": _say_elevation,
    "water": _say_water,
    "timezone": _say_timezone,
    "capital": _say_capital,
    "history": lambda facts: _sentence_of(facts.city.history),
    "landmarks": _say_items("landmarks", "Visitors come to see {}.", 2),
    "famous": _say_items("famous_for", "It's famous for {}.", 3),
}


def _open_answer(topic: str, facts: CityFacts) -> str | None:
    say = _OPEN_ANSWERS.get(topic)
    text = say(facts) if say is not None else None
    return facts.country_regex.sub("my country", text) if text else None


def _currency_word(city: City) -> str:
    """The currency without the country's name or demonym ("Indian rupee" -> "rupee")."""
    words = re.sub(r"\s*\([^)]*\)", "", city.currency).split()
    country_words = (
        {
            w
            for name in (city.country, *city.country_aliases, *city.names)
            for w in fold(name).split()
        }
        | set(_DEMONYMS.values())
        | {"us", "u.s.", "new"}
    )
    kept = [w for w in words if fold(w) not in country_words and fold(w) != "korean"]
    return " ".join(kept) or city.currency


@functools.cache
def reader_for(cities: tuple[City, ...]) -> CityReader:
    return CityReader(cities)


@functools.cache
def guess_index_for(cities: tuple[City, ...]) -> CityIndex:
    """What a guess may name: the cities' proper names and spellings, not their nicknames."""
    return CityIndex(cities, nicknames=False)
