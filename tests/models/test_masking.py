"""Token masks for masked pretraining (aqnet/models/masking.py): counts, units, statics, groups, bad input."""

from __future__ import annotations

import pytest
import torch

from aqnet.errors import ConfigError
from aqnet.models.masking import MaskSpec, sample_mask

VARIABLES = ("u", "v", "t2m", "pm25", "no2", "elevation")
STATIC = frozenset({"elevation"})
GROUPS = {"meteorology": ["u", "v", "t2m"], "pollutants": ["pm25", "no2"]}


def spec(**overrides) -> MaskSpec:  # type: ignore[no-untyped-def]
    return MaskSpec(**{"variables": VARIABLES, "static": STATIC, **overrides})


def test_variable_patch_mask_hides_the_same_number_per_sample_and_never_a_static() -> None:
    mask = sample_mask(spec(mask_ratio=0.75, kept_mask_ratio=0.5), batch=3, num_patches=8, generator=seeded())
    assert mask.visible.shape == (3, 6, 8)
    dynamic_hidden = mask.hidden[:, :5].flatten(1).sum(1)
    assert dynamic_hidden.tolist() == [30, 30, 30]  # floor(0.75 · 5 · 8)
    assert mask.target.flatten(1).sum(1).tolist() == [20, 20, 20]  # floor(0.5 · 40)
    assert mask.visible[:, 5].all() and not mask.target[:, 5].any()  # elevation: always seen, never a target
    assert not (mask.target & mask.visible).any()  # only hidden tokens are reconstructed
    patterns = {tuple(m.flatten().tolist()) for m in mask.visible}
    assert len(patterns) == 3  # each sample its own mask


def test_patch_unit_hides_every_dynamic_variable_of_a_patch() -> None:
    mask = sample_mask(spec(unit="patch", mask_ratio=0.5, kept_mask_ratio=0.25), batch=2, num_patches=8)
    dynamic = mask.hidden[:, :5]
    assert (dynamic == dynamic[:, :1]).all()  # the same patches for every dynamic variable
    assert dynamic[:, 0].sum(1).tolist() == [4, 4]
    assert mask.target[:, 0].sum(1).tolist() == [2, 2]
    assert mask.visible[:, 5].all()


def test_the_same_generator_seed_gives_the_same_mask() -> None:
    first = sample_mask(spec(), batch=2, num_patches=16, generator=seeded(3))
    again = sample_mask(spec(), batch=2, num_patches=16, generator=seeded(3))
    other = sample_mask(spec(), batch=2, num_patches=16, generator=seeded(4))
    assert torch.equal(first.visible, again.visible) and torch.equal(first.target, again.target)
    assert not torch.equal(first.visible, other.visible)


def test_a_hidden_group_is_hidden_and_reconstructed_whole() -> None:
    mask = sample_mask(spec(groups=GROUPS, group_mask_prob=1.0), batch=16, num_patches=8, generator=seeded())
    pollutants = mask.hidden[:, 3:5].flatten(1).all(1)
    meteorology = mask.hidden[:, 0:3].flatten(1).all(1)
    assert (pollutants ^ meteorology).all()  # exactly one group hidden in every sample
    assert pollutants.any() and meteorology.any()  # and both groups get drawn
    for b in range(16):
        rows = slice(3, 5) if pollutants[b] else slice(0, 3)
        assert mask.target[b, rows].all()
    never = sample_mask(spec(groups=GROUPS, group_mask_prob=0.0), batch=16, num_patches=8, generator=seeded())
    assert not never.hidden[:, 3:5].flatten(1).all(1).any()


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"mask_ratio": 1.0}, "task.mask_ratio=1.0 must be within (0, 1)"),
        ({"mask_ratio": 0.0}, "task.mask_ratio=0.0"),
        ({"kept_mask_ratio": 0.9}, "task.kept_mask_ratio=0.9 must be within (0, task.mask_ratio=0.75]"),
        ({"unit": "pixel"}, "task.unit='pixel'"),
        ({"static": frozenset({"orography"})}, "task.static=['orography'] are not input variables"),
        ({"static": frozenset(VARIABLES)}, "every input variable is static"),
        ({"groups": {"terrain": ["elevation"]}}, "task.groups.terrain=['elevation']"),
        ({"groups": {"all": ["u", "v", "t2m", "pm25", "no2"]}}, "task.groups.all holds every dynamic variable"),
        ({"group_mask_prob": 0.5}, "needs task.groups"),
        ({"group_mask_prob": 1.5, "groups": GROUPS}, "task.group_mask_prob=1.5"),
    ],
)
def test_bad_masks_are_one_line_errors_naming_the_key(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as error:
        spec(**overrides)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_a_grid_too_small_for_the_ratios_is_refused_and_one_unit_always_stays_visible() -> None:
    with pytest.raises(ConfigError, match="reconstructs no token"):
        spec(unit="patch", mask_ratio=0.5, kept_mask_ratio=0.1).counts(num_patches=4)
    mask = sample_mask(spec(unit="patch", mask_ratio=0.99, kept_mask_ratio=0.5), batch=4, num_patches=4)
    assert mask.visible[:, 0].sum(1).tolist() == [1, 1, 1, 1]


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
