"""The built wheel carries data/ and works from a fresh virtual environment outside the checkout."""

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import gymnasium as gym, archer_envs
from archer_envs.agents import load_agent
from archer_envs.core import data_path
env = gym.make("archer/TwentyQuestions-v0")
agent = load_agent("expert", "archer/TwentyQuestions-v0")
observation, info = env.reset(seed=0)
done = False
while not done:
    observation, reward, terminated, truncated, info = env.step(agent.act([observation])[0])
    done = terminated or truncated
print(archer_envs.__file__)
print(data_path("twenty_questions", "objects.json"))
print(info["success"], info["target"])
"""


def test_wheel_installs_and_plays_an_episode_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dist),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = dist.glob("archer_gym-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        data_files = [n for n in archive.namelist() if n.startswith("archer_envs/data/")]
    assert "archer_envs/data/guess_my_city/cities.json" in data_files
    assert not [n for n in data_files if n.endswith(".py")]  # authoring scripts stay in tools/
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    result = subprocess.run([python, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    module, data, outcome = result.stdout.strip().splitlines()
    assert module.startswith(str(environment)) and data.startswith(str(environment))
    assert outcome.startswith("True ")
