"""A small text-adventure engine: pure game logic, no Gymnasium.

A game is data (a JSON file, see data/detective/README.md for the format): rooms with exits,
objects (items, containers, doors, people) and rules. The engine holds the world state, parses
free-text commands, runs them and computes the commands that would change the world from the
current state (the valid actions). The state is plain JSON-able data, so it can be saved,
restored, compared and hashed.

    game = Game.load(data_path("detective", "hollowmere.json"))
    world = game.new_world()
    text = world.do("take the lamp")

Everything an action changes lives in ``World.state``: the room, where every object is, a set of
flags (``open:X``, ``locked:X``, ``lit:X``, ``examined:X``, ``read:X``, ``searched:X``,
``talked:X``, ``done:<rule>`` and the game's own), the score and whether the game is over.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from archer_envs.oracles.english import listing

DIRECTIONS = tuple("north south east west northeast northwest southeast southwest up down".split())
DIRECTION_WORDS = {
    **{d: d for d in DIRECTIONS},
    **dict(zip("n s e w ne nw se sw u d".split(), DIRECTIONS, strict=True)),
    "upstairs": "up",
    "downstairs": "down",
}
ARTICLES = frozenset({"the", "a", "an", "some", "my", "that", "this"})
PLAYER = "player"

# Each canonical verb and the phrases that mean it (the parser tries the longest phrase first).
_VERB_SYNONYMS = {
    "go": ("go", "walk", "run", "head", "move", "climb"),
    "look": ("look", "l"),
    "examine": ("examine", "x", "inspect", "check", "look at", "describe", "study", "observe"),
    "take": ("take", "get", "grab", "pick up", "collect"),
    "drop": ("drop", "discard", "put down", "leave"),
    "open": ("open",),
    "close": ("close", "shut"),
    "unlock": ("unlock",),
    "lock": ("lock",),
    "read": ("read", "peruse"),
    "talk": (
        "talk to",
        "talk with",
        "speak to",
        "speak with",
        "chat with",
        "greet",
        "talk",
        "interview",
    ),
    "ask": ("ask", "tell", "question", "interrogate", "quiz"),
    "give": ("give", "hand", "offer"),
    "show": ("show", "present", "display"),
    "put": ("put", "place", "insert", "stow"),
    "search": (
        "search",
        "look in",
        "look inside",
        "look under",
        "look behind",
        "rummage through",
        "rummage in",
    ),
    "inventory": ("inventory", "i", "inv"),
    "wait": ("wait", "z"),
    "light": ("light", "turn on", "switch on", "ignite"),
    "enter": ("enter", "type", "dial", "key in"),
    "accuse": ("accuse", "arrest"),
    "drink": ("drink", "sip"),
    "eat": ("eat", "taste"),
    "smell": ("smell", "sniff"),
    "use": ("use",),
    "push": ("push",),
    "pull": ("pull",),
    "break": ("break", "smash"),
    "attack": ("kill", "attack", "hit"),
}
VERB_PHRASES = {phrase: verb for verb, phrases in _VERB_SYNONYMS.items() for phrase in phrases}
# How a canonical command is written in the valid-action list.
TEMPLATES = {
    "examine": "examine {o}",
    "take": "take {o}",
    "drop": "drop {o}",
    "open": "open {o}",
    "close": "close {o}",
    "unlock": "unlock {o} with {s}",
    "read": "read {o}",
    "talk": "talk to {o}",
    "ask": "ask {o} about {s}",
    "give": "give {o} to {s}",
    "show": "show {o} to {s}",
    "put": "put {o} in {s}",
    "search": "search {o}",
    "enter": "enter {s} on {o}",
}
# Verbs whose second noun follows a preposition: "unlock door with key", "give key to pell".
PREPOSITIONS = {
    "unlock": ("with", "using"),
    "lock": ("with", "using"),
    "ask": ("about", "regarding"),
    "give": ("to",),
    "show": ("to",),
    "put": ("in", "into", "inside", "on", "onto"),
    "use": ("on", "with"),
    "enter": ("on", "into", "in"),
    "accuse": ("of",),
}
# the flag a command leaves on its object, so that it is not offered again
DONE_FLAGS = {"examine": "examined", "read": "read", "search": "searched", "talk": "talked"}
MISSING_SECOND = {
    "unlock": "What do you want to unlock it with?",
    "give": "Whom do you want to give it to?",
    "show": "Whom do you want to show it to?",
    "put": "Where do you want to put it?",
}
UNKNOWN = "I don't understand that."
NO_SUCH_THING = "You can't see any such thing."


@dataclass(frozen=True)
class Rule:
    """A scripted outcome: when ``verb`` is played on ``obj`` (with ``second``: an object id, a
    topic or a code) and every condition in ``conditions`` holds, show ``text`` and apply
    ``effects``. A ``once`` rule fires one time (it sets ``done:<id>``). ``hint`` conditions only
    decide whether the command is listed as a valid action (e.g. a code the player has read)."""

    id: str
    verb: str
    obj: str
    second: str | None
    text: str
    conditions: tuple[str, ...] = ()
    hint: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()
    score: int = 0
    once: bool = True
    end: str | None = None  # "won" | "lost"


class _GameFile:
    """A game file's data, read part by part; each fault is a ValueError that names the file."""

    def __init__(self, data: dict[str, Any], source: str):
        self.data, self.source = data, source
        for key in ("title", "start", "max_score", "rooms", "objects"):
            if key not in data:
                self.fail(f"missing {key!r}")
        self.rooms: dict[str, dict[str, Any]] = data["rooms"]
        self.objects: dict[str, dict[str, Any]] = data["objects"]

    def fail(self, message: str) -> NoReturn:
        raise ValueError(f"{self.source}: {message}")

    def check_conditions(self, where: str, conditions: Iterable[str]) -> None:
        for condition in conditions:
            kind, _, arg = condition.lstrip("!").partition(":")
            known = {"has": self.objects, "here": self.objects, "at": self.rooms}.get(kind)
            if known is not None and arg not in known:
                self.fail(f"{where}: condition {condition!r} names an unknown {kind} target")

    def check_replies(self) -> None:
        unknown = sorted(set(self.data.get("replies", {})) - set(DEFAULT_REPLIES))
        if unknown:
            self.fail(f"unknown replies {unknown}; known: {sorted(DEFAULT_REPLIES)}")
        if self.data["start"] not in self.rooms:
            self.fail(f"start room {self.data['start']!r} is not a room")

    def placed_objects(self) -> tuple[set[str], dict[str, str | None], dict[str, tuple[str, ...]]]:
        """The starting flags (the game's and each object's open, locked and lit), where each
        object starts, and the ids each noun phrase names."""
        flags = set(self.data.get("flags", ()))
        where: dict[str, str | None] = {}
        words: dict[str, list[str]] = {}
        for oid, obj in self.objects.items():
            location = obj.get("location")
            placed = location in self.rooms or location in self.objects
            if location not in (None, PLAYER) and not placed:
                self.fail(
                    f"object {oid!r} is in {location!r}, which is neither a room nor an object"
                )
            where[oid] = location
            flags.update(f"{state}:{oid}" for state in ("open", "locked", "lit") if obj.get(state))
            for name in (obj["name"], *obj.get("words", ())):
                ids = words.setdefault(_normalise(name), [])
                if oid not in ids:
                    ids.append(oid)
        return flags, where, {k: tuple(v) for k, v in words.items()}

    def check_exits(self) -> None:
        for rid, room in self.rooms.items():
            for direction, exit_ in room.get("exits", {}).items():
                if direction not in DIRECTIONS:
                    self.fail(f"room {rid!r} has an exit {direction!r}; use one of {DIRECTIONS}")
                target = exit_ if isinstance(exit_, str) else exit_.get("to")
                if target not in self.rooms:
                    self.fail(f"room {rid!r}: exit {direction} leads to unknown room {target!r}")
                if not isinstance(exit_, str):
                    self.check_conditions(f"room {rid!r}, exit {direction}", exit_.get("if", ()))
                door = None if isinstance(exit_, str) else exit_.get("door")
                if door is not None and door not in self.objects:
                    self.fail(f"room {rid!r}: exit {direction} has unknown door {door!r}")

    def topics(self) -> dict[str, str]:
        """Each topic and alias (normalised) -> its topic."""
        return {
            _normalise(alias): _normalise(topic)
            for topic, aliases in self.data.get("topics", {}).items()
            for alias in (topic, *aliases)
        }

    def rule(self, number: int, raw: dict[str, Any], topics: dict[str, str]) -> Rule:
        """The file's rule ``number``; a topic asked or entered that is not listed is added to
        ``topics``."""
        verb = raw.get("verb")
        if verb not in set(VERB_PHRASES.values()):
            self.fail(f"rule {number} has unknown verb {verb!r}")
        if raw.get("object") not in self.objects:
            self.fail(f"rule {number} ({verb}) names unknown object {raw.get('object')!r}")
        second = raw.get("second")
        if second is not None and verb in ("ask", "enter"):
            second = _normalise(str(second))
            topics.setdefault(second, second)
        elif second is not None and second not in self.objects:
            self.fail(f"rule {number} ({verb}) names unknown second object {second!r}")
        rule = Rule(
            id=raw.get("id", f"{verb}:{raw['object']}:{second or ''}:{number}"),
            verb=verb,
            obj=raw["object"],
            second=second,
            text=raw.get("text", ""),
            conditions=tuple(raw.get("if", ())),
            hint=tuple(raw.get("hint", ())),
            effects=tuple(raw.get("do", ())),
            score=int(raw.get("score", 0)),
            once=bool(raw.get("once", True)),
            end=raw.get("end"),
        )
        if rule.end not in (None, "won", "lost"):
            self.fail(f"rule {rule.id}: end must be 'won' or 'lost'")
        for effect in rule.effects:
            kind, _, arg = effect.partition(":")
            if kind not in ("set", "clear", "move", "remove", "give"):
                self.fail(f"rule {rule.id}: unknown effect {effect!r}")
            if kind in ("move", "remove", "give") and arg.split(":")[0] not in self.objects:
                self.fail(f"rule {rule.id}: effect {effect!r} names an unknown object")
        self.check_conditions(f"rule {rule.id}", (*rule.conditions, *rule.hint))
        return rule


@dataclass
class Game:
    """A game as loaded from its JSON file: immutable after loading, shared by every world."""

    title: str
    intro: str
    start: str
    max_score: int
    rooms: dict[str, dict[str, Any]]
    objects: dict[str, dict[str, Any]]
    rules: dict[tuple[str, str, str | None], list[Rule]]
    walkthrough: tuple[str, ...]
    initial_flags: frozenset[str]
    initial_where: dict[str, str | None]
    culprit: str | None = None
    words: dict[str, tuple[str, ...]] = field(default_factory=dict)  # noun phrase -> ids
    topics: dict[str, str] = field(default_factory=dict)  # topic or alias -> topic
    replies: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REPLIES))
    # object id -> the rules about it, for the valid-action computation
    rules_by_object: dict[str, list[tuple[tuple[str, str, str | None], list[Rule]]]] = field(
        default_factory=dict
    )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Game:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read the game file {path}: {error}") from error
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<game>") -> Game:
        """A game from its file's data, checked: a ValueError names the file and the fault."""
        game = _GameFile(data, source)
        game.check_replies()
        flags, where, words = game.placed_objects()
        game.check_exits()
        topics = game.topics()
        rules: dict[tuple[str, str, str | None], list[Rule]] = {}
        for number, raw in enumerate(data.get("rules", ())):
            rule = game.rule(number, raw, topics)
            rules.setdefault((rule.verb, rule.obj, rule.second), []).append(rule)
        scores = sum(r.score for rs in rules.values() for r in rs)
        if scores < data["max_score"]:
            game.fail(f"the rules award at most {scores} points, less than max_score")
        by_object: dict[str, list[tuple[tuple[str, str, str | None], list[Rule]]]] = {}
        for key, group in rules.items():
            by_object.setdefault(key[1], []).append((key, group))
        return cls(
            rules_by_object=by_object,
            title=data["title"],
            intro=data.get("intro", ""),
            start=data["start"],
            max_score=int(data["max_score"]),
            rooms=game.rooms,
            objects=game.objects,
            rules=rules,
            walkthrough=tuple(data.get("walkthrough", ())),
            initial_flags=frozenset(flags),
            initial_where=where,
            culprit=data.get("culprit"),
            words=words,
            topics=topics,
            replies={**DEFAULT_REPLIES, **data.get("replies", {})},
        )

    def new_world(self) -> World:
        return World(self)

    def name(self, oid: str) -> str:
        return self.objects[oid]["name"]

    def word(self, oid: str) -> str:
        """The short noun valid actions use for an object."""
        return self.objects[oid].get("noun", self.objects[oid]["name"])


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@dataclass(frozen=True)
class Command:
    verb: str
    obj: str | None = None
    second: str | None = None  # an object id, a direction, a topic or a code


class ParseError(Exception):
    """A command the parser cannot turn into a Command; the message is the game's reply."""


class World:
    """One play-through: the mutable state of a game and the rules that change it."""

    def __init__(self, game: Game, state: dict[str, Any] | None = None):
        self.game = game
        if state is None:
            self.room = game.start
            self.where = dict(game.initial_where)
            self.flags = set(game.initial_flags)
            self.score = 0
            self.over: str | None = None  # None | "won" | "lost"
            self.it: str | None = None
        else:
            self.restore(state)
        self._valid: list[str] | None = None

    # --- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        """The whole world as JSON-able data (save it; ``World(game, state)`` restores it)."""
        return {
            "room": self.room,
            "where": dict(self.where),
            "flags": sorted(self.flags),
            "score": self.score,
            "over": self.over,
            "it": self.it,
        }

    def restore(self, state: dict[str, Any]) -> None:
        missing = {"room", "where", "flags", "score", "over"} - set(state)
        if missing:
            raise ValueError(f"not a saved world state: lacks {sorted(missing)}")
        if state["room"] not in self.game.rooms:
            raise ValueError(f"saved state is in unknown room {state['room']!r}")
        if set(state["where"]) != set(self.game.objects):
            raise ValueError(f"saved state is not from {self.game.title!r}: its objects differ")
        self.room = state["room"]
        self.where = dict(state["where"])
        self.flags = set(state["flags"])
        self.score = int(state["score"])
        self.over = state["over"]
        self.it = state.get("it")
        self._valid = None

    def key(self) -> tuple:
        """A hashable summary of everything an action can change (the pronoun aside)."""
        return (
            self.room,
            tuple(sorted(self.where.items(), key=lambda kv: kv[0])),
            frozenset(self.flags),
            self.score,
            self.over,
        )

    # --- conditions and effects ----------------------------------------------------------------
    def holds(self, condition: str) -> bool:
        negate = condition.startswith("!")
        name = condition[1:] if negate else condition
        kind, _, arg = name.partition(":")
        if kind == "has":
            result = self.where.get(arg) == PLAYER
        elif kind == "here":
            result = self.visible(arg)
        elif kind == "at":
            result = self.room == arg
        elif kind == "in":
            location, _, oid = arg.partition(":")
            result = self.where.get(oid) == location
        else:
            result = name in self.flags
        return result != negate

    def apply(self, effect: str) -> None:
        kind, _, arg = effect.partition(":")
        if kind == "set":
            self.flags.add(arg)
        elif kind == "clear":
            self.flags.discard(arg)
        elif kind == "give":
            self.where[arg] = PLAYER
        elif kind == "remove":
            self.where[arg] = None
        elif kind == "move":
            oid, _, location = arg.partition(":")
            self.where[oid] = self.room if location == "here" else location

    # --- scope ---------------------------------------------------------------------------------
    def room_of(self, oid: str) -> str | None:
        """The room an object is in (through containers), PLAYER if carried, or None."""
        seen = 0
        location = self.where.get(oid)
        while location is not None and location != PLAYER and location not in self.game.rooms:
            location = self.where.get(location)
            seen += 1
            if seen > 50:
                return None
        return location

    def visible(self, oid: str) -> bool:
        """Carried, or in the room (inside open containers, on surfaces), or a door of the room."""
        location = self.where.get(oid)
        if location == PLAYER or location == self.room:
            return True
        if location is None:
            return self._is_door_here(oid)
        if location in self.game.objects:
            container = self.game.objects[location]
            if container.get("openable") and f"open:{location}" not in self.flags:
                return False
            return self.visible(location)
        return False

    def _is_door_here(self, oid: str) -> bool:
        for exit_ in self.game.rooms[self.room].get("exits", {}).values():
            if not isinstance(exit_, str) and exit_.get("door") == oid:
                return True
        return False

    def in_scope(self) -> list[str]:
        """Every object the player can refer to now, in the game file's order."""
        return [oid for oid in self.game.objects if self.visible(oid)]

    def held(self) -> list[str]:
        return [oid for oid in self.game.objects if self.where[oid] == PLAYER]

    # --- descriptions --------------------------------------------------------------------------
    def look(self) -> str:
        room = self.game.rooms[self.room]
        parts = [f"{room['name']}\n{room['description']}"]
        listed = []
        for oid in self.game.objects:
            obj = self.game.objects[oid]
            if self.where[oid] == self.room and not obj.get("scenery"):
                listed.append(obj.get("here", f"There is {_a(obj['name'])} here."))
            if obj.get("container") and self.visible(oid) and self.where[oid] != PLAYER:
                inside = [self.game.name(i) for i, loc in self.where.items() if loc == oid]
                if inside and (not obj.get("openable") or f"open:{oid}" in self.flags):
                    word = "On" if obj.get("surface") else "In"
                    listed.append(f"{word} the {obj['name']}: {listing(inside)}.")
        if listed:
            parts.append(" ".join(listed))
        return "\n".join(parts)

    def inventory(self) -> str:
        held = self.held()
        if not held:
            return "You are empty-handed."
        return "You are carrying: " + listing(_a(self.game.name(o)) for o in held) + "."

    # --- parsing -------------------------------------------------------------------------------
    def parse(self, text: str) -> Command:
        """A Command, or ParseError whose message is what the game answers."""
        words = [w for w in _normalise(text).split() if w not in ARTICLES]
        if not words:
            raise ParseError("I beg your pardon?")
        if words[0] in DIRECTION_WORDS and len(words) == 1:
            return Command("go", second=DIRECTION_WORDS[words[0]])
        verb, rest = None, words
        for length in (3, 2, 1):
            phrase = " ".join(words[:length])
            if len(words) >= length and phrase in VERB_PHRASES:
                verb, rest = VERB_PHRASES[phrase], words[length:]
                break
        if verb is None:
            raise ParseError(UNKNOWN)
        if verb == "drop" and rest[-1:] == ["down"]:  # "put lamp down"
            rest = rest[:-1]
        if verb == "put" and rest[-1:] == ["down"]:
            verb, rest = "drop", rest[:-1]
        if verb == "go":
            if len(rest) == 1 and rest[0] in DIRECTION_WORDS:
                return Command("go", second=DIRECTION_WORDS[rest[0]])
            raise ParseError("Which way? (north, south, east, west, up or down)")
        if verb == "look" and rest:
            if rest[0] in DIRECTION_WORDS and len(rest) == 1:
                return Command("look")
            verb, rest = "examine", rest[1:] if rest[0] in ("at", "to") else rest
        if verb in ("look", "inventory", "wait"):
            if rest:
                raise ParseError(UNKNOWN)
            return Command(verb)
        if not rest:
            raise ParseError(f"What do you want to {verb}?")
        if verb == "ask" and "about" not in rest and "for" in rest:  # "ask pell for the key"
            rest = ["about" if w == "for" else w for w in rest]
        first, second = rest, None
        for preposition in PREPOSITIONS.get(verb, ()):
            if preposition in rest[1:]:
                cut = rest.index(preposition, 1)
                first, second = rest[:cut], rest[cut + 1 :]
                break
        if verb == "enter":  # "enter 4719 on safe", "dial 4719"
            code = " ".join(first)
            target = self._noun(second) if second else self._code_target(code)
            return Command("enter", target, code)
        if verb == "ask":
            if second is None:
                raise ParseError("Ask about what? (ask someone about something)")
            return Command("ask", self._noun(first), self._topic(second))
        obj = self._noun(first)
        if not second and verb in ("unlock", "give", "show", "put"):  # none, or "unlock door with"
            raise ParseError(MISSING_SECOND[verb])
        other = self._noun(second) if second else None
        # "use key on door" = "unlock door with key" when that is what it means
        if verb == "use" and other is not None and self.game.objects[other].get("key") == obj:
            return Command("unlock", other, obj)
        return Command(verb, obj, other)

    def _topic(self, words: list[str]) -> str:
        """The game's topic for "ask X about <words>": the phrase, an alias of a topic, or
        the last word or pair of words in it that names one ("the spare key" -> "key")."""
        topics = self.game.topics
        phrase = " ".join(words)
        if phrase in topics:
            return topics[phrase]
        for end in range(len(words), 0, -1):
            for start in (end - 2, end - 1):
                part = " ".join(words[max(start, 0) : end])
                if part in topics:
                    return topics[part]
        return phrase

    def _code_target(self, code: str) -> str:
        for verb, obj, _ in self.game.rules:
            if verb == "enter" and self.visible(obj):
                return obj
        raise ParseError("There is nothing here to enter a code on.")

    def _noun(self, words: list[str]) -> str:
        """The object in scope named by ``words`` (leading adjectives may be dropped)."""
        if words == ["it"]:
            if self.it is None or not self.visible(self.it):
                raise ParseError("I'm not sure what 'it' refers to.")
            return self.it
        known = False
        for start in range(len(words)):
            candidates = self.game.words.get(" ".join(words[start:]))
            if not candidates:
                continue
            known = True
            here = [c for c in candidates if self.visible(c)]
            if len(here) == 1:
                return here[0]
            if len(here) > 1:
                names = [self.game.name(c) for c in here]
                raise ParseError(f"Which do you mean, {' or '.join('the ' + n for n in names)}?")
        if known:
            raise ParseError(NO_SUCH_THING)
        raise ParseError(f'I don\'t know the word "{words[-1]}".')

    # --- playing -------------------------------------------------------------------------------
    def do(self, text: str) -> str:
        """Play one command and return the game's reply."""
        if self.over:
            return "The game is over."
        try:
            command = self.parse(text)
        except ParseError as error:
            return str(error)
        return self.execute(command)

    def execute(self, command: Command) -> str:
        self._valid = None
        if command.obj is not None:
            self.it = command.obj
        rule, refusal = self._rule_for(command)
        if rule is not None:
            return self._fire(rule)
        if refusal is not None:
            return refusal
        handler = getattr(self, f"_do_{command.verb}", None)
        if handler is None:
            return self.game.replies.get(command.verb, "Nothing happens.")
        return handler(command)

    def _rule_for(self, command: Command) -> tuple[Rule | None, str | None]:
        second = command.second
        if second is not None and command.verb in ("ask", "enter"):
            second = _normalise(second)
        rules = self.game.rules.get((command.verb, command.obj, second), ())
        for rule in rules:
            if rule.once and f"done:{rule.id}" in self.flags:
                continue
            if all(self.holds(c) for c in rule.conditions):
                return rule, None
        if command.verb == "ask" and any(f"done:{r.id}" in self.flags for r in rules):
            return None, "You have already asked about that."
        return None, None

    def _fire(self, rule: Rule) -> str:
        if rule.once:
            self.flags.add(f"done:{rule.id}")
        if rule.verb in DONE_FLAGS:  # a scripted "examine body" still counts as examining it
            self.flags.add(f"{DONE_FLAGS[rule.verb]}:{rule.obj}")
        for effect in rule.effects:
            self.apply(effect)
        self.score += rule.score
        text = rule.text
        if rule.score:
            text += f" [Your score has gone up by {rule.score} points.]"
        if rule.end:
            self.over = rule.end
            verdict = self.game.replies[rule.end]
            text += f"\n*** {verdict} *** Final score: {self.score} of {self.game.max_score}."
        return text

    def _do_look(self, command: Command) -> str:
        return self.look()

    def _do_inventory(self, command: Command) -> str:
        return self.inventory()

    def _do_wait(self, command: Command) -> str:
        return "Time passes."

    def _do_go(self, command: Command) -> str:
        exit_ = self.game.rooms[self.room].get("exits", {}).get(command.second)
        if exit_ is None:
            return "You can't go that way."
        if isinstance(exit_, str):
            exit_ = {"to": exit_}
        door = exit_.get("door")
        if door is not None and f"open:{door}" not in self.flags:
            return f"The {self.game.name(door)} is closed."
        if not all(self.holds(c) for c in exit_.get("if", ())):
            return exit_.get("blocked", "You can't go that way.")
        self.room = exit_["to"]
        self.flags.add(f"visited:{self.room}")
        return self.look()

    def _do_examine(self, command: Command) -> str:
        obj = self.game.objects[command.obj]
        self.flags.add(f"examined:{command.obj}")
        text = obj.get("description", f"You see nothing special about the {obj['name']}.")
        if obj.get("openable"):
            state = "open" if f"open:{command.obj}" in self.flags else "closed"
            text += f" It is {state}."
        if obj.get("lightable"):
            text += " It is lit." if f"lit:{command.obj}" in self.flags else " It is not lit."
        return text

    def _do_read(self, command: Command) -> str:
        obj = self.game.objects[command.obj]
        if "text" not in obj:
            return f"There is nothing written on the {obj['name']}."
        self.flags.add(f"read:{command.obj}")
        return obj["text"]

    def _do_take(self, command: Command) -> str:
        oid = command.obj
        obj = self.game.objects[oid]
        if self.where[oid] == PLAYER:
            return "You already have that."
        if obj.get("person"):
            return f"{obj['name']} would hardly approve."
        if not obj.get("takeable"):
            return obj.get("fixed", "That's hardly portable.")
        self.where[oid] = PLAYER
        return "Taken."

    def _do_drop(self, command: Command) -> str:
        if self.where[command.obj] != PLAYER:
            return "You aren't carrying that."
        self.where[command.obj] = self.room
        return "Dropped."

    def _do_open(self, command: Command) -> str:
        oid = command.obj
        if not self.game.objects[oid].get("openable"):
            return "That's not something you can open."
        if f"locked:{oid}" in self.flags:
            return f"The {self.game.name(oid)} is locked."
        if f"open:{oid}" in self.flags:
            return "It's already open."
        self.flags.add(f"open:{oid}")
        inside = [self.game.name(i) for i, loc in self.where.items() if loc == oid]
        if inside:
            return f"You open the {self.game.name(oid)}, revealing {listing(map(_a, inside))}."
        return "Opened."

    def _do_close(self, command: Command) -> str:
        oid = command.obj
        if not self.game.objects[oid].get("openable"):
            return "That's not something you can close."
        if f"open:{oid}" not in self.flags:
            return "It's already closed."
        self.flags.discard(f"open:{oid}")
        return "Closed."

    def _do_unlock(self, command: Command) -> str:
        oid, key = command.obj, command.second
        if f"locked:{oid}" not in self.flags:
            return "It isn't locked."
        if self.game.objects[oid].get("key") != key:
            return f"The {self.game.name(key)} doesn't fit the {self.game.name(oid)}."
        if self.where[key] != PLAYER:
            return f"You aren't holding the {self.game.name(key)}."
        self.flags.discard(f"locked:{oid}")
        return f"You unlock the {self.game.name(oid)}."

    def _do_search(self, command: Command) -> str:
        oid = command.obj
        self.flags.add(f"searched:{oid}")
        obj = self.game.objects[oid]
        if obj.get("container"):
            if obj.get("openable") and f"open:{oid}" not in self.flags:
                return f"The {obj['name']} is closed."
            return self._contents(oid)
        return "You find nothing of interest."

    def _contents(self, oid: str) -> str:
        inside = [self.game.name(i) for i, loc in self.where.items() if loc == oid]
        if not inside:
            return f"The {self.game.name(oid)} is empty."
        return f"In the {self.game.name(oid)}: {listing(map(_a, inside))}."

    def _do_talk(self, command: Command) -> str:
        obj = self.game.objects[command.obj]
        if not obj.get("person"):
            return self.game.replies["talk_to_thing"]
        self.flags.add(f"talked:{command.obj}")
        return obj.get("greeting", f"{obj['name']} nods at you.")

    def _do_ask(self, command: Command) -> str:
        obj = self.game.objects[command.obj]
        if not obj.get("person"):
            return self.game.replies["talk_to_thing"]
        return obj.get("shrug", f"{obj['name']} has nothing to say about that.")

    def _do_give(self, command: Command) -> str:
        if self.where[command.obj] != PLAYER:
            return "You aren't carrying that."
        other = self.game.objects[command.second]
        if not other.get("person"):
            return "That would achieve nothing."
        return f"{other['name']} doesn't seem interested."

    _do_show = _do_give

    def _do_put(self, command: Command) -> str:
        oid, target = command.obj, command.second
        if self.where[oid] != PLAYER:
            return "You aren't carrying that."
        if oid == target:
            return "You can't put something inside itself."
        if not self.game.objects[target].get("container"):
            return "You can't put things there."
        if f"open:{target}" not in self.flags and self.game.objects[target].get("openable"):
            return f"The {self.game.name(target)} is closed."
        self.where[oid] = target
        return "Done."

    def _do_enter(self, command: Command) -> str:
        return "Nothing happens; that must be the wrong code."

    def _do_light(self, command: Command) -> str:
        obj = self.game.objects[command.obj]
        if not obj.get("lightable"):
            return "That's not something you can light."
        if f"lit:{command.obj}" in self.flags:
            return "It is already lit."
        return "You have nothing to light it with."

    def _do_accuse(self, command: Command) -> str:
        if not self.game.objects[command.obj].get("person"):
            return self.game.replies["accuse_thing"]
        return "You have no grounds to accuse anyone of that."

    # --- valid actions -------------------------------------------------------------------------
    def valid_actions(self) -> list[str]:
        """Every command that changes the world from this state, in a stable order. Computed
        from the state by rules that mirror the handlers above (each is checked by the tests),
        and cached until the next action."""
        if self._valid is None:
            self._valid = [] if self.over else self._compute_valid()
        return self._valid

    def _compute_valid(self) -> list[str]:
        """The open exits, then for each object in scope the commands its rules offer and the
        engine's own."""
        scope = self.in_scope()
        held = {oid for oid in scope if self.where[oid] == PLAYER}
        containers = [
            oid
            for oid in scope
            if self.game.objects[oid].get("container")
            and (f"open:{oid}" in self.flags or not self.game.objects[oid].get("openable"))
        ]
        actions = self._exit_actions()
        for oid in scope:
            offered, rule_verbs = self._rule_actions(oid)
            actions += offered
            actions += self._own_actions(oid, rule_verbs, held, containers)
        return actions

    def _exit_actions(self) -> list[str]:
        """The directions of the room's exits that can be taken now."""
        directions = []
        for direction, exit_ in self.game.rooms[self.room].get("exits", {}).items():
            if isinstance(exit_, str):
                directions.append(direction)
                continue
            door = exit_.get("door")
            if (door is None or f"open:{door}" in self.flags) and all(
                self.holds(c) for c in exit_.get("if", ())
            ):
                directions.append(direction)
        return directions

    def _rule_actions(self, oid: str) -> tuple[list[str], set[str]]:
        """The commands the object's rules offer now (one naming a second object, while that
        object is visible), and the verbs of those rules."""
        game = self.game
        actions: list[str] = []
        rule_verbs: set[str] = set()
        for (verb, _, second), rules in game.rules_by_object.get(oid, ()):
            if self._first_listable(rules) is None:
                continue
            rule_verbs.add(verb)
            if second is not None and verb not in ("ask", "enter"):
                if not self.visible(second):
                    continue
                second_word = game.word(second)
            else:
                second_word = second
            template = TEMPLATES.get(verb, verb + " {o}")
            actions.append(template.format(o=game.word(oid), s=second_word))
        return actions, rule_verbs

    def _own_actions(
        self, oid: str, rule_verbs: set[str], held: set[str], containers: list[str]
    ) -> list[str]:
        """The engine's own commands for an object, each where no rule of its verb is listed:
        examine, then talk to a person, or else drop and put (held) or take, open or close,
        unlock, read and search."""
        game, flags = self.game, self.flags
        obj, noun = game.objects[oid], game.word(oid)
        actions: list[str] = []
        if f"examined:{oid}" not in flags and "examine" not in rule_verbs:
            actions.append(f"examine {noun}")
        if obj.get("person"):
            if f"talked:{oid}" not in flags and "talk" not in rule_verbs:
                actions.append(f"talk to {noun}")
            return actions
        if oid in held:
            actions.append(f"drop {noun}")
            for container in containers:
                if container != oid and self.where[container] != oid:
                    actions.append(f"put {noun} in {game.word(container)}")
        elif obj.get("takeable") and "take" not in rule_verbs:
            actions.append(f"take {noun}")
        if obj.get("openable") and f"locked:{oid}" not in flags:
            if f"open:{oid}" in flags:
                actions.append(f"close {noun}")
            elif "open" not in rule_verbs:
                actions.append(f"open {noun}")
        key = obj.get("key")
        if key is not None and f"locked:{oid}" in flags and key in held:
            actions.append(f"unlock {noun} with {game.word(key)}")
        if "text" in obj and f"read:{oid}" not in flags and "read" not in rule_verbs:
            actions.append(f"read {noun}")
        searched = f"searched:{oid}" in flags or "search" in rule_verbs
        if obj.get("searchable") and not searched:
            actions.append(f"search {noun}")
        return actions

    def _first_listable(self, rules: Iterable[Rule]) -> Rule | None:
        for rule in rules:
            if rule.once and f"done:{rule.id}" in self.flags:
                continue
            if rule.verb in ("give", "show", "put") and self.where[rule.obj] != PLAYER:
                continue
            if all(self.holds(c) for c in rule.conditions) and all(
                self.holds(c) for c in rule.hint
            ):
                return rule
        return None


# what the engine says where no rule does; a game file's "replies" words them for its story
DEFAULT_REPLIES = {
    "lock": "You have no reason to lock anything.",
    "drink": "That isn't something you can drink.",
    "eat": "That isn't something you can eat.",
    "smell": "You smell nothing unusual.",
    "use": "You'll have to be more specific about how to use it.",
    "push": "Nothing happens.",
    "pull": "Nothing happens.",
    "break": "Breaking things will not help.",
    "attack": "Violence is not the answer.",
    "talk_to_thing": "Talking to inanimate objects won't help.",
    "accuse_thing": "Accusing an object will get you nowhere.",
    "won": "You have won.",
    "lost": "You have lost.",
}


def _a(name: str) -> str:
    if name[:1].isupper() or name.startswith(("some ", "a ", "an ", "the ")):
        return name
    return ("an " if name[:1] in "aeiou" else "a ") + name
