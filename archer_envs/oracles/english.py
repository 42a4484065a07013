"""English that both question games read: question text normalised to lowercase words,
the frames people put around a question ("ok, next question: ...", "can you tell me if ...",
"..., right?"), and regexes that skip, with plain substring tests, the texts they cannot match
(``Prefiltered``; ``NeedleIndex`` for many at once); and ``listing``, the lists the games write
("a, b and c").

Twenty Questions (archer_envs.twenty_questions.knowledge) and Guess My City
(archer_envs.guess_my_city.knowledge) build their question readers on these; Guess My City's
answers and Detective's descriptions list things with ``listing``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

try:
    from re import _parser as sre_parse  # Python >= 3.11
except ImportError:  # pragma: no cover
    import sre_parse  # Python 3.10


# --- regexes that skip the texts they cannot match ------------------------------------------
def expansions(items, limit: int = 1024) -> set[str] | None:
    """Every string a parsed regex (``sre_parse.parse(pattern)``) matches, or None when there
    are more than ``limit`` or infinitely many. Zero-width assertions are ignored: the result
    then holds every string of a match, and maybe more."""
    strings = {""}
    for op, value in items:
        name = str(op)
        if name == "LITERAL":
            options = {chr(value)}
        elif name == "SUBPATTERN":
            options = expansions(value[3], limit)
        elif name == "BRANCH":
            options = set()
            for branch in value[1]:
                found = expansions(branch, limit)
                if found is None:
                    return None
                options |= found
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, high, body = value
            inner = expansions(body, limit) if high <= 4 else None
            if inner is None:
                return None
            options = {
                "".join(parts)
                for n in range(low, high + 1)
                for parts in itertools.product(sorted(inner), repeat=n)
            }
        elif name == "IN" and all(str(kind) == "LITERAL" for kind, _ in value):
            options = {chr(char) for _, char in value}
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            options = {""}
        else:  # any character, a category, a negated set: too many strings
            return None
        if options is None:
            return None
        strings = {a + b for a in strings for b in options}
        if len(strings) > limit:
            return None
    return strings


_MAX_NEEDLES = 64


def _needles(items) -> frozenset[str] | None:
    """Strings one of which every match of a parsed regex (``sre_parse.parse(pattern)``) holds,
    or None when none is known. They come from the expansions of the whole sequence (each
    expansion's longest literal run) or of one of its parts (a part's match lies inside the
    whole match). The choice with the fewest needles wins, at most ``_MAX_NEEDLES`` and none
    shorter than three characters where there is one."""
    choices = []
    strings = {""}
    for item in items:
        options = expansions([item])
        longer = None if options is None else {a + b for a in strings for b in options}
        if longer is None or len(longer) > 1024:
            strings = {text + "\0" for text in strings}
            if longer is not None and len(longer) > 1024:
                break
        else:
            strings = longer
    runs = [max(text.split("\0"), key=len) for text in strings]
    if all(runs):
        choices.append(frozenset(runs))
    for op, value in items:
        name = str(op)
        if name == "SUBPATTERN":
            found = _needles(value[3])
        elif name == "BRANCH":
            found = [_needles(branch) for branch in value[1]]
            found = None if None in found else frozenset().union(*found)
        elif name in ("MAX_REPEAT", "MIN_REPEAT") and value[0] >= 1:
            found = _needles(value[2])
        else:
            continue
        if found:
            choices.append(found)
    # a needle that holds another is found whenever that one is: keep the shorter
    choices = [frozenset(n for n in c if not any(m != n and m in n for m in c)) for c in choices]
    if not choices:
        return None
    return min(choices, key=lambda c: (len(c) > _MAX_NEEDLES, min(map(len, c)) < 3, len(c)))


class Prefiltered:
    """A compiled regex that first looks, with plain substring tests, for a literal text that
    every match holds (one of a few needles): most questions miss most patterns, and a missing
    needle costs far less than a failed search. Answers exactly as the regex does."""

    def __init__(self, pattern: str):
        self.regex = re.compile(pattern)
        self.pattern = pattern
        needles = None if self.regex.flags & re.IGNORECASE else _needles(sre_parse.parse(pattern))
        if needles and re.search(r"\(\?[aiLmsux]", pattern):
            needles = None  # flags: a needle might be matched in another case
        self.needles = tuple(sorted(needles)) if needles and len(needles) <= _MAX_NEEDLES else None

    def possible(self, text: str) -> bool:
        if self.needles is None:
            return True
        for needle in self.needles:  # noqa: SIM110 (a loop: twice as fast as any() here)
            if needle in text:
                return True
        return False

    def search(self, text: str) -> re.Match | None:
        return self.regex.search(text) if self.possible(text) else None

    def finditer(self, text: str) -> Iterable[re.Match]:
        return self.regex.finditer(text) if self.possible(text) else ()

    def sub(self, replacement, text: str) -> str:
        return self.regex.sub(replacement, text) if self.possible(text) else text


_MAX_PIECES = 100_000  # remembered pieces of text per index
_NO_HITS: tuple[frozenset[int], tuple[tuple[str, int], ...]] = (frozenset(), ())


class NeedleIndex:
    """Which of many ``Prefiltered`` regexes may match a text (those whose ``possible`` holds),
    without testing each: every needle has a piece between spaces (its longest) that stands
    inside one of the text's pieces, and which needles each piece can hold is worked out once
    and remembered. It reads only the regexes' ``needles`` (None: it may match any text), and
    has ``needles`` itself: all of theirs, or None where one of them has none."""

    def __init__(self, regexes: Sequence[Prefiltered]):
        always = {i for i, regex in enumerate(regexes) if regex.needles is None}
        self.needles = None if always else frozenset(n for r in regexes for n in r.needles)
        # first character of a needle's key -> (key, needle, the regex it is of)
        self._keys: dict[str, list[tuple[str, str, int]]] = {}
        for i, regex in enumerate(regexes):
            for needle in regex.needles or ():
                key = max(needle.split(" "), key=len)
                if key:
                    self._keys.setdefault(key[0], []).append((key, needle, i))
                else:  # only spaces: in most texts
                    always.add(i)
        self.always = frozenset(always)
        self._first_chars = frozenset(self._keys)
        self._pieces: dict[str, tuple[frozenset[int], tuple[tuple[str, int], ...]]] = {}

    def _in_piece(self, piece: str) -> tuple[frozenset[int], tuple[tuple[str, int], ...]]:
        """What ``piece`` tells of a text that holds it: the regexes with a needle inside it,
        and (needle, regex) pairs whose needle's key is inside it, still to look for in the
        whole text."""
        found, pending = set(), {}
        for char in self._first_chars.intersection(piece):
            for key, needle, i in self._keys[char]:
                if key in piece:
                    if needle == key:
                        found.add(i)
                    else:
                        pending[needle, i] = None
        hits = (
            (frozenset(found), tuple((n, i) for n, i in pending if i not in found))
            if found or pending
            else _NO_HITS
        )
        if len(self._pieces) >= _MAX_PIECES:
            self._pieces.clear()
        self._pieces[piece] = hits
        return hits

    def candidates(self, text: str) -> set[int]:
        """The indices of the regexes that may match ``text``."""
        found = set(self.always)
        pieces = self._pieces
        for piece in set(text.split(" ")):
            hits = pieces.get(piece) or self._in_piece(piece)
            if hits is _NO_HITS:
                continue
            found |= hits[0]
            for needle, i in hits[1]:
                if i not in found and needle in text:
                    found.add(i)
        return found


class Substitutions:
    """``(pattern, replacement)`` pairs applied in order, as ``regex.sub`` one after another,
    skipping those that cannot match; ``strip`` strips the text before and after each change."""

    def __init__(self, pairs: Iterable[tuple[str | Prefiltered, str]], strip: bool = False):
        self.pairs = [
            (pattern if isinstance(pattern, Prefiltered) else Prefiltered(pattern), replacement)
            for pattern, replacement in pairs
        ]
        self.strip = strip
        self._index = NeedleIndex([pattern for pattern, _ in self.pairs])

    def __call__(self, text: str) -> str:
        if self.strip:
            text = text.strip()
        pending = sorted(self._index.candidates(text))
        while pending:
            i = pending.pop(0)
            pattern, replacement = self.pairs[i]
            changed = pattern.regex.sub(replacement, text)
            if changed != text:
                text = changed.strip() if self.strip else changed
                pending = [k for k in sorted(self._index.candidates(text)) if k > i]
        return text


# --- normalisation -----------------------------------------------------------------------------
_CONTRACTIONS = Substitutions(
    [
        (r"\bwon't\b", "will not"),
        (r"\bcan't\b", "can not"),
        (r"\bcannot\b", "can not"),
        (r"\bain't\b", "is not"),
        (r"n't\b", " not"),
        (r"\b(it|that|what|there|he|she|who)'s\b", r"\1 is"),
        (r"'re\b", " are"),
        (r"'ll\b", " will"),
        (r"'ve\b", " have"),
        (r"\bi'm\b", "i am"),
        (r"'d\b", " would"),
        (r"'s\b", ""),
        # the same without apostrophes, as people type them
        (r"\b(is|are|does|do|did|was|were|has|have|had|would|could|should|can)nt\b", r"\1 not"),
        (r"\bwont\b", "will not"),
        (r"\bcant\b", "can not"),
        (r"\bdont\b", "do not"),
        (r"\bdoesnt\b", "does not"),
        (r"\bisnt\b", "is not"),
    ]
)
# fmt: off
_SPELLING = {  # British spellings, common typos and chat shorthand
    "colour": "color", "colours": "colors", "coloured": "colored", "colourful": "colorful",
    "grey": "gray", "aluminium": "aluminum", "jewellery": "jewelry", "metre": "meter",
    "metres": "meters", "centimetre": "centimeter", "centimetres": "centimeters", "tyre": "tire",
    "tyres": "tires", "favourite": "favorite", "odour": "odor", "u": "you", "ur": "your",
    "r": "are", "somthing": "something", "sumthing": "something", "somethin": "something",
    "smth": "something", "sth": "something", "thier": "their", "whould": "would",
    "woud": "would", "eatable": "edible", "wat": "what", "kinda": "kind of", "sorta": "sort of",
    "gonna": "going to", "wanna": "want to", "usualy": "usually", "usally": "usually",
    "ppl": "people", "thx": "thanks", "pls": "please", "plz": "please", "isit": "is it",
    "batterys": "batteries", "alot": "a lot", "wheather": "whether", "objet": "object",
    "obect": "object", "electricty": "electricity", "electic": "electric",
    "vegtable": "vegetable", "vegatable": "vegetable", "fruite": "fruit", "aminal": "animal",
    "anmal": "animal", "furnature": "furniture", "bigest": "biggest", "heavyer": "heavier",
    "biger": "bigger", "smaler": "smaller", "lenght": "length", "instrumant": "instrument",
    "insturment": "instrument",
}
# fmt: on


_SENTENCE_BREAK = re.compile(r"(?<=[?!.:;])\s+|\n")
_HAS_SENTENCE_BREAK = re.compile(r"[?!.:;]\s|\n")  # where _SENTENCE_BREAK splits


def last_question(text: str) -> tuple[str, bool]:
    """The sentence of ``text`` that asks: its last one that ends with a question mark, else
    its last sentence; and whether it has a question mark."""
    if _HAS_SENTENCE_BREAK.search(text):
        sentences = [s for s in _SENTENCE_BREAK.split(text) if s.strip()]
    else:
        sentences = [text] if text.strip() else []
    asked = [s for s in sentences if s.rstrip().endswith("?")]
    return (asked[-1] if asked else (sentences[-1] if sentences else "")), bool(asked)


LEAD_IN = re.compile(
    r"^(?:(?:ok|okay|so|alright|all right|great|good|nice|hmm+|hm+|well|then|and|now|next|"
    r"thanks|thank you|interesting|cool|sure|yes|no|right|got it|i see|oh|ah|wow|perfect|"
    r"excellent|awesome|understood|let me think|let me see|follow up|next question|another "
    r"question|my next question is|question|question \d+|q\d+|\d+|first question|"
    r"good to know|that helps|that narrows it down|understood)\b ?)+"
)
INDIRECT = re.compile(
    r"^(?:(?:can|could|would|will) you (?:please )?(?:tell me|let me know|confirm)|"
    r"i (?:want|would like|d like) to know|i wonder|tell me|please tell me|i am wondering|"
    r"let me ask|i would like to ask|i want to ask|i will ask) (?:if|whether)?\b ?"
)
TAG_QUESTION = re.compile(
    r" (?:is not it|does not it|are not they|are not it|can not it|right|correct|yes|or not|"
    r"am i right|true)$"
)
NEGATIVE_INTERROGATIVE = re.compile(
    r"^(is|are|does|do|did|can|could|would|will|was|has|have|should) not (it|you|there)\b"
)


def join(operator: str, forms: list[tuple]) -> tuple:
    """``(operator, forms)`` without repeated forms; a single form stands for itself."""
    unique = list(dict.fromkeys(forms))
    return unique[0] if len(unique) == 1 else (operator, tuple(unique))


_DOLLARS = Prefiltered(r"\$ ?(\d+(?:\.\d+)?)")
_THOUSANDS = Prefiltered(r"(\d),(\d{3})")
_THEN = Prefiltered(
    r"\b(bigger|larger|smaller|heavier|lighter|taller|shorter|longer|more|less) then\b"
)


_NOT_WORD = re.compile(r"[^a-z0-9.]+")
_LONE_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")  # a full stop, not a decimal point


def normalise(text: str) -> str:
    """Lowercase words separated by single spaces; contractions expanded; spelling unified."""
    text = text.lower().replace("\u2019", "'").replace("`", "'")
    text = _DOLLARS.sub(r"\1 dollars", text)
    text = _THOUSANDS.sub(r"\1\2", text)
    text = _CONTRACTIONS(text)
    text = _NOT_WORD.sub(" ", text)
    if "." in text:
        text = _LONE_DOT.sub(" ", text)
    text = " ".join([_SPELLING.get(word, word) for word in text.split()])
    return _THEN.sub(r"\1 than", text)


TOKEN = re.compile(r"[a-z0-9]+")


def alternation(strings: Iterable[str]) -> re.Pattern:
    ordered = sorted(set(strings), key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(map(re.escape, ordered)) + r")(?![a-z0-9])")


def listing(items: Iterable[str]) -> str:
    """The items in an English list: "a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
