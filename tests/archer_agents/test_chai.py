"""CHAI: best-of-k picks the critic's argmax among its own candidates, the critic learns with
the actor frozen and lifts a weak start, seeded trainers match, a run folder is its agent."""

import torch
from safetensors.torch import load_file
from torch import nn

from archer_agents import checkpoint
from archer_agents.chai import CHAI, BestOfKAgent, CHAIConfig, best_of_k
from archer_agents.models import PolicyAgent, PolicyLM
from archer_agents.rollout import make_vector_env
from archer_agents.train import load_trained_agent, train_run
from archer_envs.evaluation import evaluate
from tests.archer_agents.test_filtered_bc import DOG, DOG_ID, ENV_ID, weak_policy, weights

SMALL = dict(
    iterations=1,
    rollouts_per_iter=4,
    num_envs=4,
    batch_size=8,
    critic_steps=2,
    critic_warmup_steps=0,
    max_new_tokens=4,
    eval_every=1,
)


class TextCritic(nn.Module):
    """Q1 = characters, Q2 = 1.5 × distinct characters of the utterance (so that the min is
    sometimes one head, sometimes the other); remembers every batch it scored."""

    def __init__(self, target=None):
        super().__init__()
        self.zero = nn.Parameter(torch.zeros(()))  # something for the optimizer
        self.target, self.seen = target, []

    @property
    def device(self) -> torch.device:
        return self.zero.device

    def q(self, observations, actions):
        self.seen.append((list(observations), list(actions)))
        return (
            torch.tensor([float(len(a)) for a in actions]) + self.zero,
            torch.tensor([1.5 * len(set(a)) for a in actions]) + self.zero,
        )


def argmax_of_seen(critic: TextCritic, k: int) -> list[str]:
    """What best-of-k must have said: per observation, its k candidates' argmax of min(Q1, Q2),
    the first on ties, from the batch the critic was last shown."""
    _, candidates = critic.seen[-1]
    chosen = []
    for i in range(len(candidates) // k):
        options = candidates[i * k : (i + 1) * k]
        values = [min(len(a), 1.5 * len(set(a))) for a in options]
        chosen.append(options[max(range(k), key=lambda j: (values[j], -j))])
    return chosen


def test_best_of_k_says_the_critics_argmax_among_its_k_samples():
    torch.manual_seed(0)
    policy = PolicyLM("tiny", max_new_tokens=6)  # untrained: k very different candidates
    critic = TextCritic()
    observations = ["Questions:\n", "Questions:\nIs it big? No.\n", "Questions:\n"]
    said = best_of_k(policy, critic, observations, k=5)
    asked, candidates = critic.seen[-1]
    assert asked == [o for o in observations for _ in range(5)] and len(set(candidates)) > 5
    assert said == argmax_of_seen(critic, 5)
    values = [min(len(a), 1.5 * len(set(a))) for a in candidates]
    assert said != [candidates[5 * i] for i in range(3)] and max(values) > min(values)
    # greedy: the greedy utterance is the first candidate of each, k − 1 samples follow
    greedy = policy.generate(observations, greedy=True)
    said = best_of_k(policy, critic, observations, k=4, greedy=True)
    assert critic.seen[-1][1][::4] == greedy and said == argmax_of_seen(critic, 4)
    assert best_of_k(policy, critic, observations, k=1, greedy=True) == greedy
    # the agent skips finished episodes; a seeded agent says the same again
    agent = BestOfKAgent(policy, critic, k=3, greedy=False, seed=7)
    first = agent.act([None, "Questions:\n", None])
    assert first[0] is None and first[2] is None and first[1] == argmax_of_seen(critic, 3)[0]
    assert (
        BestOfKAgent(policy, critic, k=3, greedy=False, seed=7).act([None, "Questions:\n", None])
        == first
    )


def test_chai_acts_and_values_by_best_of_k_under_its_target_critic():
    torch.manual_seed(0)
    online = TextCritic(target=TextCritic())
    config = CHAIConfig.preset("cpu", ENV_ID, **SMALL)
    trainer = CHAI(config, PolicyLM("tiny", max_new_tokens=6), online, seed=0)
    observations = ["Questions:\n", "Questions:\nIs it red? No.\n"]
    said = trainer.rollout_agent().act(observations)
    assert said == argmax_of_seen(online.target, 5) and not online.seen
    assert trainer.policy_actions(observations) == argmax_of_seen(online.target, 5)
    assert set(trainer.optimizers()) == {"critic"}


def agent_returns(agent) -> float:
    return evaluate(
        agent, ENV_ID, episodes=32, num_envs=16, env_kwargs=DOG, progress=False
    ).mean_return


def test_chai_improves_a_weak_start_with_its_actor_frozen():
    policy = weak_policy()
    start = weights(policy)
    start_sampled = agent_returns(PolicyAgent(policy, greedy=False, seed=0))  # about -2.9
    torch.manual_seed(0)
    config = CHAIConfig.preset(
        "cpu",
        ENV_ID,
        rollouts_per_iter=16,
        num_envs=16,
        batch_size=16,
        critic_steps=5,
        critic_lr=1e-3,
        gamma=0.9,
        max_new_tokens=8,
    )
    trainer = CHAI(config, policy, seed=0)
    envs = make_vector_env(ENV_ID, 16, **DOG)
    rows = [trainer.iteration(envs, i, seed=i, progress=False) for i in range(3)]
    assert all(torch.equal(start[k], v) for k, v in weights(policy).items())  # actor frozen
    sampled = agent_returns(trainer.agent(greedy=False, seed=0))
    greedy = agent_returns(trainer.agent(greedy=True, seed=0))
    # here: -2.8 sampled at the start; rollouts -2.6, -1.1, -1.3; CHAI -0.9 sampled, -1.4 greedy
    assert sampled > start_sampled + 1.2 and rows[-1]["rollout_return"] > start_sampled + 0.8
    assert greedy > -2.0  # the start's greedy utterance alone returns -4


def test_two_seeded_chai_trainers_match():
    def run():
        torch.manual_seed(0)
        trainer = CHAI(
            CHAIConfig.preset("cpu", ENV_ID, **SMALL), PolicyLM("tiny", max_new_tokens=4), seed=3
        )
        envs = make_vector_env(ENV_ID, 4, **DOG)
        rows = [trainer.iteration(envs, i, seed=10 + i, progress=False) for i in range(2)]
        return rows, weights(trainer.critic)

    (rows, critic), (again, critic_again) = run(), run()
    drop = lambda rs: [{k: v for k, v in r.items() if k != "trajectories"} for r in rs]  # noqa: E731
    assert drop(rows) == drop(again)
    assert [t["transitions"] for r in rows for t in r["trajectories"]] == [
        t["transitions"] for r in again for t in r["trajectories"]
    ]
    assert all(torch.equal(critic[k], critic_again[k]) for k in critic)


def test_a_chai_run_folder_loads_as_its_best_of_k_agent(tmp_path):
    config = CHAIConfig.preset("cpu", ENV_ID, **SMALL)
    rows = train_run(DOG_ID, tmp_path / "chai", config, "chai", seed=0, progress=False)
    assert "eval_sampled_return" in rows[-1]
    found = checkpoint.latest_checkpoint(tmp_path / "chai")
    assert (found / "optimizer_critic.safetensors").is_file()
    assert not (found / "optimizer_actor.safetensors").exists()
    # its checkpoint restores (the critic's optimizer alone): resuming the finished run
    assert (
        train_run(DOG_ID, tmp_path / "chai", config, "chai", seed=0, resume=True, progress=False)
        == rows
    )
    agent = load_trained_agent(str(tmp_path / "chai"))
    assert isinstance(agent, BestOfKAgent) and agent.k == 5 and agent.greedy
    saved = load_file(found / "critic_target.safetensors")
    loaded = agent.critic.state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert evaluate(agent, DOG_ID, episodes=2, progress=False).episodes == 2
