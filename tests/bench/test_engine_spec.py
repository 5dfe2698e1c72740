"""Grid parsing and the trial seam: what a command line turns into, and the errors it can give."""

from __future__ import annotations

import pytest

from torch_rdrop.bench.engine.axes import parse_names, parse_params, parse_seeds, parse_shots
from torch_rdrop.bench.engine.grid import Grid, GridPoint
from torch_rdrop.bench.engine.spec import TrialResult, TrialSpec, load_backend


@pytest.mark.parametrize(
    ("text", "seeds"),
    [("0-4", (0, 1, 2, 3, 4)), ("0,2,5", (0, 2, 5)), ("5, 0-1 ,1", (0, 1, 5)), ("7", (7,))],
)
def test_seed_ranges(text: str, seeds: tuple[int, ...]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "without empty items, got ''"),
        ("0-", r"'0-' is not an integer >= 0 or a range"),
        ("-3", r"'-3' is not an integer"),
        ("1,,2", "without empty items"),
        ("3-1", r"runs backwards \(3 > 1\)"),
        ("0-4x", r"'0-4x'"),
    ],
)
def test_bad_seed_ranges_name_the_argument(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^seeds: .*{message}"):
        parse_seeds(text)


def test_shots_and_names() -> None:
    assert parse_shots("full,8,16,8") == (8, 16, None)
    with pytest.raises(ValueError, match="shots: 'many' is not an integer >= 1 or 'full'"):
        parse_shots("16,many")
    assert parse_names("all", ("a", "b"), "tasks") == ("a", "b")
    with pytest.raises(ValueError, match=r"tasks: unknown 'x', 'y'; choose from a, b"):
        parse_names("a,x,y", ("a", "b"), "tasks")


def test_params_are_typed_and_scoped() -> None:
    settings = parse_params(["epochs=3", "rdrop.alpha=0.5,2", "flag=true", "name=cnn"])
    by_name = {s.name: s for s in settings}
    assert by_name["epochs"].values == (3,) and by_name["epochs"].method is None
    assert by_name["alpha"].values == (0.5, 2) and by_name["alpha"].method == "rdrop"
    assert by_name["flag"].values == (True,) and by_name["name"].values == ("cnn",)
    with pytest.raises(ValueError, match="unknown method 'rdorp'"):
        parse_params(["rdorp.alpha=1"], methods=("none", "rdrop"))
    with pytest.raises(ValueError, match=r"expected \[METHOD.\]NAME=VALUE"):
        parse_params(["alpha="])


def test_grid_points_drop_settings_a_method_does_not_use() -> None:
    grid = Grid(
        ("digits",),
        ("none", "rdrop"),
        (0, 1),
        (4, None),
        parse_params(["rdrop.alpha=0.5,1,2", "dropout=0.1", "rdrop.dropout=0.3"]),
    )
    points = grid.points()
    # none: 2 seeds x 2 K; rdrop: 2 seeds x 2 K x 3 alphas
    assert len(points) == 4 + 12
    assert len({p.key for p in points}) == len(points)
    none = [p for p in points if p.method == "none"]
    rdrop = [p for p in points if p.method == "rdrop"]
    assert {dict(p.params)["dropout"] for p in none} == {0.1}
    assert {dict(p.params)["dropout"] for p in rdrop} == {0.3}  # a method's own setting wins
    assert {dict(p.params)["alpha"] for p in rdrop} == {0.5, 1, 2}
    assert points[-1].shots is None and points[-1].method == "rdrop"  # full sorts after K=4
    spec = points[0].spec()
    assert (spec.data_seed, spec.init_seed, spec.use_dev) == (0, 0, False)


def test_the_value_default_leaves_a_setting_unset() -> None:
    grid = Grid(
        ("digits",),
        ("none", "rdrop"),
        (0,),
        (4,),
        parse_params(["alpha=2", "rdrop.alpha=default", "rdrop.passes=default,3"]),
    )
    by_method = {(p.method, p.params) for p in grid.points()}
    # rdrop's own `default` removes the general alpha; the passes axis gives an arm at defaults
    assert by_method == {("none", (("alpha", 2),)), ("rdrop", ()), ("rdrop", (("passes", 3),))}


def test_grid_point_keys_are_canonical() -> None:
    a = GridPoint.make("t", "rdrop", 8, 1, {"b": 1, "a": 2})
    b = GridPoint.make("t", "rdrop", 8, 1, {"a": 2, "b": 1})
    assert a == b and a.key == b.key
    assert a.key != GridPoint.make("t", "rdrop", None, 1, {"a": 2, "b": 1}).key


def test_trial_result_checks_its_metric_and_round_trips() -> None:
    with pytest.raises(ValueError, match=r"metric 'f1' is not among the metrics \['accuracy'\]"):
        TrialResult("f1", {"accuracy": 0.5}, {}, 1.0, 1.0, {})
    result = TrialResult("f1", {"f1": 0.25}, {"f1": [0.1, 0.25]}, 2.0, 3.0, {"torch": "x"}, False)
    assert TrialResult.from_json(result.to_json()) == result
    with pytest.raises(ValueError, match="shots must be an integer >= 1 or None"):
        TrialSpec("t", "none", 0, 0, 0)


def test_load_backend_errors() -> None:
    with pytest.raises(ValueError, match="cannot import 'no_such_module_here'"):
        load_backend("no_such_module_here:BACKEND")
    with pytest.raises(ValueError, match="must name a TrialBackend, got function"):
        load_backend("bench.digits:run_digits")
