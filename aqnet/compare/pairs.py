"""Which groups ``aqnet-compare`` compares: (group, reference) pairs, by baseline or named directly.

* :func:`baseline_pairs` (``--baseline VALUE``): every group against the group with the first ``--by`` key set to
  VALUE and the other keys unchanged.
* :func:`explicit_pairs` (``--pair GROUP REFERENCE``): any two groups, each picked by a selector.

A selector is a value of the first ``--by`` key (``topoflow``) or ``key=value`` items joined by commas
(``physics_bias=topoflow,physics_bias.direction=receptor_higher``); a key is a ``--by`` key as typed or the short
name the group labels use (``direction``), so a printed label (``physics_bias=topoflow, direction=up``) selects its
group. ``--map-group`` uses the same selectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from aqnet.compare.analysis import NOT_APPLICABLE, Pair
from aqnet.compare.runs import short_labels
from aqnet.errors import AqnetError


def _values(runs: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """One row per group label, one column per --by key, as strings."""
    return runs.drop_duplicates("group").set_index("group")[list(labels)].astype(str)


def baseline_pairs(runs: pd.DataFrame, labels: Sequence[str], baseline: str) -> list[Pair]:
    """Each group → its baseline group: the first key set to ``baseline``, every other key unchanged.

    A key the baseline's option lacks (:data:`NOT_APPLICABLE`, e.g. ``physics_bias.direction`` of
    ``physics_bias=none``) matches any value, so every TopoFlow variant is compared with the one plain baseline; an
    exact match is preferred when there is one.
    """
    groups = _values(runs, labels)
    bases = groups[groups.iloc[:, 0] == baseline].iloc[:, 1:]
    pairs = []
    for group, values in groups.iterrows():
        if values.iloc[0] == baseline:
            continue
        exact = (bases == values.iloc[1:]).all(axis=1)
        fits = ((bases == values.iloc[1:]) | (bases == NOT_APPLICABLE)).all(axis=1)
        match = bases[exact] if exact.any() else bases[fits]
        if len(match):
            pairs.append((str(group), str(match.index[0])))
    return pairs


def parse_selector(spec: str, labels: Sequence[str], flag: str) -> dict[str, str]:
    """``topoflow`` → {first key: topoflow}; ``a=1,b=2`` → {a: 1, b: 2}, each key a --by key (or its short name)."""
    names = dict(zip(short_labels(labels), labels, strict=True)) | {label: label for label in labels}
    wanted = {}
    for item in spec.split(","):
        key, sep, value = item.strip().rpartition("=")
        key = key.strip() if sep else labels[0]
        if key not in names:
            raise AqnetError(f"{flag} {spec!r}: {key!r} is not a --by key ({', '.join(labels)})")
        wanted[names[key]] = value.strip()
    return wanted


def matching_groups(runs: pd.DataFrame, labels: Sequence[str], spec: str, flag: str) -> list[str]:
    """The group labels a selector matches (possibly none or several)."""
    values = _values(runs, labels)
    wanted = parse_selector(spec, labels, flag)
    match = (values[list(wanted)] == pd.Series(wanted)).all(axis=1)
    return [str(g) for g in values.index[match]]


def one_group(runs: pd.DataFrame, labels: Sequence[str], spec: str, flag: str) -> str:
    """The one group a selector names; AqnetError when it names none or several."""
    found = matching_groups(runs, labels, spec, flag)
    if not found:
        groups = "; ".join(sorted(_values(runs, labels).index))
        raise AqnetError(f"{flag} {spec!r} matches no group; the groups are: {groups}")
    if len(found) > 1:
        raise AqnetError(
            f"{flag} {spec!r} matches {len(found)} groups ({'; '.join(found)}): add key=value items to pick one"
        )
    return found[0]


def explicit_pairs(runs: pd.DataFrame, labels: Sequence[str], specs: Sequence[Sequence[str]]) -> list[Pair]:
    """``--pair GROUP REFERENCE`` (repeatable) → (group, reference) pairs, in the order given, duplicates dropped."""
    pairs: list[Pair] = []
    for group_spec, reference_spec in specs:
        flag = f"--pair {group_spec!r} {reference_spec!r}:"
        pair = (one_group(runs, labels, group_spec, flag), one_group(runs, labels, reference_spec, flag))
        if pair[0] == pair[1]:
            raise AqnetError(f"{flag} both select {pair[0]}; a comparison needs two different groups")
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def select_pairs(
    runs: pd.DataFrame, labels: Sequence[str], pairs: Sequence[Pair], specs: Sequence[str] | None
) -> list[Pair]:
    """The pairs to map (``--map-group SPEC``, repeatable): every pair, or those whose group matches a selector."""
    if not specs:
        return list(pairs)
    chosen: list[Pair] = []
    for spec in specs:
        groups = set(matching_groups(runs, labels, spec, "--map-group"))
        chosen += [pair for pair in pairs if pair[0] in groups and pair not in chosen]
    return chosen
