"""Several processes through accelerate: two CPU processes launched by torchrun (gloo) keep
identical replicas, share the batch and the rollouts, and write one run directory."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from archer_agents import checkpoint
from archer_agents.train import main

ENV_ID = "archer/TwentyQuestionsSubset-v0"
SMALL = dict(
    iterations=2,
    rollouts_per_iter=6,
    num_envs=3,
    batch_size=8,
    critic_steps=2,
    actor_steps=1,
    warmup_iters=1,
    max_new_tokens=8,
    eval_every=2,
)


def torchrun(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    with socket.socket() as probe:  # a free port for the processes' rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        *args,
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_replicas_stay_identical_and_gradients_are_averaged(tmp_path):
    out = tmp_path / "seen.json"
    worker = Path(__file__).with_name("distributed_worker.py")
    done = torchrun(str(worker), str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = json.loads(out.read_text())
    assert first["start"] == second["start"]  # process 0's weights were broadcast
    assert first["end"] == second["end"]  # and one step each kept them equal
    assert first["end"][:2] != first["start"]  # the step changed them
    assert first["batch"] != second["batch"]  # each process drew its own share of the batch
    assert len(first["batch"]) == 4  # batch_size 8 over two processes
    for own_a, own_b, averaged in zip(first["own"], second["own"], first["averaged"], strict=True):
        assert own_a != own_b
        np.testing.assert_allclose(averaged, (np.array(own_a) + np.array(own_b)) / 2, rtol=1e-6)
    assert first["averaged"] == second["averaged"]


def test_archer_train_under_torchrun_writes_one_run_and_resumes_only_with_as_many(tmp_path, capsys):
    run = tmp_path / "run"
    sets = [f"{k}={json.dumps(v)}" for k, v in SMALL.items()]
    args = [
        "--env",
        ENV_ID,
        "--algo",
        "archer",
        "--seed",
        "0",
        "--out",
        str(run),
        "--quiet",
        "--device",
        "cpu",
        "--set",
        *sets,
    ]
    done = torchrun("-m", "archer_agents.train", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1]  # one line per iteration, not per process
    assert [r["trajectories"] for r in rows] == [6, 12]  # both processes' rollouts count
    assert "eval_return" in rows[-1] and (run / "curve.png").is_file()
    last = checkpoint.latest_checkpoint(run)
    meta = checkpoint.load_meta(last, {"processes": int, "buffer_rng": list})
    assert meta["processes"] == 2
    first_rng, second_rng = meta["buffer_rng"]
    assert first_rng != second_rng
    buffer = [json.loads(x) for x in (last / "buffer.jsonl").read_text().splitlines()]
    assert sum(t["observation"] == "Questions:\n" for t in buffer) == 12  # every episode's start
    assert main([*args, "--resume"]) == 2  # one process cannot continue it
    assert "written by 2 process(es)" in capsys.readouterr().err
