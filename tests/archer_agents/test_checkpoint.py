"""Checkpoints and run folders, damaged or edited by hand: `archer-train --resume` and loading a
run as an agent refuse with one clear error that names the file and what is wrong, and leave the
run folder byte-identical. Each file kind meets each kind of damage; the manifest is signed
again after an edit (as a careless hand or a buggy writer would) so that the loader's own checks
are what is tested, not only the checksums."""

import hashlib
import json
import math
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from archer_agents import checkpoint
from archer_agents.train import load_policy, main

ENV_ID = "archer/TwentyQuestionsSubset-v0"
SETTINGS = dict(
    iterations=2,
    rollouts_per_iter=4,
    num_envs=4,
    batch_size=8,
    critic_steps=1,
    actor_steps=1,
    warmup_iters=1,
    max_new_tokens=8,
    eval_every=2,
    save_every=1,
)


def cli_args(out: Path) -> list[str]:
    sets = [f"{k}={json.dumps(v)}" for k, v in SETTINGS.items()]
    return [
        "--env",
        ENV_ID,
        "--algo",
        "archer",
        "--seed",
        "1",
        "--out",
        str(out),
        "--quiet",
        "--device",
        "cpu",
        "--set",
        *sets,
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(cli_args(out)) == 0
    return out


@pytest.fixture
def run(trained, tmp_path):
    """A copy of a finished two-iteration ArCHer run, checkpoints at iterations 1 and 2."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def newest(run: Path) -> Path:
    return run / "checkpoints" / "iter-000002"


def sign(directory: Path) -> None:
    """Write the manifest again over the files as they now are."""
    names = json.loads((directory / checkpoint.MANIFEST).read_text())
    sums = {n: hashlib.sha256((directory / n).read_bytes()).hexdigest() for n in names}
    (directory / checkpoint.MANIFEST).write_text(json.dumps(sums))


def edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    path.write_text(json.dumps(change(value)))


def edit_tensors(path: Path, change) -> None:
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


def edit_lines(path: Path, change) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    change(rows)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(max(path.stat().st_size, 64)))


def first_key(tensors, ending=""):
    return next(k for k in sorted(tensors) if k.endswith(ending) and tensors[k].dim() == 2)


def reshape(tensors, ending=""):
    key = first_key(tensors, ending)
    tensors[key] = tensors[key].reshape(-1)[: tensors[key].shape[1]].contiguous().clone()


def retype(tensors):
    key = first_key(tensors)
    tensors[key] = tensors[key].to(torch.float16)


def drop(tensors, key=None):
    del tensors[key or first_key(tensors)]


def move_index(tensors):
    key = next(k for k in sorted(tensors) if k.endswith(".exp_avg"))
    tensors["9999.exp_avg"] = tensors.pop(key)


def set_key(row, key, value):
    row[key] = value
    return row


def drop_key(row, key):
    del row[key]
    return row


def json_set(key, value):
    return lambda path: edit_json(path, lambda row: set_key(row, key, value))


def json_drop(key):
    return lambda path: edit_json(path, lambda row: drop_key(row, key))


def line_set(index, key, value):
    return lambda path: edit_lines(path, lambda rows: set_key(rows[index], key, value))


def line_drop(index, key):
    return lambda path: edit_lines(path, lambda rows: drop_key(rows[index], key))


# (file of the newest checkpoint, damage, how it is done, what the error says)
CHECKPOINT_DAMAGE = [
    ("manifest.json", "truncate", truncate, r"corrupted manifest\.json"),
    ("manifest.json", "garbage", garbage, r"corrupted manifest\.json"),
    (
        "manifest.json",
        "wrong shape []",
        lambda p: p.write_text("[]"),
        r"manifest\.json must map each file name .* got \[\]",
    ),
    (
        "manifest.json",
        "wrong shape null",
        lambda p: p.write_text("null"),
        r"manifest\.json must map each file name .* got null",
    ),
    (
        "manifest.json",
        "wrong types",
        lambda p: edit_json(p, lambda m: {k: 1 for k in m}),
        r"manifest\.json must map each file name",
    ),
    (
        "manifest.json",
        "missing keys {}",
        lambda p: p.write_text("{}"),
        r"manifest\.json does not list \['buffer\.jsonl', 'critic\.safetensors'",
    ),
    (
        "manifest.json",
        "missing keys",
        json_drop("policy.safetensors"),
        r"manifest\.json does not list \['policy\.safetensors'\]",
    ),
    (
        "manifest.json",
        "out of range",
        json_set("../config.json", "0" * 64),
        r"manifest\.json must map each file name",
    ),
    ("state.json", "truncate", truncate, r"state\.json cannot be read"),
    ("state.json", "garbage", garbage, r"state\.json cannot be read"),
    (
        "state.json",
        "wrong shape",
        lambda p: p.write_text("[1, 2]"),
        r"state\.json must hold a JSON object",
    ),
    (
        "state.json",
        "wrong types",
        json_set("iteration", "2"),
        r"state\.json: iteration must be a JSON int, got \"2\"",
    ),
    ("state.json", "missing keys", json_drop("processes"), r"state\.json lacks \['processes'\]"),
    (
        "state.json",
        "missing optimizer",
        json_set("optimizers", {}),
        r"state\.json: buffer_rng must hold 1 generator state\(s\) \(one per process with a "
        r"buffer\) and optimizers the states of",
    ),
    (
        "state.json",
        "out of range -5",
        json_set("iteration", -5),
        r"state\.json: iteration must be at least 0, got -5",
    ),
    (
        "state.json",
        "out of range 99",
        json_set("iteration", 99),
        r"state\.json: iteration must be in \[1, 2\], got 99",
    ),
    (
        "state.json",
        "wrong generator",
        json_set("buffer_rng", [{}]),
        r"state\.json: buffer_rng\[0\] is not a generator state",
    ),
    (
        "state.json",
        "wrong optimizer state",
        lambda p: edit_json(
            p, lambda s: set_key(s, "optimizers", {k: [] for k in s["optimizers"]})
        ),
        r"state\.json: the optimizer state of optimizer_\w+\.safetensors must be",
    ),
    ("policy.safetensors", "truncate", truncate, r"policy\.safetensors cannot be read"),
    ("policy.safetensors", "garbage", garbage, r"policy\.safetensors cannot be read"),
    (
        "policy.safetensors",
        "wrong shape",
        lambda p: edit_tensors(p, reshape),
        r"policy\.safetensors: \S+ is torch.float32 of shape \(\d+,\), expected torch.float32 of",
    ),
    (
        "policy.safetensors",
        "wrong types",
        lambda p: edit_tensors(p, retype),
        r"policy\.safetensors: \S+ is torch.float16 .* expected torch.float32",
    ),
    (
        "policy.safetensors",
        "missing keys",
        lambda p: edit_tensors(p, drop),
        r"policy\.safetensors does not fit the model: missing tensors \['",
    ),
    (
        "critic.safetensors",
        "missing keys",
        lambda p: edit_tensors(p, drop),
        r"critic\.safetensors does not fit the model: missing tensors \['",
    ),
    (
        "optimizer_actor.safetensors",
        "truncate",
        truncate,
        r"optimizer_actor\.safetensors cannot be read",
    ),
    (
        "optimizer_actor.safetensors",
        "wrong shape",
        lambda p: edit_tensors(p, lambda t: reshape(t, ".exp_avg")),
        r"optimizer_actor\.safetensors: \d+\.exp_avg has shape \(\d+,\), expected \(\d+, \d+\)",
    ),
    (
        "optimizer_actor.safetensors",
        "out of range",
        lambda p: edit_tensors(p, move_index),
        r"optimizer_actor\.safetensors: '9999\.exp_avg' is not the state of one of the optimizer's",
    ),
    (
        "rng.safetensors",
        "missing keys",
        lambda p: edit_tensors(p, lambda t: drop(t, "torch_0")),
        r"rng\.safetensors: no torch_0 generator state",
    ),
    (
        "rng.safetensors",
        "wrong shape",
        lambda p: edit_tensors(p, lambda t: t.update(torch_0=t["torch_0"][:10].clone())),
        r"rng\.safetensors: no torch_0 generator state of the expected size",
    ),
    ("buffer.jsonl", "truncate", truncate, r"buffer\.jsonl:\d+: not a buffer transition"),
    (
        "buffer.jsonl",
        "garbage",
        lambda p: p.write_bytes(b"\xff\xfe" + os.urandom(200)),
        r"buffer\.jsonl: not a buffer \(not UTF-8 text",
    ),
    (
        "buffer.jsonl",
        "wrong shape",
        lambda p: p.write_text("[1, 2]\n"),
        r"buffer\.jsonl:1: not a buffer transition: expected the fields",
    ),
    (
        "buffer.jsonl",
        "wrong types",
        line_set(1, "reward", "-1"),
        r"buffer\.jsonl:2: not a buffer transition: expected texts, a finite reward",
    ),
    (
        "buffer.jsonl",
        "missing keys",
        line_drop(0, "done"),
        r"buffer\.jsonl:1: not a buffer transition: expected the fields",
    ),
    (
        "buffer.jsonl",
        "out of range",
        line_set(2, "reward", math.nan),
        r"buffer\.jsonl:3: not a buffer transition: expected texts, a finite reward",
    ),
]


def resume_fails(run: Path, capsys, expected: str) -> None:
    """--resume refuses with one line that matches ``expected`` and changes nothing."""
    before = folder_bytes(run)
    capsys.readouterr()
    assert main([*cli_args(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archer-train: ") and len(err.strip().splitlines()) == 1, err
    assert re.search(expected, err), err
    assert folder_bytes(run) == before


@pytest.mark.parametrize(
    "name, damage, expected",
    [(c[0], c[2], c[3]) for c in CHECKPOINT_DAMAGE],
    ids=[f"{c[0]}-{c[1]}" for c in CHECKPOINT_DAMAGE],
)
def test_a_damaged_checkpoint_file_is_refused_and_nothing_changes(
    run, capsys, name, damage, expected
):
    damage(newest(run) / name)
    if name != checkpoint.MANIFEST:
        sign(newest(run))
    resume_fails(run, capsys, rf"{re.escape(str(newest(run)))}.*{expected}")


METRICS_DAMAGE = [
    ("truncate", lambda p: p.write_text(p.read_text()[:30]), r"metrics\.jsonl:1: not JSON"),
    ("garbage", lambda p: p.write_bytes(b"\xff\xfe" + os.urandom(100)), r"metrics\.jsonl is not"),
    ("wrong shape", lambda p: p.write_text("[1, 2]\n"), r"metrics\.jsonl:1: not a metrics row"),
    ("wrong types", line_set(0, "iteration", "0"), r"metrics\.jsonl:1: not a metrics row"),
    ("missing keys", line_drop(1, "trajectories"), r"metrics\.jsonl:2: not a metrics row"),
]


@pytest.mark.parametrize(
    "damage, expected", [c[1:] for c in METRICS_DAMAGE], ids=[c[0] for c in METRICS_DAMAGE]
)
def test_damaged_metrics_are_refused_and_left_as_they_are(run, capsys, damage, expected):
    damage(run / "metrics.jsonl")
    resume_fails(run, capsys, re.escape(str(run)) + "/" + expected)


def test_resume_without_a_usable_checkpoint_refuses_instead_of_starting_over(run, capsys):
    for manifest in (run / "checkpoints").glob("iter-*/manifest.json"):
        manifest.unlink()
    resume_fails(
        run,
        capsys,
        rf"--resume: {re.escape(str(run))} has no complete checkpoint .*"
        "nothing was changed",
    )
    assert (run / "metrics.jsonl").stat().st_size > 0


def test_an_intact_run_still_resumes(run):
    assert main([*cli_args(run), "--resume"]) == 0


@pytest.mark.parametrize(
    "manifest, expected",
    [
        ("[]", r"manifest\.json must map each file name"),
        ("null", r"manifest\.json must map each file name"),
        ("{}", r"manifest\.json does not list \['policy\.safetensors', 'state\.json'\]"),
    ],
)
def test_loading_a_run_as_an_agent_checks_its_manifest(run, manifest, expected):
    (newest(run) / checkpoint.MANIFEST).write_text(manifest)
    with pytest.raises(ValueError, match=rf"{re.escape(str(newest(run)))}: {expected}"):
        load_policy(run)


@pytest.mark.parametrize("policy", ["/nonexistent/model", "no-such-org/no-such-model", ""])
def test_a_checkpoint_names_no_model_to_download(run, policy):
    edit_json(newest(run) / "state.json", lambda s: set_key(s, "policy", policy))
    sign(newest(run))
    before = folder_bytes(run)
    with pytest.raises(
        ValueError,
        match=rf"state\.json: policy '{re.escape(policy)}' is neither "
        r"a preset \(tiny, gpt2-124m\) nor a model on this machine",
    ):
        load_policy(run)
    assert folder_bytes(run) == before


def test_loading_a_run_as_an_agent_checks_the_weights(run):
    edit_tensors(newest(run) / "policy.safetensors", reshape)
    sign(newest(run))
    with pytest.raises(ValueError, match=r"policy\.safetensors: \S+ is torch.float32 of shape"):
        load_policy(run)
