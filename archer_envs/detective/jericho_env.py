"""Jericho: any z-machine story file (e.g. the paper's detective.z5) as an archer-gym env.

Needs the optional ``jericho`` package (``pip install "archer-gym[jericho]"``). Nothing is
downloaded: Jericho's own ``get_valid_actions`` would fetch a spaCy model at run time, so the valid
actions are built here from the names of the objects around the player in the object tree
(Jericho's for the games it supports, read from the z-machine memory for any other story file)
and the game's dictionary words in the location and inventory text, filled into action templates
(Jericho's grammar bindings, or common Inform verbs), and kept when they change the world state
(Jericho's own filter for the games it supports; for other story files the same test run here:
the object tree changed, the score went up or the game ended).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

from archer_envs.detective.adventure import TextAdventureEnv, compose_observation

# Inform-library verbs in Jericho's template format ("OBJ" is a hole; a/b lists synonyms), for
# story files Jericho has no grammar bindings for. Templates whose verb is not in the game's
# dictionary are dropped.
DEFAULT_TEMPLATES = tuple(
    "take/get OBJ, drop OBJ, open OBJ, close OBJ, unlock OBJ with OBJ, lock OBJ with OBJ, "
    "put OBJ in OBJ, put OBJ on OBJ, read OBJ, eat OBJ, drink OBJ, wear OBJ, remove OBJ, "
    "push OBJ, pull OBJ, turn OBJ, climb OBJ, enter OBJ, search OBJ, give OBJ to OBJ, "
    "show OBJ to OBJ, ask OBJ about OBJ, tell OBJ about OBJ, attack OBJ, burn OBJ, fill OBJ, "
    "empty OBJ, dig OBJ, tie OBJ to OBJ, throw OBJ at OBJ, switch on OBJ, switch off OBJ, "
    "light OBJ, wave OBJ, kiss OBJ, wake OBJ, smell OBJ, taste OBJ, touch OBJ, cut OBJ, "
    "look under OBJ, sit on OBJ, jump over OBJ, squeeze OBJ, rub OBJ, buy OBJ, jump, sleep, "
    "pray, sing, swim, exit, "
    "a an the and or of to in on at by is are was be you your yours it its here there this , "
    "that these those some any all can see also carrying nothing empty-handed which with , "
    "from into onto for not no yes".split(", ")
)
# Words of the location and inventory text that never name an object.
STOP_WORDS = frozenset(
    "a an the and or of to in on at by is are was be you your yours it its here there this "
    "that these those some any all can see also carrying nothing empty-handed which with "
    "from into onto for not no yes".split()
)
DIRECTIONS = frozenset(
    "north south east west northeast northwest southeast southwest up down in out n s e w ne nw "
    "se sw u d".split()
)
SCORE_RE = re.compile(r"scored (-?\d+) out of a possible (\d+)")
SCORE_UP_RE = re.compile(r"score has (?:just )?gone (?:up|down)", re.IGNORECASE)
IMPLICIT_TAKE = re.compile(r"\(Taken\)|\(first taking", re.IGNORECASE)
END_RE = re.compile(r"\*\*\*\s*(.+?)\s*\*\*\*")


A2 = "\n0123456789.,!?_#'\"/\\-:()"  # z-machine alphabet 2 from z-char 7 (6 is an escape)
PLAYER_NAMES = ("(self object)", "yourself")  # Inform 6's and Inform 7's player object


def zmachine_objects(memory: bytes) -> dict[int, tuple[str, int, int, int]]:
    """The object tree of a z-machine memory image (the interpreter's dynamic memory followed
    by the rest of the story file): object number -> (short name, parent, sibling, child). It is
    what Jericho reads for the games it supports, read here for any story file."""
    version = memory[0]
    word = lambda address: int.from_bytes(memory[address : address + 2], "big")  # noqa: E731
    small = version <= 3
    defaults, size = (31, 9) if small else (63, 14)
    first = word(0x0A) + 2 * defaults
    alphabet_table = word(0x34) if version >= 5 else 0
    if alphabet_table:
        custom = memory[alphabet_table : alphabet_table + 78].decode("latin-1")
        alphabets = (custom[:26], custom[26:52], "?" + custom[53:78])
    else:
        lower = "abcdefghijklmnopqrstuvwxyz"
        alphabets = (lower, lower.upper(), "?" + A2)

    def text(address: int, abbreviations: bool = True) -> str:
        zchars: list[int] = []
        while address + 1 < len(memory):
            packed = word(address)
            address += 2
            zchars += [(packed >> 10) & 31, (packed >> 5) & 31, packed & 31]
            if packed & 0x8000:
                break
        out, shift, i = [], 0, 0
        while i < len(zchars):
            z = zchars[i]
            if z == 0:
                out.append(" ")
            elif z <= 3 and abbreviations and i + 1 < len(zchars):
                entry = word(0x18) + 2 * (32 * (z - 1) + zchars[i + 1])
                out.append(text(2 * word(entry), abbreviations=False))
                i += 1
            elif z in (4, 5):
                shift = z - 3
                i += 1
                continue
            elif shift == 2 and z == 6 and i + 2 < len(zchars):  # a 10-bit ZSCII character
                out.append(chr((zchars[i + 1] << 5) | zchars[i + 2]))
                i += 2
            elif z >= 6:
                out.append(alphabets[shift][z - 6])
            shift = 0
            i += 1
        return "".join(out)

    def entry(number: int) -> tuple[int, int, int, int]:
        at = first + size * (number - 1)
        if small:
            return memory[at + 4], memory[at + 5], memory[at + 6], word(at + 7)
        return word(at + 6), word(at + 8), word(at + 10), word(at + 12)

    # the property tables follow the object table: the first one ends it
    count = (entry(1)[3] - first) // size
    objects = {}
    for number in range(1, count + 1):
        parent, sibling, child, properties = entry(number)
        name = text(properties + 1) if memory[properties] else ""
        objects[number] = (name, parent, sibling, child)
    return objects


def clean_text(text: str) -> str:
    """A reply without the trailing prompt and status line the interpreter leaves after it."""
    if "\n>" in text:
        text = text.rsplit("\n>", 1)[0]
    return text.strip()


class JerichoEnv(TextAdventureEnv):
    """Jericho: a z-machine interactive-fiction story file of your own, played as in the paper.

    ## Description
    ArCHer's Detective is detective.z5 run through Jericho. The story file cannot ship with
    archer-gym; point ``story_file`` at your copy (or any .z3/.z5/.z8 game) and this env plays
    it the way upstream did. Our own original mystery, needing nothing, is
    ``archer/Detective-v0``.

    ## Action Space
    ``Text(256)``: a command for the game's parser.

    ## Observation Space
    ``Text(8192)``: as upstream, the latest game text, then ``Location:`` (the output of
    ``look``) and ``Inventory:`` (of ``inventory``), both run on a saved state so that they do
    not advance the game, ``Score: s of max``, and ``Valid actions:`` one per line (see the
    module docstring for how they are found without a spaCy model). ``info["valid_actions"]``
    holds the same list.

    ## Rewards
    The increase of the game's score: Jericho's score where it supports the game, otherwise read
    from the game's own ``score`` command on a saved state.

    ## Episode End
    Terminated when the game is over (won or lost); truncated after ``max_steps`` commands (50,
    the paper's cap).

    ## Information
    ``turn``, ``success`` (the game was won), ``reply``, ``score``, ``max_score``,
    ``valid_actions``, ``action_cut``; ``task`` at reset.

    ## Arguments
    - ``story_file``: path of the z-machine story file (required).
    - ``max_steps``: the step cap (50).
    - ``game_seed``: the interpreter's random seed, the same on every reset (1).
    - ``valid_actions``: compute the valid actions (True); False skips that search, the slow
      part of a step, and lists none.
    - ``render_mode``: "ansi" or "human".

    ## References
    Hausknecht et al., Interactive Fiction Games: A Colossal Adventure, AAAI 2020
    (arXiv 1909.05398); Zhou et al., ArCHer, ICML 2024 (arXiv 2402.19446).

    ## Version History
    - v0: initial release.
    """

    def __init__(
        self,
        story_file: str | os.PathLike | None = None,
        max_steps: int = 50,
        game_seed: int = 1,
        valid_actions: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode)
        if story_file is None:
            raise ValueError(
                "archer/Jericho-v0 needs story_file=<path of a z-machine game you have, e.g. "
                "detective.z5>; for our own mystery, needing no file, use archer/Detective-v0"
            )
        path = Path(story_file)
        if not path.is_file():
            raise FileNotFoundError(f"story file not found: {path}")
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        if not isinstance(game_seed, int) or game_seed < 1:
            raise ValueError(f"game_seed must be a positive int, got {game_seed!r}")
        self.story_file = str(path.resolve())
        self.max_steps = max_steps
        self.game_seed = game_seed
        self.list_valid_actions = valid_actions
        self.task_description = (
            f"You are playing the interactive-fiction game {path.name}. Type one command per "
            "turn (e.g. 'north', 'take lamp', 'open door'). Each observation shows the game's "
            "reply, your location, your inventory, your score and the valid actions; reply "
            f"with one command only. You have {max_steps} commands. Score as many points as "
            "you can."
        )
        self._frotz: Any = None
        self._generator: Any = None
        self._nouns: frozenset[str] = frozenset()
        self._verbs: frozenset[str] = frozenset()
        self._story = b""
        self.max_score = 0
        self.score = 0
        self._over: str | None = None
        self._reply = ""
        self._valid: list[str] = []

    # --- the interpreter -----------------------------------------------------------------------
    def _load(self):
        if self._frotz is not None:
            return self._frotz
        try:
            import jericho
        except ImportError as error:
            raise ImportError(
                'archer/Jericho-v0 needs the jericho package: pip install "archer-gym[jericho]"'
            ) from error
        from jericho.template_action_generator import TemplateActionGenerator

        with warnings.catch_warnings():  # unsupported games are handled below
            warnings.simplefilter("ignore", jericho.UnsupportedGameWarning)
            frotz = jericho.FrotzEnv(self.story_file, seed=self.game_seed)
        self.supported = bool(frotz.is_fully_supported and frotz.bindings)
        words = frotz.get_dictionary()
        width = max(len(w.word) for w in words)
        # the game's words (cut to its word length) and the parts of speech it marks them with
        self._nouns = frozenset(w.word for w in words if w.is_noun)
        self._verbs = frozenset(w.word for w in words if w.is_verb)
        if self.supported:
            self._generator = frotz.act_gen
        else:
            templates = [
                t for t in DEFAULT_TEMPLATES if self._is_verb(t.split()[0].split("/")[0], width)
            ]
            self._generator = TemplateActionGenerator(
                {"name": "archer-default", "grammar": ";".join(templates), "max_word_length": width}
            )
        self._width = width
        self._story = Path(self.story_file).read_bytes()
        self._frotz = frotz
        return frotz

    def _is_noun(self, word: str) -> bool:
        short = word[: self._width]
        return short in self._nouns and short not in STOP_WORDS and short not in DIRECTIONS

    def _is_verb(self, word: str, width: int) -> bool:
        return word[:width] in self._verbs

    def _probe(self, command: str, state) -> str:
        """The reply to ``command`` from ``state``, leaving the game in ``state``."""
        self._frotz.set_state(state)
        reply = self._frotz.step(command)[0]
        self._frotz.set_state(state)
        return clean_text(reply)

    def _read_score(self, reply: str, state) -> tuple[int, int]:
        if self.supported:
            return self._frotz.get_score(), self._frotz.get_max_score()
        match = SCORE_RE.search(reply) if self._over else None
        if match is None and not self._over:
            match = SCORE_RE.search(self._probe("score", state))
        if match is None:
            return self.score, self.max_score
        return int(match.group(1)), int(match.group(2))

    def _ended(self, reply: str) -> str | None:
        """None while the game goes on, "won" or "lost" once it is over."""
        if self.supported and (self._frotz.victory() or self._frotz.game_over()):
            return "won" if self._frotz.victory() else "lost"
        match = END_RE.search(reply)
        if match is None:
            return None
        return "won" if "won" in match.group(1).lower() else "lost"

    # --- valid actions -------------------------------------------------------------------------
    def _objects(self, state, texts: list[str]) -> list[str]:
        """One name per distinct interactive object, as Jericho's object identification does
        (examine each candidate word, group the words by the description they give) but with
        the location and inventory words instead of a spaCy parse."""
        heads: list[str] = []  # the last word of a run of nouns names the thing ("shell")
        modifiers: list[str] = []  # the words before it ("sea") are only fallbacks
        for text in texts:
            tokens = re.findall(r"[a-z][a-z'-]*", text.lower())
            nouns = [self._is_noun(t) for t in tokens]
            for i, token in enumerate(tokens):
                if nouns[i]:
                    head = i + 1 == len(tokens) or not nouns[i + 1]
                    (heads if head else modifiers).append(token)
        names = self._names_around_player()
        heads += [n.split()[-1] for n in names]  # Jericho's rule: the last word is the noun
        modifiers += [w for n in names for w in n.split()[:-1]]
        words = [w for w in heads + modifiers if self._is_noun(w)]
        from jericho.util import recognized

        by_description: dict[str, str] = {}
        for word in dict.fromkeys(words):
            description = self._probe(f"examine {word}", state)
            if recognized(description) and description not in by_description:
                by_description[description] = word
        return list(by_description.values())

    def _names_around_player(self) -> list[str]:
        """The short names of the objects in the player's location and inventory, from the
        object tree (Jericho's where it supports the game, read from memory otherwise)."""
        frotz = self._frotz
        if self.supported:
            from jericho.util import get_subtree

            location = frotz.get_player_location()
            if location is None:
                return []
            player = frotz.get_player_object()
            tree = get_subtree(location.child, frotz.get_world_objects())
            return [o.name.lower() for o in tree if o != player and o.name]
        objects = zmachine_objects(bytes(frotz._get_ram()) + self._story[len(frotz._get_ram()) :])
        players = [n for n, o in objects.items() if o[0] in PLAYER_NAMES]
        if not players:
            return []
        location = players[0]
        while objects.get(location, ("", 0))[1]:  # up to the room (the player may sit in a car)
            location = objects[location][1]
        names, stack = [], [objects[location][3]]
        while stack:
            number = stack.pop()
            if number not in objects:
                continue
            name, _, sibling, child = objects[number]
            if number != players[0] and not name.startswith("("):
                names.append(name.lower())
            stack += [sibling, child]
        return names

    def _compute_valid(self, state, texts: list[str]) -> list[str]:
        from jericho.util import recognized, verb_usage_count

        candidates = self._generator.generate_actions(self._objects(state, texts))
        frotz = self._frotz
        if self.supported:  # Jericho's own filter (score, game over and world-diff aware)
            groups = frotz._filter_candidate_actions(candidates, use_ctypes=True)
            frotz.set_state(state)
        else:
            groups: dict[tuple, list[str]] = {}
            for action in dict.fromkeys(candidates):
                frotz.set_state(state)
                reply = frotz.step(action)[0]
                # as Jericho: skip commands whose effect is an implicit take ("(first taking")
                if not recognized(clean_text(reply)) or IMPLICIT_TAKE.search(reply):
                    continue
                moved, set_attributes, cleared, _ = frotz._get_world_diff()
                # an attribute set and cleared in one move (e.g. by "look") is no change
                flipped = set(map(_ints, set_attributes)) ^ set(map(_ints, cleared))
                change = (tuple(sorted(map(_ints, moved))), tuple(sorted(flipped)))
                scored = bool(SCORE_UP_RE.search(reply))
                ended = END_RE.search(reply)
                if change != ((), ()) or scored or ended:
                    key = (*change, scored, ended.group(1) if ended else None)
                    groups.setdefault(key, []).append(action)
            frotz.set_state(state)
        return [max(group, key=verb_usage_count) for group in groups.values()]

    # --- the env hooks -------------------------------------------------------------------------
    def _start(self, options: dict[str, Any]) -> str:
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; this env takes none")
        frotz = self._load()
        intro, _ = frotz.reset()
        self._over = None
        self.score = 0
        self.score, self.max_score = self._read_score("", frotz.get_state())
        return self._observe(clean_text(intro))

    def _observe(self, reply: str) -> str:
        self._reply = reply
        state = self._frotz.get_state()
        if self._over:
            look, inventory, self._valid = "", "", []
        else:
            look = self._probe("look", state)
            inventory = self._probe("inventory", state)
            self._valid = (
                self._compute_valid(state, [look, inventory]) if self.list_valid_actions else []
            )
        return compose_observation(reply, look, inventory, self.score, self.max_score, self._valid)

    def _game_status(self) -> tuple[str, int, int, list[str]]:
        return self._reply, self.score, self.max_score, self._valid

    def _play(self, action: str, answer: str | None):
        reply = clean_text(self._frotz.step(action)[0])
        self._over = self._ended(reply)
        before = self.score
        self.score, self.max_score = self._read_score(reply, self._frotz.get_state())
        terminated = self._over is not None
        truncated = not terminated and self._turn + 1 >= self.max_steps
        if terminated:
            self._finish(self._over == "won")
        observation = self._observe(f"> {action}\n{reply}")
        return observation, self.score - before, terminated, truncated, self._status_info()

    def close(self):
        if self._frotz is not None:
            self._frotz.close()
            self._frotz = None
        super().close()


def _ints(pair) -> tuple[int, int]:
    return int(pair[0]), int(pair[1])
