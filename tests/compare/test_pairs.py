"""aqnet.compare.pairs: which groups are compared, by baseline or by selectors, and the one-line errors of a
selector that picks no group or several."""

from __future__ import annotations

import pandas as pd
import pytest

from aqnet.compare import pairs
from aqnet.compare.analysis import NOT_APPLICABLE
from aqnet.compare.runs import group_label
from aqnet.errors import AqnetError


def test_pairs_match_the_other_keys() -> None:
    groups = [("none", "parallel"), ("topoflow", "parallel"), ("none", "serial"), ("topoflow", "serial")]
    groups += [("adaptive", "wind_scan")]  # no baseline with embed=wind_scan: no pair
    runs = pd.DataFrame(groups, columns=["physics_bias", "embed"])
    runs["group"] = [f"physics_bias={p}, embed={e}" for p, e in groups]
    assert pairs.baseline_pairs(runs, ["physics_bias", "embed"], "none") == [
        ("physics_bias=topoflow, embed=parallel", "physics_bias=none, embed=parallel"),
        ("physics_bias=topoflow, embed=serial", "physics_bias=none, embed=serial"),
    ]


def test_a_key_the_baseline_lacks_matches_every_value() -> None:
    """physics_bias=none has no direction or control (n/a): each TopoFlow variant is compared with it, while an
    exact match wins where one exists."""
    na = NOT_APPLICABLE
    groups = [("none", na, na), ("topoflow", "up", "None"), ("topoflow", "down", "shuffled"), ("none", "up", "None")]
    runs = pd.DataFrame(groups, columns=["physics_bias", "direction", "control"])
    runs["group"] = ["/".join(g) for g in groups]
    assert pairs.baseline_pairs(runs, ["physics_bias", "direction", "control"], "none") == [
        ("topoflow/up/None", "none/up/None"),
        ("topoflow/down/shuffled", f"none/{na}/{na}"),
    ]


LABELS = ["physics_bias", "physics_bias.control"]
ARMS = [("none", NOT_APPLICABLE), ("topoflow", "None"), ("topoflow", "shuffled_elevation"), ("adaptive", "None")]
RUNS = pd.DataFrame(ARMS, columns=LABELS).assign(group=[group_label(LABELS, arm) for arm in ARMS])
TOPOFLOW, SHUFFLED = "physics_bias=topoflow, control=None", "physics_bias=topoflow, control=shuffled_elevation"


def test_two_arms_compare_directly_by_any_selector() -> None:
    specs = [
        ["topoflow,control=None", "physics_bias.control=shuffled_elevation"],  # short or full key names
        [SHUFFLED, "none"],  # a printed group label selects its group
        ["topoflow,control=None", "control=shuffled_elevation"],  # a repeat is dropped
        ["adaptive", "topoflow,control=None"],
    ]
    assert pairs.explicit_pairs(RUNS, LABELS, specs) == [
        (TOPOFLOW, SHUFFLED),
        (SHUFFLED, f"physics_bias=none, control={NOT_APPLICABLE}"),
        ("physics_bias=adaptive, control=None", TOPOFLOW),
    ]


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        (["shuffled", "none"], ["--pair 'shuffled' 'none': 'shuffled' matches no group; the groups are:", TOPOFLOW]),
        (["topoflow", "none"], ["'topoflow' matches 2 groups", SHUFFLED, "add key=value items"]),
        (["wind=up", "none"], ["'wind' is not a --by key (physics_bias, physics_bias.control)"]),
        (["adaptive", "control=None,physics_bias=adaptive"], ["both select physics_bias=adaptive, control=None"]),
    ],
    ids=["no-match", "ambiguous", "unknown-key", "same-group"],
)
def test_a_bad_pair_is_one_clear_error(spec: list[str], fragments: list[str]) -> None:
    with pytest.raises(AqnetError) as caught:
        pairs.explicit_pairs(RUNS, LABELS, [spec])
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


GROUPS = pd.DataFrame(
    [("none", "n/a"), ("topoflow", "up"), ("topoflow", "down"), ("adaptive", "up")], columns=["bias", "direction"]
).assign(group=lambda f: f["bias"] + "/" + f["direction"])
PAIRS = [("topoflow/up", "none/n/a"), ("topoflow/down", "none/n/a"), ("adaptive/up", "none/n/a")]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (None, ["topoflow/up", "topoflow/down", "adaptive/up"]),
        (["topoflow"], ["topoflow/up", "topoflow/down"]),
        (["bias=topoflow,direction=down"], ["topoflow/down"]),
        (["direction=up", "topoflow"], ["topoflow/up", "adaptive/up", "topoflow/down"]),
        (["none"], []),  # the baseline itself is not a candidate
    ],
)
def test_map_specs_select_candidates(specs: list[str] | None, expected: list[str]) -> None:
    chosen = pairs.select_pairs(GROUPS, ["bias", "direction"], PAIRS, specs)
    assert [group for group, _ in chosen] == expected
    assert all(base == "none/n/a" for _, base in chosen)


def test_map_spec_with_an_unknown_key_is_an_error() -> None:
    with pytest.raises(AqnetError, match="'wind' is not a --by key"):
        pairs.select_pairs(GROUPS, ["bias", "direction"], PAIRS, ["wind=up"])
