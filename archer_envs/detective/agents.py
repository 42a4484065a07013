"""Detective's scripted reference agents: random valid actions, and the game's walkthrough
(with a knob for noisy detours). They know the game file, never the hidden state of the episode."""

from __future__ import annotations

from collections import deque

import numpy as np

from archer_envs.core import check_epsilon
from archer_envs.detective.adventure import parse_valid_actions
from archer_envs.detective.engine import PLAYER, World
from archer_envs.detective.env import DetectiveEnv, world_observation


class RandomValidAgent:
    """Each turn a uniformly random action from the observation's valid-action list (the floor
    learning agents must beat)."""

    def __init__(self, env: DetectiveEnv, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def act(self, observations: list[str | None]) -> list[str | None]:
        return [None if obs is None else self.act_one(obs) for obs in observations]

    def act_one(self, observation: str) -> str:
        actions = parse_valid_actions(observation)
        return actions[int(self.rng.integers(len(actions)))] if actions else "look"


class WalkthroughAgent:
    """Plays the game's full-score walkthrough. With probability ``epsilon`` a turn goes to a
    random valid action instead (the knob that makes noisy behaviour-cloning data); after such a
    detour it walks back to where the walkthrough continues and picks up items it dropped.

    It follows the game on its own copy of the engine (it knows the game, as the Twenty
    Questions agents know the knowledge base) and sees only the observations."""

    def __init__(self, env: DetectiveEnv, seed: int | None = None, epsilon: float = 0.0):
        if not env.game.walkthrough:
            raise ValueError(f"the game {env.game.title!r} has no walkthrough")
        self.game = env.game
        self.epsilon = check_epsilon(epsilon)
        self.rng = np.random.default_rng(seed)
        self.start = world_observation(
            self.game.new_world(), self.game.intro, self.game.new_world().valid_actions()
        )
        # where the walkthrough stands, and what it holds, before each of its steps
        world = self.game.new_world()
        self.plan: list[tuple[str, str, frozenset[str]]] = []
        for action in self.game.walkthrough:
            self.plan.append((action, world.room, frozenset(world.held())))
            world.do(action)
        self.slots: list[tuple[World, int] | None] = []

    def reset(self, tasks: list[str]) -> None:
        self.slots = [None] * len(tasks)

    def act(self, observations: list[str | None]) -> list[str | None]:
        if len(self.slots) != len(observations):
            self.slots = [None] * len(observations)
        actions: list[str | None] = []
        for i, observation in enumerate(observations):
            if observation is None:
                actions.append(None)
                continue
            if self.slots[i] is None or observation == self.start:
                self.slots[i] = (self.game.new_world(), 0)
            world, step = self.slots[i]
            action, step = self._choose(world, step, observation)
            world.do(action)
            self.slots[i] = (world, step)
            actions.append(action)
        return actions

    def _choose(self, world: World, step: int, observation: str) -> tuple[str, int]:
        if self.epsilon and self.rng.random() < self.epsilon:
            valid = parse_valid_actions(observation)
            if valid:
                return valid[int(self.rng.integers(len(valid)))], step
        if step >= len(self.plan):
            return "wait", step
        action, room, needed = self.plan[step]
        for item in sorted(needed - set(world.held())):
            detour = self._fetch(world, item)
            if detour is not None:
                return detour, step
        if world.room != room:
            move = self._route(world, room)
            if move is not None:
                return move, step
        return action, step + 1

    def _fetch(self, world: World, item: str) -> str | None:
        """The next command towards getting ``item`` back, or None if it cannot be had."""
        if world.visible(item):
            return f"take {self.game.word(item)}"
        location = world.where.get(item)
        if location in self.game.objects and world.visible(location):
            return f"open {self.game.word(location)}"
        room = world.room_of(item)
        if room is None or room == PLAYER:
            return None
        return self._route(world, room)

    def _route(self, world: World, goal: str) -> str | None:
        """The first command of a shortest walk to room ``goal`` (opening doors on the way)."""
        first: dict[str, str] = {world.room: ""}
        queue = deque([world.room])
        while queue:
            room = queue.popleft()
            for direction, exit_ in self.game.rooms[room].get("exits", {}).items():
                spec = {"to": exit_} if isinstance(exit_, str) else exit_
                if spec["to"] in first or not all(world.holds(c) for c in spec.get("if", ())):
                    continue
                door = spec.get("door")
                step = direction
                if door is not None and f"open:{door}" not in world.flags:
                    if f"locked:{door}" in world.flags:
                        key = self.game.objects[door].get("key")
                        if key is None or world.where.get(key) != PLAYER:
                            continue
                        step = f"unlock {self.game.word(door)} with {self.game.word(key)}"
                    else:
                        step = f"open {self.game.word(door)}"
                first[spec["to"]] = first[room] or step
                if spec["to"] == goal:
                    return first[goal]
                queue.append(spec["to"])
        return None
