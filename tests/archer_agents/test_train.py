"""archer-train's command line: the algorithms it lists, their config keys, clear errors."""

from __future__ import annotations

import dataclasses

import pytest

from archer_agents.train import ALGORITHMS, main

ENV_ID = "archer/TwentyQuestionsSubset-v0"


def test_help_lists_every_algorithm_and_its_config_keys(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for name, algorithm in {"bc": None, **ALGORITHMS}.items():
        assert f"  {name}: " in text, name
        if algorithm is not None:
            for field in dataclasses.fields(algorithm.config):
                assert f"{field.name}=" in text, (name, field.name)
    assert "epochs=200" in text  # BC's keys are listed too


def test_an_unknown_config_key_is_one_clear_line_naming_the_known_ones(tmp_path, capsys):
    assert (
        main(
            [
                "--env",
                ENV_ID,
                "--algo",
                "bc",
                "--out",
                str(tmp_path / "bc"),
                "--set",
                "iterations=3",
            ]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert "unknown BC config keys ['iterations']" in error and "epochs" in error
    assert not (tmp_path / "bc").exists()  # nothing written


def test_an_offline_algorithm_without_a_dataset_is_refused(tmp_path, capsys):
    offline = [name for name, algorithm in ALGORITHMS.items() if not algorithm.online]
    if not offline:
        pytest.skip("no offline algorithm registered")
    assert main(["--env", ENV_ID, "--algo", offline[0], "--out", str(tmp_path / "run")]) == 2
    assert "--dataset" in capsys.readouterr().err


def test_archer_envs_loads_run_folders_through_the_declared_entry_point():
    """pyproject declares load_trained_agent in archer_envs' loader group, and importing the
    trainer registers it for an install that predates the declaration."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    from archer_agents.train import load_trained_agent
    from archer_envs.agents import _FOLDER_LOADERS, AGENT_LOADER_GROUP

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"][AGENT_LOADER_GROUP]
    assert declared == {"archer-train": "archer_agents.train:load_trained_agent"}
    assert _FOLDER_LOADERS["archer-train"] is load_trained_agent


@pytest.mark.parametrize(
    "env_id", ["archer/GuessMyCity-v0", "archer/Detective-v0", "archer/WebShop-v0"]
)
def test_bc_generates_its_default_data_on_every_env(env_id, tmp_path):
    from archer_agents.train import bc_data
    from archer_envs.datasets import generate_bc_dataset, read_trajectories

    summary = generate_bc_dataset(
        env_id,
        tmp_path / "data.jsonl",
        **{**bc_data(env_id), "episodes": 2},
        num_envs=2,
        progress=False,
    )
    trajectories = list(read_trajectories(tmp_path / "data.jsonl"))
    assert len(trajectories) == 2 and summary["episodes"] == 2
    assert all(t["transitions"] for t in trajectories)
