"""The actor and critic models: PolicyLM, UtteranceCritic, CausalCritic."""

import pytest
import torch

from archer_agents.models import PolicyLM, UtteranceCritic

OBSERVATION = "Questions:\nIs it an animal? No.\nIs it man-made? Yes.\n"


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return PolicyLM("tiny", max_new_tokens=8).eval()


def test_log_probs_are_the_summed_token_log_probabilities(policy):
    action = "Is it a dog?"
    prompt = policy.tokenizer(OBSERVATION)["input_ids"]
    target = policy.tokenizer(action + "\n")["input_ids"]
    with torch.no_grad():
        logits = policy.model(torch.tensor([prompt + target])).logits[0]
        log_probs = torch.log_softmax(logits, -1)
        expected = sum(log_probs[len(prompt) + i - 1, t] for i, t in enumerate(target))
        got = policy.log_probs([OBSERVATION], [action])
    assert got.shape == (1,)
    assert got.item() == pytest.approx(expected.item(), abs=1e-4)


def test_left_padding_does_not_change_log_probs(policy):
    observations = [OBSERVATION, "Questions:\n", OBSERVATION * 3]
    actions = ["Is it a dog?", "Is it big?", "x"]
    with torch.no_grad():
        batched = policy.log_probs(observations, actions)
        pairs = zip(observations, actions, strict=True)
        single = torch.cat([policy.log_probs([o], [a]) for o, a in pairs])
    torch.testing.assert_close(batched, single, atol=1e-4, rtol=1e-4)


def test_an_empty_observation_reads_as_the_start_token(policy):
    # every action token is predicted from something, never from left padding
    actions = ["Is it a dog?", "x"]
    with torch.no_grad():
        batched = policy.log_probs(["", OBSERVATION], actions)
        ids = [policy.tokenizer.eos_token_id] + policy.tokenizer(actions[0] + "\n")["input_ids"]
        log_probs = torch.log_softmax(policy.model(torch.tensor([ids])).logits[0], -1)
        expected = sum(log_probs[i - 1, t] for i, t in enumerate(ids) if i > 0)
        alone = policy.log_probs([OBSERVATION], ["x"])
    assert batched[0].item() == pytest.approx(expected.item(), abs=1e-4)
    torch.testing.assert_close(batched[1:], alone, atol=1e-4, rtol=1e-4)
    assert len(policy.generate(["", OBSERVATION], greedy=True)) == 2


def test_long_histories_are_cut_on_the_left(policy):
    small = PolicyLM("tiny", max_new_tokens=8, max_length=64)
    long_observation = "Questions:\n" + "Is it a dog? No.\n" * 100 + "Is it red? Yes.\n"
    ids, attention, _ = small._sequences([long_observation], ["Is it a cat?"])
    assert ids.shape[1] <= 64
    text = small.tokenizer.decode(ids[0][attention[0] == 1])
    assert text.endswith("Is it red? Yes.\nIs it a cat?\n")
    assert small.generate([long_observation], greedy=True)[0] is not None


def test_generation_is_one_line_and_seeded(policy):
    torch.manual_seed(1)
    first = policy.generate([OBSERVATION] * 4)
    torch.manual_seed(1)
    assert policy.generate([OBSERVATION] * 4) == first
    assert all("\n" not in text for text in first)
    assert policy.generate([OBSERVATION], greedy=True) == policy.generate(
        [OBSERVATION], greedy=True
    )


def test_critic_has_twin_heads_and_a_polyak_target():
    torch.manual_seed(0)
    critic = UtteranceCritic("tiny")
    critic.make_target()
    assert "target" not in " ".join(critic.state_dict())  # the target is not a submodule
    q1, q2 = critic.q([OBSERVATION] * 2, ["Is it a dog?", "Is it red?"])
    v1, v2 = critic.v([OBSERVATION] * 2)
    assert q1.shape == q2.shape == v1.shape == v2.shape == (2,)
    assert not torch.allclose(q1, q2)
    before = {k: v.clone() for k, v in critic.target.state_dict().items()}
    with torch.no_grad():
        for parameter in critic.parameters():
            parameter.add_(1.0)
    critic.update_target(tau=0.1)
    for name, value in critic.target.state_dict().items():
        torch.testing.assert_close(value, before[name] + 0.1 * 1.0, atol=1e-5, rtol=0)


def test_greedy_generation_equals_transformers_generate(policy):
    observations = [OBSERVATION, "Questions:\n", OBSERVATION * 2]
    with torch.no_grad():
        prompts = policy._prompts(observations)
        output = policy.model.generate(
            **prompts,
            max_new_tokens=policy.max_new_tokens,
            eos_token_id=policy.stop_ids,
            pad_token_id=policy.tokenizer.pad_token_id,
            do_sample=False,
        )
    texts = policy.tokenizer.batch_decode(
        output[:, prompts["input_ids"].shape[1] :], skip_special_tokens=True
    )
    assert policy.generate(observations, greedy=True) == [t.split("\n")[0].strip() for t in texts]


def test_sampling_draws_from_the_softmax(policy):
    """The exponential race picks each first token with its softmax probability."""
    small = PolicyLM("tiny", max_new_tokens=1)
    small.load_state_dict(policy.state_dict())
    with torch.no_grad():
        logits = small.model(**small._prompts([OBSERVATION])).logits[0, -1]
        probs = torch.softmax(logits.float(), -1)
    generator = torch.Generator().manual_seed(0)
    draws = small.generate([OBSERVATION] * 4000, generator=generator)
    tokens = [small.tokenizer(text)["input_ids"] for text in draws]
    top = int(probs.argmax())
    seen = sum(ids[:1] == [top] for ids in tokens) / len(draws)
    assert seen == pytest.approx(probs[top].item(), abs=0.02)


def test_a_seeded_policy_agent_samples_the_same_episodes_whatever_torch_did_before(policy):
    from archer_agents.models import PolicyAgent
    from archer_envs.evaluation import evaluate

    def play(seed: int, noise: int) -> list[list[str]]:
        torch.manual_seed(noise)  # other users of torch's global random state
        agent = PolicyAgent(policy, greedy=False, seed=seed)
        result = evaluate(
            agent, "archer/TwentyQuestionsSubset-v0", episodes=6, seed=0, num_envs=3, progress=False
        )
        return [[t["action"] for t in r["transitions"]] for r in result.records]

    first = play(seed=5, noise=0)
    assert play(seed=5, noise=1) == first
    assert play(seed=6, noise=0) != first


def test_rows_are_computed_in_length_chunks_with_the_same_results(policy):
    from archer_agents.models import CausalCritic

    observations = [OBSERVATION * k for k in (3, 0, 1, 5, 2)] * 8  # 40 rows: 3 chunks
    actions = ["Is it a dog?", "Is it big?", "x", "Is it red?", ""] * 8
    critic = CausalCritic(policy)
    with torch.no_grad():
        token, mask = policy.token_log_probs(observations, actions)
        batched = critic.q_and_v(observations, actions)
        for i in (0, 1, 3, 39):
            alone_token, alone_mask = policy._token_log_probs([observations[i]], [actions[i]])
            k = alone_token.shape[1]
            torch.testing.assert_close(token[i, -k:], alone_token[0], atol=1e-4, rtol=1e-4)
            assert mask[i, -k:].equal(alone_mask[0]) and not mask[i, :-k].any()
            alone = critic._q_and_v([observations[i]], [actions[i]])
            for value, single in zip(batched, alone, strict=True):
                assert value[i].item() == pytest.approx(single.item(), abs=1e-4)


def test_causal_critic_reads_s_and_a_in_one_pass_from_the_policy_trunk(policy):
    from archer_agents.models import CausalCritic

    critic = CausalCritic(policy)
    trunk = policy.model.base_model.state_dict()
    assert all(torch.equal(v, trunk[k]) for k, v in critic.trunk.state_dict().items())
    critic.make_target()
    assert not any(k.startswith("target") for k in critic.state_dict())
    observations = [OBSERVATION, "Questions:\n", OBSERVATION * 4]
    actions = ["Is it a dog?", "Is it big?", "Is it a pen or a chair?"]
    with torch.no_grad():
        q1, q2, v1, v2 = critic.q_and_v(observations, actions)
        v1_alone, v2_alone = critic.v(observations)
        q1_other, _, v1_other, _ = critic.q_and_v(observations, ["Is it red?"] * 3)
    torch.testing.assert_close(v1, v1_alone, atol=1e-4, rtol=1e-4)  # V never sees the action
    torch.testing.assert_close(v2, v2_alone, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(v1_other, v1, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(q1, q1_other) and not torch.allclose(q1, q2)
