"""The sample-efficiency study's analysis: threshold crossings, ratios and bounds, the plot,
and the tuning that picks each method's settings."""

import dataclasses

import pytest

from archer_agents.train import make_config
from baselines.benchmarks.sample_efficiency import (
    DIAGNOSTICS,
    VARIANTS,
    analyse,
    choose,
    crossing,
    median_curve,
    plot,
    ratio,
    run_name,
    tuning_table,
    why_table,
)
from baselines.demo import ENV_ID


def point(trajectories, sampled, greedy=None):
    return {
        "trajectories": trajectories,
        "env_steps": 6 * trajectories,
        "train_seconds": trajectories / 10,
        "sampled": sampled,
        "greedy": sampled if greedy is None else greedy,
    }


def run(algo, seed, returns, overrides=None):
    curve = [point(64 * (i + 1), r) for i, r in enumerate(returns)]
    final = {
        kind: {"mean_return": returns[-1], "success_rate": 1.0} for kind in ("sampled", "greedy")
    }
    return {
        "algo": algo,
        "seed": seed,
        "seed_data": algo == "archer",
        "curve": curve,
        "seconds": 1.0,
        "final": final,
        "overrides": overrides or {},
    }


def start(seed, value=-7.0):
    final = {kind: {"mean_return": value, "success_rate": 1.0} for kind in ("sampled", "greedy")}
    return {"seed": seed, "point": point(0, value), "final": final}


def test_crossing_is_the_first_point_at_or_above_the_threshold():
    curve = [point(0, -7), point(64, -5.5), point(128, -4.9), point(192, -6), point(256, -4)]
    assert crossing(curve, "sampled", -5.0) == 128
    assert crossing(curve, "sampled", -5.5) == 64
    assert crossing(curve, "sampled", -3.0) is None


def test_median_curve_takes_the_median_of_every_quantity_point_by_point():
    curves = [[point(0, -7), point(64, v)] for v in (-6, -4, -5)]
    assert median_curve(curves)[1]["sampled"] == -5
    assert median_curve([curves[0], curves[1][:1]]) == [point(0, -7)]  # shortest length


def test_ratio_reports_bounds_when_a_threshold_is_missed():
    assert ratio(512, 128, 1024) == "4.00"
    assert ratio(None, 128, 1024) == "> 8.00"  # a lower bound: the method missed it
    assert ratio(256, None, 1024) == "< 0.25"  # ArCHer missed it
    assert ratio(None, None, 1024) == "-"


def test_analyse_thresholds_crossings_and_ratios(tmp_path):
    starts = [start(0), start(1), start(2)]
    runs = [run("archer", s, [-5.5, -4.0, -3.5]) for s in range(3)]
    runs += [run("ppo", s, [-6.5, -6.0, -5.1 + 0.1 * s]) for s in range(3)]
    result = analyse(
        starts, runs, ["archer", "ppo"], optimum=-3.0, budget=192, fractions=[0.25, 0.5, 0.75]
    )
    assert result["thresholds"]["sampled"] == [-6.0, -5.0, -4.0]
    archer, ppo = result["methods"]["archer"], result["methods"]["ppo"]
    assert archer["reached"]["sampled"] == [64, 128, 128]
    assert ppo["reached"]["sampled"] == [128, 192, None]  # the median (seed 1) reaches −5.0
    assert ppo["reached_per_seed"]["sampled"][1] == [None, 192, 192]
    assert ppo["ratio_to_archer"]["sampled"] == ["2.00", "1.50", "> 1.50"]
    assert ppo["final"]["sampled"] == pytest.approx(-5.0)
    assert archer["gap_to_optimal"]["sampled"] == pytest.approx(0.5)
    plot(result, -3.0, tmp_path / "plot.png", runs)
    assert (tmp_path / "plot.png").stat().st_size > 10_000


def test_every_method_gets_the_same_tuning_budget_of_real_settings():
    assert len({len(variants) for variants in VARIANTS.values()}) == 1
    for algo, variants in VARIANTS.items():
        assert variants[0] == {}  # the preset itself is one of the runs
        assert all(len(v) == 1 for v in variants[1:])  # one change from the preset each
        preset = make_config(algo, "cpu", ENV_ID)
        for variant in variants[1:]:
            ((key, value),) = variant.items()
            assert value != getattr(preset, key)
            assert dataclasses.asdict(make_config(algo, "cpu", ENV_ID, **variant))[key] == value


def test_choose_picks_the_best_area_under_the_sampled_curve():
    runs = [
        run("ppo", 0, [-6.0, -5.0, -3.0]),  # ends highest, learns late: mean -4.67
        run("ppo", 0, [-4.0, -4.0, -4.5], {"lm_lr": 1e-4}),  # mean -4.17
        run("ppo", 0, [-6.0, -6.0, -6.0], {"ppo_epochs": 4}),
        run("grpo", 0, [-5.0, -5.0, -5.0]),
        run("grpo", 0, [-5.0, -5.0, -5.0], {"lm_lr": 3e-4}),
    ]
    chosen = choose(runs)
    assert chosen["ppo"]["overrides"] == {"lm_lr": 1e-4}
    assert [r["score"] for r in chosen["ppo"]["runs"]] == [-4.667, -4.167, -6.0]
    assert chosen["grpo"]["overrides"] == {}  # a tie keeps the earlier: the preset
    assert "| ppo | lm_lr=0.0001 (chosen) | -4.17 |" in tuning_table(chosen)
    assert "| grpo | preset (chosen) |" in tuning_table(chosen)


def test_run_names_say_what_changed_from_the_preset():
    assert run_name("archer", {}) == "archer"
    assert run_name("ppo", {"ppo_epochs": 4, "lm_lr": 1.5e-4}) == "ppo-lm_lr=0.00015-ppo_epochs=4"
    assert run_name("archer", {"buffer_size": 2000}, "bc") == "archer-buffer_size=2000-data=bc"


def test_each_diagnostic_changes_one_thing_of_archer_with_distinct_names():
    preset = make_config("archer", "cpu", ENV_ID)
    names = set()
    for change, data in DIAGNOSTICS.values():
        assert data in ("all", "bc", "none")
        assert len(change) + (data != "all") == 1
        for key, value in change.items():
            assert value != getattr(preset, key)
        names.add(run_name("archer", change, data))
    assert len(names) == len(DIAGNOSTICS)
    critic = {"right_first": 1, "objects": 10, "q_margin": 0.01}
    final = {"sampled": -4.7, "greedy": -3.5}
    row = {"run": "archer", "diagnostic": None, "score": -4.9, "final": final, "critic": critic}
    assert "| archer | -4.90 | -4.70 | -3.50 | 1 of 10 | 0.01 |" in why_table([row])
