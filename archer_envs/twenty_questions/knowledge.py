"""The offline knowledge-base oracle for object-guessing games (Twenty Questions).

A knowledge base (data/twenty_questions/) holds yes/no properties, each with the English patterns
that ask about it, and objects, each with its names, category, typical size and weight and the
set of properties that are true of it (closed world: the rest are false). ``QuestionParser``
reads a question as people write it into a small logical form:

    ("prop", id)                      a property of the hidden object
    ("obj", index)                    "is it a <name>?" (identity)
    ("cmp", "size"|"weight"|"price", ">"|"<"|"~", value)   comparisons with things or amounts
    ("not", f) ("and", (f, ...)) ("or", (f, ...)) ("const", bool)

or None when the input is not a yes/no question about the object. ``KnowledgeBaseOracle``
evaluates the form against the hidden object and answers "Yes.", "No." or "Invalid Question.".
Questions are parsed once and cached, so repeated questions cost a dictionary lookup.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from archer_envs.oracles.base import Query
from archer_envs.oracles.english import (
    INDIRECT,
    LEAD_IN,
    NEGATIVE_INTERROGATIVE,
    TAG_QUESTION,
    TOKEN,
    NeedleIndex,
    Prefiltered,
    Substitutions,
    alternation,
    expansions,
    join,
    last_question,
    normalise,
)
from archer_envs.question_game import NO, YES

try:
    from re import _parser as sre_parse  # Python >= 3.11
except ImportError:  # pragma: no cover
    import sre_parse  # Python 3.10

INVALID = "Invalid Question."
ANSWERS = (YES, NO, INVALID)

Form = tuple


# --- the knowledge base ------------------------------------------------------------------------
@dataclass(frozen=True)
class KBProperty:
    id: str
    question: str
    patterns: tuple[str, ...] = ()
    implies: tuple[str, ...] = ()


@dataclass(frozen=True)
class KBObject:
    names: tuple[str, ...]
    category: str
    size_cm: float
    weight_kg: float
    yes: frozenset[str]

    @property
    def name(self) -> str:
        return self.names[0]


@dataclass(frozen=True, eq=False)
class KnowledgeBase:
    properties: dict[str, KBProperty]
    objects: tuple[KBObject, ...]
    phrases: tuple[tuple[str, str], ...]
    references: tuple[tuple[tuple[str, ...], float, float], ...]

    @classmethod
    def load(cls, objects: str | os.PathLike | Sequence[dict] | None = None) -> KnowledgeBase:
        """The project's knowledge base, or its properties with ``objects`` of your own: a JSON
        file ``{"objects": [...]}`` or a list of dicts in the format of
        data/twenty_questions/objects.json."""
        from archer_envs.core import data_path

        folder = data_path("twenty_questions")
        spec = json.loads((folder / "properties.json").read_text())
        properties = {
            p["id"]: KBProperty(
                p["id"], p["question"], tuple(p.get("patterns", ())), tuple(p.get("implies", ()))
            )
            for p in spec["properties"]
        }
        phrases = tuple((p["pattern"], p["means"]) for p in spec.get("phrases", ()))
        refs = json.loads((folder / "references.json").read_text())["references"]
        references = tuple((tuple(r["names"]), r["size_cm"], r["weight_kg"]) for r in refs)
        if objects is None:
            objects = folder / "objects.json"
        if isinstance(objects, (str, os.PathLike)):
            objects = json.loads(Path(objects).read_text())["objects"]
        entries = tuple(_object_from_dict(entry, properties) for entry in objects)
        return cls(properties, entries, phrases, references)

    def find(self, name: str) -> int | None:
        """Index of the object called ``name`` (any of its names, any case), or None."""
        return self._index.get(name) if name in self._index else self._index.get(normalise(name))

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        index = dict(_name_index(tuple(o.names for o in self.objects)))
        for i, obj in enumerate(self.objects):  # canonical names as given, for the fast path
            index.setdefault(obj.name, i)
        return index


def _object_from_dict(entry: dict, properties: dict[str, KBProperty]) -> KBObject:
    required = {"names", "category", "size_cm", "weight_kg", "yes"}
    missing = required - set(entry)
    if missing:
        raise ValueError(f"knowledge-base object {entry.get('names')} lacks {sorted(missing)}")
    unknown = set(entry["yes"]) - set(properties)
    if unknown:
        raise ValueError(f"object {entry['names'][0]!r} uses unknown properties {sorted(unknown)}")
    return KBObject(
        tuple(entry["names"]),
        entry["category"],
        float(entry["size_cm"]),
        float(entry["weight_kg"]),
        frozenset(entry["yes"]),
    )


@functools.cache
def default_knowledge_base() -> KnowledgeBase:
    return KnowledgeBase.load()


_GENERIC_SUBJECTS = r"object|thing|item|word|answer|entity|noun"
_CATEGORY_SUBJECTS = (
    r"animal|creature|fruit|vegetable|vehicle|instrument|tool|device|gadget|utensil|appliance|"
    r"machine|plant|toy|garment|place|food|accessory|piece of (?:furniture|clothing|equipment|"
    r"jewelry|art)|item of clothing|article of clothing|musical instrument|kitchen (?:tool|"
    r"utensil|appliance|item)|electronic device|piece|product|material|substance|natural "
    r"feature|body of water"
)
_THINKING_OF = (
    r"(?: (?:that |which )?(?:you are|you have|you were|you)"
    r" (?:thinking|thought|chosen|chose|picked|imagining|picturing|got|have in mind|in mind)"
    r"(?: of| about| in mind)?)?(?: in question)?\b"
)
# "the object", "this animal", "the animal you are thinking of" (as the subject) -> "it"; a
# category noun after "the" only where a subject stands ("is the fruit sweet?"), so that
# "is it in the fruit family?" keeps its fruit.
_SUBJECT = Prefiltered(
    rf"\b(?:the|this|that|your|my|our)(?: secret| hidden| mystery| mysterious| chosen)?"
    rf" (?:{_GENERIC_SUBJECTS}){_THINKING_OF}"
    rf"|\b(?:this|that|your|my)(?: secret| hidden| mystery| particular)? (?:{_CATEGORY_SUBJECTS})"
    rf"{_THINKING_OF}"
    r"|\bwhat you are thinking (?:of|about)\b|\bwhat you have in mind\b|\b(?:they|them|this)\b"
)
_LEADING_SUBJECT = re.compile(
    r"^((?:is|are|does|do|can|could|would|will|was|were|has|have|should|might|did) )?"
    rf"the (?:{_CATEGORY_SUBJECTS}){_THINKING_OF}"
)
_REPHRASE = Substitutions(
    [
        (
            r"^(?:would|could|can|do|did) you (?:say|describe|consider|call|classify|"
            r"characteri[sz]e|think of|categori[sz]e|label) it (?:as |to be )?(?:being )?",
            "is it ",
        ),
        (r"^(?:would|could|can|do) you say (?:that )?", ""),
        (
            r"^(?:would|could|can|might) it be (?:described|classified|considered|called|"
            r"categori[sz]ed|thought of) as ",
            "is it ",
        ),
        (r"^(?:is it|would it be) (?:true|fair|accurate|correct|safe|right) (?:to say )?that ", ""),
        (
            r"^(?:would|could) it be (?:fair|accurate|correct|right) to (?:say|call it) (?:that )?",
            "",
        ),
        (
            r"\b(?:be |is |are )?(?:generally |typically |usually |commonly |often |widely )?"
            r"(?:considered|classified|regarded|seen|categori[sz]ed|described|thought of|known)"
            r" (?:to be |as )(?:being )?",
            " ",
        ),
        (r"\b(?:their|his|her|ones|one s|people s|a person s|someone s)\b", "your"),
        (r"\b(?:rather than|instead of|as opposed to)\b", "and not"),
        (
            r"\b(?:usually|typically|commonly|generally|normally|often|mostly|mainly|primarily|"
            r"frequently|always|sometimes|ever|ordinarily|traditionally)\b",
            "",
        ),
    ],
    strip=True,
)
_PLEASE = Prefiltered(r"^(?:please|pls|kindly) ")
_TRAILING_FILLER = Prefiltered(r" (?:please|then|now|at all|exactly|by any chance|perhaps|maybe)$")
_SPACES = re.compile(" +")
_OR = re.compile(r"\bor\b")
# "bigger or smaller than a cat?" asks for a choice, not yes or no
_CHOICE = Prefiltered(
    r"\b(?:bigger|larger|heavier|smaller|lighter) or (?:bigger|larger|heavier|smaller|lighter)\b"
)
_PERSON = Prefiltered(
    r"\b(can|could|would|will|do|does|did|should|might|may|must|to|that|which|something|"
    r"thing|things|object|anything) (?:people|someone|somebody|a person|humans|a human|"
    r"most people|we|i|one|anyone|the average person|a normal person|a typical person|"
    r"an average person|everyone|everybody)\b"
)
_WH_START = re.compile(
    r"^(?:what|which|where|when|who|whom|whose|why|how|describe|tell|give|name|list|say|spell|"
    r"reveal|explain|show|define|hint|help|write|repeat|print|ignore|forget|answer|pretend|"
    r"hello|hi|hey|i give up|you|please|lets|let us|guess|what is)\b"
)
_QUESTION_START = re.compile(
    r"\b(?:is|are|does|do|can|could|would|will|was|were|has|have|should|might|may|did|must)"
    r" (?:it|you|there|this)\b"
)
_REQUEST = re.compile(
    r"^(?:can|could|would|will) you (?:please )?(?:give|tell|say|spell|reveal|describe|help|show|"
    r"repeat|explain|translate|hint)\b"
    r"|^(?:do|did|are|were|have) you (?:know|like|want|love|think|mean|understand|feel|remember)\b"
)
_YES_NO_QUESTION = re.compile(
    r"^(?:is|are|does|do|can|could|would|will|was|were|has|have|should|might|may|did|must)"
    r" (?:it|there|you \w+(?: \w+){0,4} it\b)|^are you (?:\w+ )?thinking (?:of|about)\b"
)
_AUX_START = re.compile(
    r"^(?:is|are|does|do|can|could|would|will|was|were|has|have|should|might|may|did|must|am)\b"
)
_IDENTITY_FRAME = re.compile(
    r"^(?:is it|are you (?:\w+ )?thinking (?:of|about)|could it be|might it be|would it be|"
    r"is it perhaps|is it maybe) (?:(?:a |an |some |the )((?:\w+ ){0,2}\w+)|(\w+))$"
)
_GENERIC_WORDS = frozenset(
    """real specific kind type sort of common typical regular normal everyday ordinary little bit
    particular certain actual""".split()
)


_MATERIALS = (
    "metal|steel|iron|aluminum|wood|plastic|fabric|cloth|cotton|wool|silk|glass|paper|cardboard|"
    "rubber|leather|stone|rock|marble|ceramic|porcelain|clay|gold|silver|water"
)
_MATERIAL_LIST = Prefiltered(
    rf"\b(made|built|constructed|composed|formed|crafted)( out)? (of|from) ((?:{_MATERIALS})"
    rf"(?: (?:or |and )?(?:{_MATERIALS}))+)\b"
)


def _distribute_materials(match: re.Match) -> str:
    """ "made of stone metal or clay" -> "made of stone or made of metal or made of clay" """
    frame = match.group(0)[: match.start(4) - match.start(0)]
    words = match.group(4).split()
    joint = "and" if "and" in words and "or" not in words else "or"
    materials = [w for w in words if w not in ("or", "and")]
    return f" {joint} ".join(frame + m for m in materials)


def _unknown_noun(text: str, atoms: list[tuple[int, int, Form]]) -> bool:
    """Whether an identity-style question ("is it a <noun phrase>?") names a thing whose words
    the knowledge base does not cover ("a ping pong ball", "a giraffe", "a honeydew melon")."""
    frame = _IDENTITY_FRAME.match(text)
    if not frame:
        return False
    covered = [(start, end) for start, end, _ in atoms]
    group = 1 if frame.group(1) else 2
    position = frame.start(group)
    for word in frame.group(group).split():
        start = text.index(word, position)
        position = start + len(word)
        inside = any(a <= start and position <= b for a, b in covered)
        if not inside and word not in _GENERIC_WORDS:
            return True
    return False


_NEGATORS = {"not", "no", "never", "non", "without", "neither", "nor", "nothing"}
_BOUNDARIES = {"and", "or", "but", "also", "plus", "while", "although", "though"}
_IDENTITY_FILLER = frozenset(
    """is it a an the this that these those they them object thing item answer word you your are
    thinking of about kind type sort guess my i think maybe perhaps so then ok okay am final its
    hidden secret mystery or either some pair could would might must be should probably possibly
    just simply right correct was have inmind inside we talking imagining picturing let me say
    bet suppose assume sure certain confident now wait actually really exactly called named
    specific particular one single oh got chose chosen picked thought considering looking
    possible likely""".split()
)
_NOUN_PHRASE = re.compile(
    r"(?:(?:is it|it is|are you thinking of|maybe|perhaps|either) )*(?:a|an|the|some) \w+(?: \w+)?"
)
_ADJECTIVE_NAMES = {"orange"}  # "is it orange?" asks the colour; "is it an orange?" the fruit


def _plurals(name: str) -> set[str]:
    """The name and its plural/singular spellings (on the last word)."""
    words = name.split()
    last = words[-1]
    forms = {last}
    if last.endswith("s") and len(last) > 3:
        forms.add(last[:-1])
        if last.endswith("es"):
            forms.add(last[:-2])
        if last.endswith("ies"):
            forms.add(last[:-3] + "y")
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        forms.add(last[:-1] + "ies")
    elif last.endswith(("ch", "sh", "x", "o")):
        forms.add(last + "es")
        forms.add(last + "s")
    elif last.endswith("fe"):
        forms.add(last[:-2] + "ves")
        forms.add(last + "s")
    else:
        forms.add(last + "s")
    return {" ".join([*words[:-1], form]) for form in forms}


@functools.cache
def _name_index(object_names: tuple[tuple[str, ...], ...]) -> dict[str, int]:
    """Every normalised name form of every object -> object index (first object wins)."""
    index: dict[str, int] = {}
    for i, names in enumerate(object_names):
        for name in names:
            for form in _plurals(normalise(name)):
                index.setdefault(form, i)
                index.setdefault(form.replace(" ", ""), i)
    return index


# a whole word of a partial expansion: between known non-word characters (or the pattern's
# start, a word boundary); "\0" stands for text the expansion does not know
_WHOLE_WORD = re.compile(r"(?<![a-z0-9\0])[a-z0-9]+(?=[^a-z0-9\0])")


@functools.cache
def _expansion_words(pattern: str) -> tuple[frozenset[str], ...] | None:
    """The whole words of each expansion of ``pattern`` (matched between word boundaries, as
    ``_boundary`` puts it): every match holds all the words of one of them, as whole words of
    the text. None if some expansion is not known to hold a word. The parts are expanded from
    the left while there are at most 1,024 expansions; a part with too many expansions of its
    own is unknown text."""
    strings = {""}
    for item in [*sre_parse.parse(pattern), None]:  # None: the end, a word boundary
        options = {" "} if item is None else expansions([item])
        if options is None:
            strings = {text + "\0" for text in strings}
            continue
        longer = {a + b for a in strings for b in options}
        if len(longer) > 1024:
            break
        strings = longer
    words = {frozenset(_WHOLE_WORD.findall(text)) for text in strings}
    return None if frozenset() in words else tuple(sorted(words, key=sorted))


def _boundary(pattern: str) -> str:
    return r"(?<![a-z0-9])(?:" + pattern + r")(?![a-z0-9])"


# --- comparisons -------------------------------------------------------------------------------
# fmt: off
_UNITS = {
    "size": {
        "mm": 0.1, "millimeter": 0.1, "millimeters": 0.1, "cm": 1.0, "centimeter": 1.0,
        "centimeters": 1.0, "inch": 2.54, "inches": 2.54, "in": 2.54, "foot": 30.48, "feet": 30.48,
        "ft": 30.48, "yard": 91.44, "yards": 91.44, "meter": 100.0, "meters": 100.0, "m": 100.0,
        "km": 1e5, "kilometer": 1e5, "kilometers": 1e5, "mile": 160934.0, "miles": 160934.0,
    },
    "weight": {
        "g": 0.001, "gram": 0.001, "grams": 0.001, "ounce": 0.0283, "ounces": 0.0283,
        "oz": 0.0283, "pound": 0.4536, "pounds": 0.4536, "lb": 0.4536, "lbs": 0.4536, "kg": 1.0,
        "kgs": 1.0, "kilo": 1.0, "kilos": 1.0, "kilogram": 1.0, "kilograms": 1.0, "ton": 1000.0,
        "tons": 1000.0, "tonne": 1000.0, "tonnes": 1000.0, "stone": 6.35,
    },
    "price": {"dollars": 1.0, "dollar": 1.0, "bucks": 1.0, "usd": 1.0, "euros": 1.0,
              "euro": 1.0, "quid": 1.0},
}
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "hundred": 100, "a hundred": 100, "one hundred": 100,
    "thousand": 1000, "a thousand": 1000, "one thousand": 1000, "a million": 1e6, "million": 1e6,
    "half a": 0.5, "a couple of": 2, "a few": 3, "several": 5,
}
_COMPARATIVES = {  # comparative -> (dimension, direction)
    "bigger": ("size", ">"), "larger": ("size", ">"), "taller": ("size", ">"),
    "longer": ("size", ">"), "wider": ("size", ">"), "greater": ("size", ">"),
    "higher": ("size", ">"), "huger": ("size", ">"), "bulkier": ("size", ">"),
    "smaller": ("size", "<"), "shorter": ("size", "<"), "tinier": ("size", "<"),
    "littler": ("size", "<"), "narrower": ("size", "<"), "heavier": ("weight", ">"),
    "lighter": ("weight", "<"), "weigh more": ("weight", ">"), "weighs more": ("weight", ">"),
    "weigh less": ("weight", "<"), "weighs less": ("weight", "<"), "more massive": ("weight", ">"),
    "less heavy": ("weight", "<"), "more expensive": ("price", ">"), "cheaper": ("price", "<"),
    "less expensive": ("price", "<"), "pricier": ("price", ">"), "costlier": ("price", ">"),
    "cost more": ("price", ">"), "costs more": ("price", ">"), "cost less": ("price", "<"),
    "costs less": ("price", "<"), "bigger in size": ("size", ">"), "larger in size": ("size", ">"),
    "smaller in size": ("size", "<"),
}
_AMOUNT_OPERATORS = {
    "more than": ">", "over": ">", "above": ">", "at least": ">", "greater than": ">",
    "less than": "<", "under": "<", "below": "<", "at most": "<", "fewer than": "<",
    "about": "~", "around": "~", "roughly": "~", "approximately": "~",
}
# fmt: on
_COMPARATIVE = Prefiltered(
    r"\b("
    + "|".join(sorted(map(re.escape, _COMPARATIVES), key=len, reverse=True))
    + r") (?:than|compared to|compared with) ((?:\w+ ?){1,6})"
)
_SAME_SIZE = Prefiltered(
    r"\b(?:about |roughly |around |approximately |similar in size to |close in size to )?"
    r"(?:(?:the )?(?:same )?size (?:of|as)|as (?:big|large) as|as heavy as) ((?:\w+ ?){1,6})"
)
_FITS_IN = Prefiltered(
    r"\bfits?(?: it)? (?:in|into|inside) (?:a |an |the |your |my )?((?:\w+ ?){1,4})"
)
_AMOUNT = Prefiltered(
    r"\b("
    + "|".join(sorted(map(re.escape, _AMOUNT_OPERATORS), key=len, reverse=True))
    + r") ((?:\w+ ?){1,4})"
)
_NUMBER_AND_UNIT = re.compile(
    r"(\d+(?:\.\d+)?|"
    + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True))
    + r") ?(\w+)"
)
_CONTAINER_WORDS = {"pocket", "pockets", "hand", "hands", "palm", "palms", "purse", "wallet"}


@dataclass
class Parsed:
    form: Form | None  # None: not a yes/no question about the object
    guess: int | None  # the one object an identity question names, if that is all it asks


class QuestionParser:
    """Reads English questions about a hidden object into logical forms.

    ``names`` are the objects' names (index order); ``knowledge`` adds the properties, phrases
    and reference sizes. Without knowledge only identity questions (guesses) are understood.
    """

    def __init__(self, names: Sequence[Sequence[str]], knowledge: KnowledgeBase | None = None):
        self.object_names = tuple(tuple(n) for n in names)
        self.knowledge = knowledge
        self._setup()

    def __getstate__(self):
        return {"object_names": self.object_names, "knowledge": self.knowledge}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._setup()

    def _setup(self) -> None:
        self._names = _name_index(self.object_names)
        self._name_regex = alternation(self._names)
        # the first words of the names: a name is matched as whole words, so one of them
        # stands as a word in every text that names an object
        starts = [TOKEN.match(form) for form in self._names]
        self._name_starts = frozenset(m.group(0) for m in starts if m) if all(starts) else None
        # (detector, alternatives, form, negated, specificity): the detector is all of a
        # property's patterns in one regex, tried first because most questions miss most
        # properties; the alternatives find the longest match. Ties between readings go to the
        # one true of fewer objects (the more specific).
        self._matchers: list[tuple[Prefiltered, list[re.Pattern], Form, bool, int]] = []
        # the matchers by the words that can trigger them (and those that any text can)
        self._by_word: dict[str, list[int]] = {}
        self._always: list[int] = []
        self._references: dict[str, tuple[float, float]] = {}
        if self.knowledge is not None:
            groups: list[tuple[list[str], Form, bool]] = []
            for prop in self.knowledge.properties.values():
                positive = [p for p in prop.patterns if not p.startswith("!")]
                negative = [p[1:] for p in prop.patterns if p.startswith("!")]
                groups += [
                    (g, ("prop", prop.id), neg)
                    for g, neg in ((positive, False), (negative, True))
                    if g
                ]
            groups += [
                ([pattern], self._meaning(meaning), False)
                for pattern, meaning in self.knowledge.phrases
            ]
            for patterns, form, negated in groups:
                specificity = sum(
                    truth(form, obj, i) if form[0] not in ("ignore", "invalid") else 0
                    for i, obj in enumerate(self.knowledge.objects)
                )
                self._matchers.append(
                    (
                        Prefiltered(_boundary("|".join(f"(?:{p})" for p in patterns))),
                        [re.compile(_boundary(p)) for p in patterns],
                        form,
                        negated,
                        specificity,
                    )
                )
            # one word of each expansion of each pattern: the one in the fewest matchers
            expansions = [
                [_expansion_words(pattern) for pattern in patterns] for patterns, _, _ in groups
            ]
            matchers_with: dict[str, int] = {}
            for found in expansions:
                for word in {w for words in found if words for ws in words for w in ws}:
                    matchers_with[word] = matchers_with.get(word, 0) + 1
            for i, found in enumerate(expansions):
                if None in found:
                    self._always.append(i)
                    continue
                chosen = {
                    min(ws, key=lambda w: (matchers_with[w], w)) for words in found for ws in words
                }
                for word in chosen:
                    self._by_word.setdefault(word, []).append(i)
            for names, size, weight in self.knowledge.references:
                for name in names:
                    for form in _plurals(normalise(name)):
                        self._references[form] = (size, weight)
            for obj in self.knowledge.objects:
                for name in obj.names:
                    for form in _plurals(normalise(name)):
                        self._references[form] = (obj.size_cm, obj.weight_kg)
        self._detectors = NeedleIndex([matcher[0] for matcher in self._matchers])
        self._reference_regex = alternation(self._references) if self._references else None
        self.parse = functools.lru_cache(maxsize=200_000)(self._parse)

    # phrases: "a & b | !c", "=Name", TRUE, FALSE, INVALID
    def _meaning(self, expression: str) -> Form:
        alternatives = []
        for alternative in expression.split("|"):
            terms = []
            for term in alternative.split("&"):
                term = term.strip()
                negated = term.startswith("!")
                term = term.lstrip("!").strip()
                if term in ("TRUE", "FALSE"):
                    form: Form = ("const", term == "TRUE")
                elif term in ("INVALID", "IGNORE"):
                    form = (term.lower(),)
                elif atom := re.fullmatch(r"(size|weight|price)([<>~])([0-9.e+]+)", term):
                    form = ("cmp", atom[1], atom[2], float(atom[3]))
                elif term.startswith("="):
                    index = self._names.get(normalise(term[1:]))
                    # an object outside this game's list is never the hidden one
                    form = ("const", False) if index is None else ("obj", index)
                elif term in self.knowledge.properties:
                    form = ("prop", term)
                else:
                    raise ValueError(f"phrase {expression!r} uses unknown property {term!r}")
                terms.append(("not", form) if negated else form)
            alternatives.append(terms[0] if len(terms) == 1 else ("and", tuple(terms)))
        return alternatives[0] if len(alternatives) == 1 else ("or", tuple(alternatives))

    # --- parsing ---------------------------------------------------------------------------------
    def _parse(self, question: str) -> Parsed:
        text, asked = self._clause(question)
        if not text:
            return Parsed(None, None)
        identity = self._identity(text)
        if identity is not None:
            objects, complete = sorted(set(identity[0])), identity[1]
            if len(objects) == 1 and complete:
                return Parsed(("obj", objects[0]), objects[0])
            return Parsed(("or", tuple(("obj", i) for i in objects)), None)
        if self.knowledge is None or _WH_START.match(text):
            return Parsed(None, None)
        if not asked and not _AUX_START.match(text):
            return Parsed(None, None)  # a statement ("that was fun."), not a question
        return Parsed(self._predicate(text), None)

    def _clause(self, question: str) -> tuple[str, bool]:
        """The yes/no question inside the input (the last sentence that asks one, without
        lead-ins such as "Great! Next question:", politeness or tag questions), and whether the
        input has a question mark."""
        sentence, asked = last_question(question)
        text = normalise(sentence)
        text = LEAD_IN.sub("", text).strip()
        text = INDIRECT.sub("", text).strip()
        match = _QUESTION_START.search(text)
        if match and match.start() > 0 and not self._identity(text) and not _WH_START.match(text):
            prefix = text[: match.start()].split()
            if len(prefix) <= 6:  # "based on that, is it ...", "i think so, is it ..."
                text = text[match.start() :]
        text = _PLEASE.sub("", text)
        text = _TRAILING_FILLER.sub("", text)
        text = TAG_QUESTION.sub("", text)
        text = NEGATIVE_INTERROGATIVE.sub(r"\1 \2", text)
        return text.strip(), asked

    def _identity(self, text: str) -> tuple[list[int], bool] | None:
        """Objects named by an identity question ("is it a dog?", "are you thinking of a cat or
        a dog?") and whether it names nothing else, or None if the question asks something else.
        A disjunct that names no object of the game ("... or a cello?") counts as a wrong one."""
        text = text.replace("in mind", "inmind")
        objects: list[int] = []
        complete = True
        for segment in _OR.split(text):
            mentions = self._mentions(segment)
            if mentions:
                unnamed = self._name_regex.sub(" ", segment).split()
                rest = [w for w in unnamed if w not in _IDENTITY_FILLER]
            if mentions and not rest:
                for mention in mentions:
                    before = segment[: mention.start()].split()
                    if mention.group(0) in _ADJECTIVE_NAMES and (
                        not before or before[-1] not in ("a", "an", "the")
                    ):
                        return None
                    objects.append(self._names[mention.group(0)])
            elif not mentions and _NOUN_PHRASE.fullmatch(segment.strip()):
                complete = False  # "... or a cello": an object outside the game
            else:
                return None
        return (objects, complete) if objects else None

    def _mentions(self, segment: str) -> list[re.Match]:
        """The object names in ``segment``, as whole words (as ``_name_regex.finditer``)."""
        if self._name_starts is not None and self._name_starts.isdisjoint(TOKEN.findall(segment)):
            return []  # no name can start at any of its words
        return list(self._name_regex.finditer(segment))

    def _predicate(self, text: str) -> Form | None:
        text = _LEADING_SUBJECT.sub(r"\1it", text)
        text = _SUBJECT.sub("it", text)
        text = _PERSON.sub(r"\1 you", text)
        text = _REPHRASE(text)
        if "  " in text:
            text = _SPACES.sub(" ", text)
        if _REQUEST.match(text) or _CHOICE.search(text):
            return None  # "bigger or smaller than a cat?" asks for a choice, not yes or no
        text = _MATERIAL_LIST.sub(_distribute_materials, text)
        comparisons, text = self._comparisons(text)
        atoms = comparisons + self._spans(text)
        if any(form == ("invalid",) for _, _, form in atoms):
            return None
        if _unknown_noun(text, atoms):
            return ("const", False)  # "is it a ping pong ball?": a thing that is not in the game
        atoms = sorted(atom for atom in atoms if atom[2] != ("ignore",))
        if not atoms:
            if _YES_NO_QUESTION.match(text):
                # a yes/no question about something the knowledge base does not hold: closed
                # world, as for properties ("does it glow in the dark?")
                return ("const", False)
            return None
        # join the atoms by the words between them; a bare list ("stone metal or clay") takes
        # the conjunction that ends it
        joints = []
        for (_, end, _), (start, _, _) in itertools.pairwise(atoms):
            between = text[end:start].split()
            joints.append("or" if {"or", "nor"} & set(between) else "and" if between else "")
        for k in range(len(joints) - 2, -1, -1):
            joints[k] = joints[k] or joints[k + 1]
        groups: list[list[Form]] = [[atoms[0][2]]]
        for joint, (_, _, form) in zip(joints, atoms[1:], strict=False):
            if joint == "or":
                groups.append([])
            groups[-1].append(form)
        return join("or", [join("and", group) for group in groups])

    def _spans(self, text: str) -> list[tuple[int, int, Form]]:
        """Non-overlapping pattern matches, longest first, each with its negation applied."""
        found = []
        candidates = set(self._always)
        for word in TOKEN.findall(text):
            candidates.update(self._by_word.get(word, ()))
        candidates &= self._detectors.candidates(text)
        for index in sorted(candidates):  # the matchers' order: ties sort as before
            detector, alternatives, form, negated, specificity = self._matchers[index]
            if detector.regex.search(text) is None:
                continue
            for regex in alternatives:
                for match in regex.finditer(text):
                    if match.end() > match.start():
                        found.append((match.start(), match.end(), form, negated, specificity))
        # longest, then leftmost, then positive, then the more specific reading
        found.sort(key=lambda m: (m[0] - m[1], m[0], m[3], m[4]))
        taken: list[tuple[int, int]] = []
        atoms = []
        for start, end, form, negated, _ in found:
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            if self._negated(text, start, taken):
                negated = not negated
            # a negated filler phrase or invalid reading stays what it is: only facts negate
            real = form not in (("ignore",), ("invalid",))
            atoms.append((start, end, ("not", form) if negated and real else form))
        return atoms

    @staticmethod
    def _negated(text: str, start: int, taken: list[tuple[int, int]]) -> bool:
        """Whether a negator stands between the clause start and this span."""
        before = text[:start]
        for t_start, t_end in taken[:-1]:
            if t_end <= start:  # do not count negators inside other matched spans
                before = before[:t_start] + " " * (t_end - t_start) + before[t_end:]
        words = before.split()
        negations = 0
        for word in reversed(words):
            if word in _BOUNDARIES:
                break
            if word in _NEGATORS:
                negations += 1
        return negations % 2 == 1

    def _comparisons(self, text: str) -> tuple[list[tuple[int, int, Form]], str]:
        """Size, weight and price comparisons with things or amounts. Their text is blanked so
        that property patterns do not see it; a comparison with something unknown is left for
        the patterns."""
        atoms: list[tuple[int, int, Form]] = []

        def take(match: re.Match, form: Form) -> None:
            nonlocal text
            atoms.append((match.start(), match.end(), form))
            text = text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]

        for match in _COMPARATIVE.finditer(text):
            dimension, operator = _COMPARATIVES[match.group(1)]
            value = self._amount_or_thing(match.group(2), dimension)
            if value is not None:
                take(match, ("cmp", dimension, operator, value))
        sized = _SAME_SIZE.search(text)
        if sized:
            dimension = "weight" if "heavy" in sized.group(0) else "size"
            value = self._amount_or_thing(sized.group(1), dimension)
            if value is not None:
                take(sized, ("cmp", dimension, "~", value))
        fits = _FITS_IN.search(text)
        if fits and not _CONTAINER_WORDS.intersection(fits.group(1).split()):
            thing = self._thing(fits.group(1))
            if thing is not None:
                take(fits, ("cmp", "size", "<", thing[0]))
        amount = _AMOUNT.search(text)
        if amount:
            parsed = self._amount(amount.group(2))
            if parsed is not None:
                dimension, value = parsed
                take(amount, ("cmp", dimension, _AMOUNT_OPERATORS[amount.group(1)], value))
        return atoms, text

    def _amount_or_thing(self, phrase: str, dimension: str) -> float | None:
        amount = self._amount(phrase)
        if amount is not None:
            return amount[1] if amount[0] == dimension else None
        if dimension == "price":
            return None
        thing = self._thing(phrase)
        if thing is None:
            return None
        return thing[0] if dimension == "size" else thing[1]

    def _thing(self, phrase: str) -> tuple[float, float] | None:
        if self._reference_regex is None:
            return None
        match = self._reference_regex.search(phrase)
        return self._references[match.group(0)] if match else None

    @staticmethod
    def _amount(phrase: str) -> tuple[str, float] | None:
        match = _NUMBER_AND_UNIT.match(phrase)
        if not match:
            return None
        number, unit = match.groups()
        value = float(number) if number[0].isdigit() else float(_NUMBER_WORDS[number])
        for dimension, units in _UNITS.items():
            if unit in units:
                return dimension, value * units[unit]
        return None


# --- evaluation ----------------------------------------------------------------------------------
_PRICE_BANDS = (("very_expensive", 3000.0), ("expensive", 300.0), ("cheap", 3.0))


def _price(obj: KBObject) -> float:
    for prop, price in _PRICE_BANDS:
        if prop in obj.yes:
            return price
    return 30.0


def _compare(form: Form, obj: KBObject) -> bool:
    """("cmp", dimension, operator, value): bigger (">"), smaller ("<") or about ("~", within
    a factor of two)."""
    _, dimension, operator, value = form
    own = {"size": obj.size_cm, "weight": obj.weight_kg, "price": _price(obj)}[dimension]
    if operator == ">":
        return own > value
    if operator == "<":
        return own < value
    return value / 2 <= own <= value * 2


_TRUTH: dict[str, Callable[[Form, KBObject, int], bool]] = {
    "prop": lambda form, obj, index: form[1] in obj.yes,
    "obj": lambda form, obj, index: form[1] == index,
    "not": lambda form, obj, index: not truth(form[1], obj, index),
    "and": lambda form, obj, index: all(truth(f, obj, index) for f in form[1]),
    "or": lambda form, obj, index: any(truth(f, obj, index) for f in form[1]),
    "const": lambda form, obj, index: form[1],
    "cmp": lambda form, obj, index: _compare(form, obj),
}


def truth(form: Form, obj: KBObject, index: int) -> bool:
    """The truth of a logical form for the object ``obj`` (at ``index`` of the list)."""
    rule = _TRUTH.get(form[0])
    if rule is None:
        raise ValueError(f"unknown logical form {form!r}")
    return rule(form, obj, index)


class KnowledgeBaseOracle:
    """Answers yes/no questions about the hidden object from a knowledge base, offline and
    deterministically."""

    def __init__(
        self, knowledge: KnowledgeBase | None = None, parser: QuestionParser | None = None
    ):
        self.knowledge = knowledge or default_knowledge_base()
        self.parser = parser or QuestionParser(
            [o.names for o in self.knowledge.objects], self.knowledge
        )

    def answer(self, queries: Sequence[Query]) -> list[str]:
        return [self.answer_one(q.target, q.question) for q in queries]

    def answer_one(self, target: str, question: str) -> str:
        index = self.knowledge.find(target)
        if index is None:
            raise KeyError(f"{target!r} is not an object of this knowledge base")
        form = self.parser.parse(question).form
        if form is None:
            return INVALID
        return YES if truth(form, self.knowledge.objects[index], index) else NO
