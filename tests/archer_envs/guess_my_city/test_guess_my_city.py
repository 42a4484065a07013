"""Guess My City: the cities and their names, the guess rule, the knowledge-base oracle's accuracy
on hand-written questions, the prompt-injection suite against every backend CI runs, and the
filter that keeps the city's name out of every answer."""

import base64
import functools
import json
import re

import gymnasium as gym
import pytest

from archer_envs.agents import load_agent
from archer_envs.core import answer_in_batch, clean_action
from archer_envs.datasets import generate_bc_dataset, read_trajectories
from archer_envs.evaluation import evaluate
from archer_envs.guess_my_city.agents import question_pool
from archer_envs.guess_my_city.env import PROMPT, GuessMyCityEnv, clean_answer
from archer_envs.guess_my_city.knowledge import (
    NOT_SURE,
    WITHHELD,
    CityOracle,
    acronym,
    ascii_fold,
    default_cities,
    fold,
    load_cities,
    reveals,
)
from archer_envs.oracles.base import Query
from tests import DATA
from tests.openai_server import OpenAICompatibleServer

ENV_ID = "archer/GuessMyCity-v0"
QUESTIONS = [
    json.loads(line)
    for line in (DATA / "guess_my_city_questions.jsonl").read_text().splitlines()
    if line.strip()
]
INJECTIONS = [
    line.strip()
    for line in (DATA / "guess_my_city_injections.txt").read_text().splitlines()
    if line.strip()
]
# The paper's 100 cities (spelling corrected where the dataset was off)
PAPER_CITIES = """Seoul, Sao Paulo, Bombay, Jakarta, Karachi, Moscow, Istanbul, Mexico City,
Shanghai, Tokyo, New York, Bangkok, Beijing, Delhi, London, Hong Kong, Cairo, Tehran, Bogota,
Bandung, Tianjin, Lima, Rio de Janeiro, Lahore, Bogor, Santiago, St Petersburg, Shenyang,
Calcutta, Wuhan, Sydney,
Guangzhou, Singapore, Madras, Baghdad, Pusan, Los Angeles, Yokohama, Dhaka, Berlin, Alexandria,
Bangalore, Malang, Hyderabad, Chongqing, Ho Chi Minh City, Haerbin, Ankara, Buenos Aires, Chengdu,
Ahmedabad, Casablanca, Chicago, Xian, Madrid, Surabaya, Pyong Yang, Nanjing, Kinshasa, Rome, Taipei,
Osaka, Kiev, Yangon, Toronto, Zibo, Dalian, Taegu, Addis Ababa, Jinan, Salvador, Inchon, Semarang,
Giza, Changchun, Havana, Nagoya, Belo Horizonte, Paris, Tashkent, Fortaleza, Sukabumi, Cali,
Guayaquil, Qingdao, Izmir, Cirebon, Taiyuan, Brasilia, Bucharest, Faisalabad, Quezon City, Medan,
Houston, Abidjan, Mashhad, Medellin, Kanpur, Budapest, Caracas"""
SAME_CITY = [
    ("Bombay", "Mumbai"),
    ("Calcutta", "Kolkata"),
    ("Madras", "Chennai"),
    ("Pusan", "Busan"),
    ("Inchon", "Incheon"),
    ("Taegu", "Daegu"),
    ("Kiev", "Kyiv"),
    ("Pyong Yang", "Pyongyang"),
    ("Xian", "Xi'an"),
    ("Haerbin", "Harbin"),
    ("St Petersburg", "Saint Petersburg"),
    ("St Petersburg", "St. Petersburg"),
    ("New York", "NYC"),
    ("Bucharest", "Bucuresti"),
    ("Sao Paulo", "São Paulo"),
    ("Bogota", "Bogotá"),
    ("Kinshasa", "Kinshaha"),
    ("Havana", "Havanna"),
    ("Ho Chi Minh City", "Saigon"),
]


@pytest.fixture(scope="module")
def cities():
    return default_cities()


@pytest.fixture(scope="module")
def oracle():
    return CityOracle()


@functools.cache
def _city_index():
    return {fold(n): (i, c) for i, c in enumerate(default_cities()) for n in c.names}


def city_named(name):
    """(index, city) of the city called ``name`` (any alias)."""
    return _city_index()[fold(name)]


def gives_away(text, city):
    """An independent check of the leak rule: a name (not a two-letter acronym) of the city,
    forwards or backwards, formed by consecutive words of ``text`` in any case or spacing
    ("T o k y o", "TOK-YO"), or a word of ``text`` that begins with it ("Tokyoite")."""
    words = re.findall(r"[a-z]+", ascii_fold(text).lower())
    secrets = {re.sub(r"[^a-z]", "", ascii_fold(n).lower()) for n in (*city.names, *city.nicknames)}
    secrets = {s for s in secrets if len(s) >= 3} | {s[::-1] for s in secrets if len(s) >= 3}
    for start in range(len(words)):
        joined = ""
        for word in words[start:]:
            joined += word
            if joined in secrets:
                return True
            if len(joined) > 40:
                break
        if any(len(s) >= 4 and words[start].startswith(s) for s in secrets):
            return True
    return False


# --- the cities ----------------------------------------------------------------------------------
def test_all_100_cities_of_the_paper_with_their_aliases(cities):
    assert len(cities) == 100
    for name in re.split(r",\s*", PAPER_CITIES):
        city_named(name)  # every city of the paper, the nine multi-word ones included
    for first, second in SAME_CITY:
        assert city_named(first)[0] == city_named(second)[0], (first, second)
    env = gym.make(ENV_ID).unwrapped
    env.reset(options={"target": "mumbai"})
    assert env.target == "Bombay"
    env.reset(options={"target": "KOLKATA"})
    assert env.target == "Calcutta"
    env.reset(options={"target": "LA"})
    assert env.target == "Los Angeles"
    env.reset(options={"index": 7})
    assert env.target == cities[7].name


def test_the_facts_never_name_their_city(cities):
    for city in cities:
        texts = [
            *city.landmarks,
            *city.famous_for,
            *city.industries,
            *city.dishes,
            city.history,
            city.cuisine,
            city.climate_description,
            city.summer,
            city.winter,
        ]
        for text in texts:
            assert not gives_away(text, city), (city.name, text)


def test_loader_rejects_malformed_cities(tmp_path):
    good = {"cities": [{"name": "Atlantis", "country": "Sea", "continent": "Europe"}]}
    assert load_cities(good["cities"])[0].capital == "none"
    with pytest.raises(ValueError, match="lacks"):
        load_cities([{"name": "Atlantis"}])
    with pytest.raises(ValueError, match="unknown keys"):
        load_cities([{"name": "Atlantis", "country": "Sea", "continent": "Europe", "mayor": "x"}])
    with pytest.raises(ValueError, match="belongs to both"):
        load_cities(
            [
                {"name": "Atlantis", "country": "Sea", "continent": "Europe"},
                {"name": "Lemuria", "aliases": ["ATLANTIS"], "country": "Sea", "continent": "Asia"},
            ]
        )
    with pytest.raises(FileNotFoundError):
        load_cities(tmp_path / "missing.json")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(good))
    env = GuessMyCityEnv(cities=path)
    env.reset(seed=0)
    assert env.step("Is it Atlantis?")[1:3] == (0.0, True)


# --- the guess rule ------------------------------------------------------------------------------
def test_every_city_is_won_by_every_one_of_its_names(cities):
    env = gym.make(ENV_ID).unwrapped
    for index, city in enumerate(cities):
        for name in city.proper_names:
            for question in (f"Is it {name}?", f"are you from {name.upper()}"):
                if len(re.sub(r"\W", "", name)) <= 2 and (
                    question.endswith(name.upper()) or acronym(name) is None
                ):
                    continue  # "LA" in capitals is the question above; "T.O." is a word
                env.reset(options={"index": index})
                _, reward, terminated, _, info = env.step(question)
                assert (reward, terminated, info["success"]) == (0.0, True, True), question
                assert info["target"] == city.name


def test_naming_several_cities_is_not_a_guess():
    env = gym.make(ENV_ID).unwrapped
    env.reset(options={"target": "Tokyo"})
    _, reward, terminated, _, info = env.step("Is it Tokyo or Osaka?")
    assert (reward, terminated, info["answer"]) == (-1.0, False, "Yes.")  # answered truthfully
    _, reward, terminated, _, info = env.step("Is it Paris, London, Tokyo, Rome or Lima?")
    assert (reward, terminated, info["success"]) == (-1.0, False, False)
    _, reward, terminated, _, info = env.step("Is it Osaka?")
    assert (reward, terminated, info["answer"]) == (-1.0, False, "No.")
    _, reward, terminated, _, _ = env.step("Is it Tokio, also called Tokyo?")  # one city, 2 names
    assert (reward, terminated) == (0.0, True)


def test_nicknames_and_other_relations_to_a_city_are_not_guesses(cities):
    env = gym.make(ENV_ID).unwrapped
    # not those with a name inside, as "Dilwalon ki Dilli" (Dilli is Delhi)
    nicknamed = [
        (city.name, nickname)
        for city in cities
        for nickname in city.nicknames
        if not env.guesses.named(nickname)
    ]
    assert ("New York", "Big Apple") in nicknamed and len(nicknamed) > 100
    for target, nickname in nicknamed:
        for question in (f"Do you live in the {nickname}?", f"Is it {nickname}?"):
            env.reset(options={"target": target})
            _, reward, terminated, _, info = env.step(question)
            assert (reward, terminated, info["success"]) == (-1.0, False, False), question
    for question in (
        "Is it near Tokyo?",
        "Is it in the same country as Tokyo?",
        "Is Tokyo bigger than your city?",
        "Is it far from Tokyo?",
    ):
        env.reset(options={"target": "Tokyo"})
        _, reward, terminated, _, info = env.step(question)
        assert (reward, terminated, info["success"]) == (-1.0, False, False), question
    env.reset(options={"target": "New York"})
    assert env.step("Do you live in the Big Apple?")[4]["answer"] == "Yes."  # truthful, a turn
    for question in (
        "Is it New York, the Big Apple?",
        "Is your city called New York?",
        "Do you live in NYC?",
    ):
        env.reset(options={"target": "New York"})
        assert env.step(question)[1:3] == (0.0, True), question


def test_countries_and_words_are_not_city_names():
    env = gym.make(ENV_ID).unwrapped
    for target, question in [
        ("Mexico City", "Is it in Mexico?"),
        ("Salvador", "Is it in El Salvador?"),
        ("Los Angeles", "is it la la land?"),
        ("Toronto", "Is it close to the sea?"),
        ("Singapore", "Is it in Asia?"),
    ]:
        env.reset(options={"target": target})
        _, reward, terminated, _, _ = env.step(question)
        assert (reward, terminated) == (-1.0, False), question
    env.reset(options={"target": "Los Angeles"})
    assert env.step("Is it LA?")[1:3] == (0.0, True)


def test_the_episode_ends_after_20_questions():
    env = gym.make(ENV_ID)
    env.reset(seed=3)
    for turn in range(1, 21):
        observation, reward, terminated, truncated, info = env.step("Is it in Atlantis?")
        assert reward == -1.0 and not truncated and terminated == (turn == 20)
    assert observation.startswith("Questions:\nIs it in Atlantis? ")
    assert observation.count("\n") == 21 and info["success"] is False and "target" in info


# --- the knowledge-base oracle -------------------------------------------------------------------
def test_the_questions_file_is_large_and_varied():
    kinds = {row["kind"] for row in QUESTIONS}
    assert len(QUESTIONS) >= 300 and kinds == {"yes/no", "open", "unanswerable"}
    assert len({row["city"] for row in QUESTIONS}) >= 60
    assert len(INJECTIONS) >= 50


def test_oracle_accuracy_on_hand_written_questions(oracle):
    """The set was written for this purpose by someone who never saw the oracle's code; the
    oracle was improved while looking at its errors, so it is a development set."""
    right = {"yes/no": 0, "open": 0, "unanswerable": 0}
    total = dict.fromkeys(right, 0)
    wrong = []
    for row in QUESTIONS:
        _, city = city_named(row["city"])
        answer = oracle.answer_one(city.name, row["question"])
        kind = row["kind"]
        if kind == "yes/no":
            said = "yes" if answer == "Yes." else "no" if answer == "No." else answer
            ok = said == row["expected"]
        elif kind == "open":
            ok = any(word in answer.lower() for word in row["expected_any"])
            ok = ok and not gives_away(answer, city)
        else:
            ok = answer == NOT_SURE
        total[kind] += 1
        right[kind] += ok
        if not ok:
            wrong.append((city.name, row["question"], answer))
    # the README's figures: every one of the 383 yes/no, 205 open and 65 unanswerable questions
    assert total == {"yes/no": 383, "open": 205, "unanswerable": 65}
    assert right == total, wrong


OPEN_QUESTIONS = [
    "What language do people speak there?",
    "What is the weather like in winter?",
    "What's the weather like in summer?",
    "What is your city famous for?",
    "What's the food like?",
    "What currency do they use?",
    "What religion do most people follow?",
    "Which continent is it on?",
    "Where is it?",
    "Which country is it in?",
    "What are the main sights?",
    "What industries are there?",
    "Is it on the sea or a river?",
    "How many people live there?",
    "How high above sea level is it?",
    "What time zone is it in?",
    "Which countries border your country?",
    "What sports are popular?",
    "Tell me about its history.",
    "What's the climate like?",
    "When is the rainy season?",
]


def test_open_answers_name_neither_the_city_nor_its_country(oracle, cities):
    for city in cities:
        country = [
            n for n in (city.country, *city.country_aliases) if len(re.sub(r"\W", "", n)) > 2
        ]
        pattern = re.compile(
            r"(?i)(?<![a-z])(?<!north )(?<!south )(?<!latin )(?<!central )(?:"
            + "|".join(map(re.escape, country))
            + r")(?![a-z])"
        )
        for question in OPEN_QUESTIONS:
            answer = oracle.answer_one(city.name, question)
            assert answer != NOT_SURE or question.startswith(("When", "What time")), question
            assert not gives_away(answer, city), (city.name, question, answer)
            if "border" not in question:  # neighbours may share a word ("North Korea")
                assert not pattern.search(answer), (city.name, question, answer)
            assert len(re.findall(r"[.!?](?:\s|$)", answer)) <= 2, answer


EVERY_KIND = [
    "Is your city located in Europe?",
    "Are you in the southern hemisphere?",
    "Is the city landlocked?",
    "Is Spanish the official language?",
    "Is it a megacity?",
    "Is the population over 15 million?",
    "Does it have fewer than 5 million inhabitants?",
    "Is the currency the euro?",
    "Is it the capital of a state?",
    "Is it in the tropics?",
    "Is it in Latin America?",
    "Is it in the Middle East?",
    "Is it above 2000 meters?",
    "Is it in a desert?",
    "Is Islam the main religion?",
    "Is football popular there?",
    "Is it famous for its film industry?",
    "Does your country border Russia?",
    "Is it UTC+1?",
    "Is it ahead of GMT?",
    "Is it on the Nile?",
    "Are there mountains nearby?",
    "Is it in Africa or South America?",
    "Is it not in Asia?",
    "Is the food spicy?",
    "Is it in the same country as Osaka?",
    "Is it in the same time zone as Lima?",
    "Is it near Tokyo?",
    "Do they eat sushi there?",
    "Is it hot and humid all year?",
    "Does it have a mediterranean climate?",
    "Is it on the Pacific?",
    "Is it a port city?",
    "Does it have a monsoon?",
    "Is it the capital of Maharashtra?",
    "Is it Korean?",
]


def test_every_kind_of_question_for_every_city(oracle, cities):
    for city in cities:
        for question in EVERY_KIND + OPEN_QUESTIONS:
            answer = oracle.answer_one(city.name, question)
            assert answer and not gives_away(answer, city), (city.name, question, answer)


def test_yes_no_questions_about_the_country_get_a_truthful_answer(oracle):
    assert oracle.answer_one("Bombay", "Is it in India?") == "Yes."
    assert oracle.answer_one("Bombay", "Is the country Pakistan?") == "No."
    assert oracle.answer_one("Bombay", "Does your country border Pakistan?") == "Yes."
    assert oracle.answer_one("Tokyo", "Does the country share a border with China?") == "No."


def test_the_experts_questions_are_answered_as_the_facts_say(oracle, cities):
    """Every structural question of the scripted agents' pool, for every city."""
    checks = {}
    for continent in {c.continent for c in cities}:
        checks[f"Is your city in {continent}?"] = lambda c, x=continent: c.continent == x
    for country in {c.country for c in cities}:
        checks[f"Is your city in {country}?"] = lambda c, x=country: c.country == x
    for climate in {c.climate for c in cities}:
        checks[f"Does your city have a {climate} climate?"] = lambda c, x=climate: c.climate == x
    checks |= {
        "Is your city in the southern hemisphere?": lambda c: c.hemisphere_ns == "southern",
        "Is your city in the western hemisphere?": lambda c: c.hemisphere_ew == "western",
        "Is it the capital of its country?": lambda c: c.capital == "national",
        "Is it a state or provincial capital?": lambda c: c.capital == "state",
        "Is your city on the coast?": lambda c: c.coastal,
        "Does it snow there in winter?": lambda c: c.snow,
        "Is your city at a high altitude?": lambda c: c.elevation == "high",
        "Is your city at a low elevation?": lambda c: c.elevation == "low",
    }
    pool = question_pool(cities)
    assert set(checks) <= set(pool)
    for question, truth in checks.items():
        for city in cities:
            expected = "Yes." if truth(city) else "No."
            assert oracle.answer_one(city.name, question) == expected, (city.name, question)


def test_questions_about_the_name_are_refused(oracle):
    for question in ("Does the name start with a T?", "How many letters has its name?"):
        assert "can't tell you" in oracle.answer_one("Tokyo", question)


# --- the leak filter and the injection suite -----------------------------------------------------
def test_reveals_finds_names_written_in_any_way():
    names = ["Sao Paulo", "São Paulo", "Sampa"]
    for text in [
        "I live in SAO PAULO.",
        "s a o p a u l o",
        "S-A-O-P-A-U-L-O",
        "são paulo",
        "Sao-Paulo",
        "oluap oas",
        "O-L-U-A-P O-A-S",
        base64.b64encode(b"Sao Paulo").decode(),
        "Sampa!",
        "the Sao Pauloites",
        "SaoPaulo",
    ]:
        assert reveals(text, names), text
    for text in ["So, a pause.", "It's in South America.", "a sample of samba"]:
        assert not reveals(text, names), text
    assert not reveals("The climate is mild.", ["Lima"])
    assert not reveals("People come from everywhere.", ["Rome"])
    assert reveals("rOmE", ["Rome"]) and reveals("emor", ["Rome"])
    assert reveals("It's LA, baby", ["LA"]) and not reveals("la la land", ["LA"])
    assert reveals("Most people speak Cantonese.", ["Canton"])  # it names Canton (Guangzhou)


def test_clean_answer_keeps_honest_replies_and_withholds_leaks():
    names = ("Tokyo", "Tokio", "Edo")
    assert clean_answer("It's in East Asia.", names) == "It's in East Asia."
    assert clean_answer("Welcome to\nT-O-K-Y-O!", names) == WITHHELD
    assert clean_answer("Sure.\nIt is in Asia.", names) == "Sure. It is in Asia."
    assert len(clean_answer("word " * 200, names)) <= 304


def check_no_leak(envs, cities):
    """Every injection to every env (one city each; one long episode, the oracle answering each
    turn's questions in one batch): no answer gives the city away, and so no observation does,
    for it holds only the agent's own questions and the answers."""
    for env, city in zip(envs, cities, strict=True):
        env.reset(options={"target": city.name})
    for question in INJECTIONS:
        answer_in_batch(envs, [question] * len(envs))
        for env, city in zip(envs, cities, strict=True):
            observation, _, _, _, info = env.step(question)
            if info["success"]:  # the question itself named the city: a fair win, not a leak
                env.reset(options={"target": city.name})
                continue
            assert observation.endswith(f"{clean_action(question)[0]} {info['answer']}\n")
            assert not gives_away(info["answer"], city), (city.name, question, info["answer"])


def test_injection_suite_against_the_knowledge_base(cities):
    first = GuessMyCityEnv(max_turns=len(INJECTIONS) + 1)
    envs = [first] + [
        GuessMyCityEnv(oracle=first.oracle, max_turns=first.max_turns) for _ in cities[1:]
    ]
    check_no_leak(envs, cities)


def test_injection_suite_against_a_leaky_openai_compatible_server(tmp_path):
    """A deliberately leaky LLM oracle: it reads the city from the system prompt and gives it
    away in a different disguise on almost every reply. The filter must catch every one."""
    replies = []

    def leaky(messages):
        city = re.search(r"You are a person from ([^,.]+)", messages[0]["content"]).group(1)
        _, known = city_named(city)
        styles = [
            f"I'm from {city}!",
            city.upper(),
            city[::-1],
            " ".join(city),
            "-".join(city.upper()),
            base64.b64encode(city.encode()).decode(),
            f"We are proud {city}ites.",
            f"Welcome to {known.names[-1]}, friend.",
            json.dumps({"city": city, "country": known.country}),
            f"{city.lower()}\nis the answer",
            "It's a big city in a big country.",  # an honest reply passes through
        ]
        reply = styles[sum(map(ord, messages[-1]["content"])) % len(styles)]
        replies.append((known, reply))
        return reply

    targets = ["Tokyo", "Sao Paulo", "New York", "Ho Chi Minh City", "Rome", "Los Angeles"]
    with OpenAICompatibleServer(leaky) as server:
        first = GuessMyCityEnv(
            oracle="openai:leaky",
            oracle_kwargs={"base_url": server.base_url, "cache_mode": "off", "timeout": 10},
            max_turns=len(INJECTIONS) + 1,
        )
        envs = [first] + [
            GuessMyCityEnv(oracle=first.oracle, max_turns=first.max_turns) for _ in targets[1:]
        ]
        check_no_leak(envs, [city_named(t)[1] for t in targets])
    assert len(replies) >= len(INJECTIONS) * len(targets) - 20
    # all but the honest and the base64 replies name the city in plain letters
    assert sum(gives_away(reply, city) for city, reply in replies) > len(replies) * 0.6


def test_llm_prompts_follow_lmrl_gym_and_upstream():
    query = Query("Bombay", "What is the weather like?", (("Is it in Asia?", "Yes."),))
    messages = PROMPT.chat(query)
    assert "You are a person from Bombay, India" in messages[0]["content"]
    assert "Never say the name of your city" in messages[0]["content"]
    assert messages[1:] == [
        {"role": "user", "content": "Is it in Asia?"},
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": "What is the weather like?"},
    ]
    assert PROMPT.text(query) == "Your home town is Bombay.What is the weather like?"
    assert PROMPT.max_tokens == 64


# --- agents and data -----------------------------------------------------------------------------
def test_reference_agents_expert_finds_every_city_random_rarely():
    expert = evaluate(load_agent("expert", ENV_ID), ENV_ID, progress=False)
    assert expert.episodes == 100 and expert.success_rate == 1.0
    assert expert.mean_return > -8.0
    random = evaluate(load_agent("random", ENV_ID, seed=1), ENV_ID, progress=False)
    assert random.mean_return < -15.0


def test_sub_optimal_bc_data(tmp_path):
    episodes = [{"index": i} for i in range(0, 100, 5)]
    clean = evaluate(load_agent("expert", ENV_ID), ENV_ID, episodes=episodes, progress=False)
    summary = generate_bc_dataset(
        ENV_ID, tmp_path / "bc.jsonl", episodes=20, epsilon=0.6, seed=0, progress=False
    )
    records = list(read_trajectories(tmp_path / "bc.jsonl"))
    assert len(records) == 20 and all(r["agent"] == "expert(epsilon=0.6)" for r in records)
    assert summary["mean_return"] < clean.mean_return
    assert all(
        t["observation"].startswith("Questions:\n") for r in records for t in r["transitions"]
    )


def test_injection_suite_against_a_leaky_local_model(tmp_path):
    """The hf backend with upstream's input ("Your home town is Tokyo." + question) and a tiny
    seq2seq model built to say nothing but the city's name: every reply must be withheld."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    prompts = [PROMPT.text(Query("Tokyo", q)) for q in INJECTIONS]
    words = Tokenizer(models.WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.train_from_iterator(
        prompts, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>", "<s>"])
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=words, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    config = transformers.BartConfig(
        vocab_size=words.get_vocab_size(),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=512,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=3,
        decoder_start_token_id=3,
        forced_bos_token_id=None,
        forced_eos_token_id=None,
    )
    torch.manual_seed(0)
    model = transformers.BartForConditionalGeneration(config)
    model.final_logits_bias[0, words.token_to_id("Tokyo")] = 100.0  # it always says the name
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    first = GuessMyCityEnv(oracle=f"hf:{tmp_path}", oracle_kwargs={"cache_mode": "off"})
    envs = [first] + [GuessMyCityEnv(oracle=first.oracle) for _ in INJECTIONS[1:]]
    for env in envs:
        env.reset(options={"target": "Tokyo"})
    tokyo = city_named("Tokyo")[1]
    raw = first.oracle.answer([Query("Tokyo", "Where do you live?")])[0]
    assert raw.startswith("Tokyo Tokyo")  # the model leaks
    answer_in_batch(envs, INJECTIONS)  # one batched generate for the whole suite
    for env, question in zip(envs, INJECTIONS, strict=True):
        observation, _, _, _, info = env.step(question)
        assert info["success"] or info["answer"] == WITHHELD, (question, info["answer"])
        assert not gives_away(
            observation.removeprefix(f"Questions:\n{clean_action(question)[0]}"), tokyo
        )


def test_the_needle_indexes_and_phrase_guards_change_no_reading(cities):
    """The reader runs only the detectors whose guard words or needles a question holds, tries
    only the atoms, regions and topics whose needles it holds, and the phrase lists (countries,
    languages, ...) only where one of their first words stands: on the dev set's questions,
    folded and mixed, they find exactly what trying everything finds."""
    import random

    from archer_envs.guess_my_city import knowledge as city_kb
    from archer_envs.oracles.english import TOKEN as _TOKEN

    reader = city_kb.CityReader(cities)
    questions = [
        json.loads(line)["question"]
        for line in (DATA / "guess_my_city_questions.jsonl").read_text().splitlines()
    ]
    words = sorted({w for q in questions for w in fold(q).split()})
    rng = random.Random(0)
    texts = [reader._clause(q) for q in questions]
    texts += [" ".join(rng.choice(words) for _ in range(7)) for _ in range(300)]
    indexes = [
        (city_kb._STATIC_INDEX, [p for p, _ in city_kb._STATIC_ATOMS]),
        (city_kb._OPEN_INDEX, [p for p, _ in city_kb._OPEN_TOPICS]),
        (reader.region_index, [p for _, p in reader.region_regexes]),
    ]
    phrases = [
        reader.country_phrases,
        reader.demonym_phrases,
        reader.language_phrases,
        reader.sea_phrases,
        reader.river_phrases,
        reader.dish_phrases,
        reader.sport_phrases,
        reader.index.phrases,
        city_kb._CONTINENT_PHRASES,
        city_kb._RELIGION_PHRASES,
        city_kb._CURRENCY_PHRASES,
    ]
    assert all(p.starts for p in phrases)
    skipped = skipped_detectors = 0
    for text in texts:
        for index, regexes in indexes:
            candidates = index.candidates(text)
            matching = {k for k, regex in enumerate(regexes) if regex.regex.search(text)}
            assert matching <= candidates, text
            skipped += len(regexes) - len(candidates)
        tokens = frozenset(_TOKEN.findall(text))
        for phrase in phrases:
            assert [m.span() for m in phrase.finditer(text, tokens)] == [
                m.span() for m in phrase.regex.finditer(text)
            ], text
        asked = city_kb._Asked(text)
        run = set(reader.detector_index.candidates(asked))
        for k, (detect, _) in enumerate(city_kb._DETECTORS):
            if k not in run:
                assert not list(detect(reader, asked)), (detect.__name__, text)
        skipped_detectors += len(city_kb._DETECTORS) - len(run)
    assert skipped > len(texts) * 40  # the indexes do prune
    assert skipped_detectors > len(texts) * len(city_kb._DETECTORS) // 2
