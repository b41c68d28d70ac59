"""Instances: components vs watershed on synthetic discs with known counts; the method registry; the
boundary (3-class) seeded watershed, also on real DSB2018 nuclei."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unetkit.inference.instances import instances_from_mask, list_instance_methods, register_instance_method


def discs(shape: tuple[int, int], centres: list[tuple[int, int]], radius: float, cls: int = 1) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    mask = np.zeros(shape, dtype=np.uint8)
    for cy, cx in centres:
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = cls
    return mask


def test_touching_discs_components_one_watershed_two() -> None:
    mask = discs((40, 60), [(20, 20), (20, 36)], 10)  # centres 16 apart, radius 10: overlapping
    _, n_cc = instances_from_mask(mask, 1, "components")
    labels, n_ws = instances_from_mask(mask, 1, "watershed", min_distance=5)
    assert (n_cc, n_ws) == (1, 2)
    assert labels.dtype == np.int32
    assert labels[20, 15] != labels[20, 41] and labels[20, 15] > 0 and labels[20, 41] > 0
    np.testing.assert_array_equal(labels > 0, mask == 1)  # watershed keeps the whole foreground


@pytest.mark.parametrize("method", ["components", "watershed"])
def test_separated_discs_give_their_count(method: str) -> None:
    centres = [(10, 10), (10, 40), (35, 12), (35, 45), (22, 70)]
    mask = discs((50, 90), centres, 6, cls=2)
    mask[0:3, 85:90] = 1  # another class: not foreground here
    labels, count = instances_from_mask(mask, [2], method)
    assert count == 5
    assert sorted(np.unique(labels).tolist()) == [0, 1, 2, 3, 4, 5]


def test_min_size_drops_small_objects_and_renumbers() -> None:
    mask = discs((30, 30), [(8, 8), (20, 20)], 5)
    mask[0, 29] = 1  # a 1-pixel speck
    labels, count = instances_from_mask(mask, 1, "components", min_size=5)
    assert count == 2 and labels.max() == 2 and labels[0, 29] == 0


def test_probability_seam_splits_watershed() -> None:
    mask = discs((40, 60), [(20, 20), (20, 36)], 10)
    probs = np.zeros((2, 40, 60), dtype=np.float32)
    probs[1] = mask
    probs[1, :, 27:29] *= 0.05  # the network was unsure along the seam between the objects
    probs[0] = 1 - probs[1]
    _, count = instances_from_mask(mask, 1, "watershed", probs=probs, min_distance=3)
    assert count == 2


def test_empty_and_errors() -> None:
    empty = np.zeros((8, 8), dtype=np.uint8)
    assert instances_from_mask(empty, 1, "watershed")[1] == 0
    with pytest.raises(ValueError, match="Unknown instance method 'watershd'"):
        instances_from_mask(empty, 1, "watershd")
    with pytest.raises(ValueError, match=r"\(H, W\) array"):
        instances_from_mask(np.zeros((1, 8, 8)), 1)


# --------------------------------------------------------------------------- registry and the boundary method
def test_registry_lists_methods_and_unknown_names_list_options() -> None:
    assert {"boundary", "components", "watershed"} <= set(list_instance_methods())
    with pytest.raises(
        ValueError, match=r"Unknown instance method 'boundry'.*Did you mean 'boundary'.*Available: "
    ):
        instances_from_mask(np.zeros((4, 4), dtype=np.uint8), [1, 2], "boundry")


def test_registered_method_runs_by_name_and_is_renumbered(monkeypatch: pytest.MonkeyPatch) -> None:
    from unetkit.inference import instances as mod

    monkeypatch.setattr(mod, "_METHODS", dict(mod._METHODS))  # registrations of this test stay here

    @register_instance_method("rows")
    def rows(mask, classes, *, probs, min_distance, connectivity):  # type: ignore[no-untyped-def]
        # one object per image row, with sparse ids far above the pixel count
        out = np.zeros(mask.shape, dtype=np.int64)
        for y in range(mask.shape[0]):
            out[y][np.isin(mask[y], classes)] = 10**9 + 7 * y
        return out

    mask = np.zeros((5, 6), dtype=np.uint8)
    mask[1, :] = 1
    mask[3, :2] = 1
    labels, count = instances_from_mask(mask, 1, "rows")
    assert count == 2 and labels[1].tolist() == [1] * 6 and labels[3, :2].tolist() == [2, 2]
    assert instances_from_mask(mask, 1, "ROWS", min_size=3)[1] == 1  # the 2-pixel row is dropped
    with pytest.raises(ValueError, match="already registered under the name 'rows'"):
        register_instance_method("rows")(lambda *a, **k: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot name an instance method"):
        register_instance_method("none")(rows)


def test_boundary_method_separates_touching_discs_from_the_3_class_target() -> None:
    from unetkit.data.instance_targets import boundary_target
    from unetkit.metrics.instance import score_instances

    true = discs((40, 80), [(20, 20), (20, 36)], 10).astype(np.int32)
    right = discs((40, 80), [(20, 60)], 8)
    true[true > 0] = 1
    true[(discs((40, 80), [(20, 36)], 10) > 0) & (np.arange(80) >= 28)] = 2  # the right disc wins the overlap
    true[right > 0] = 3
    target = boundary_target(true, radius=2)  # 0 background, 1 interior, 2 touching boundary
    assert (target == 2).any()
    labels, count = instances_from_mask(target, [1, 2], "boundary")
    assert count == 3
    np.testing.assert_array_equal(labels > 0, true > 0)  # the whole foreground is assigned
    assert score_instances(true, labels).ap(0.9) == 1.0
    assert instances_from_mask(target, [1, 2], "components")[1] == 2  # the touching pair stays one
    probs = np.stack([target == k for k in range(3)]).astype(np.float32)
    labels_p, count_p = instances_from_mask(target, [1, 2], "boundary", probs=probs)
    assert count_p == 3 and score_instances(true, labels_p).ap(0.9) == 1.0


def test_boundary_method_keeps_seedless_pieces_and_checks_classes() -> None:
    mask = np.zeros((6, 10), dtype=np.uint8)
    mask[1:5, 1:4] = 1
    mask[1:5, 4] = 2  # boundary of the first object
    mask[2:4, 7:9] = 2  # a blob predicted all boundary: no interior seed
    labels, count = instances_from_mask(mask, [1, 2], "boundary")
    assert count == 2 and labels[2, 4] == labels[2, 2] and labels[2, 7] not in (0, labels[2, 2])
    assert instances_from_mask(np.where(mask == 1, 2, mask), [1, 2], "boundary")[1] == 2  # no interior at all
    with pytest.raises(ValueError, match=r"needs the foreground classes \(interior, boundary\)"):
        instances_from_mask(mask, 1, "boundary")
    with pytest.raises(ValueError, match=r"probs must be \(K, H, W\)"):
        instances_from_mask(mask, [1, 2], "boundary", probs=np.zeros((3, 5, 10), dtype=np.float32))


def test_boundary_method_floods_over_the_interior_probability() -> None:
    mask = np.zeros((3, 10), dtype=np.uint8)
    mask[:, 0:2] = 1  # seed A
    mask[:, 2:8] = 2  # boundary band
    mask[:, 8:10] = 1  # seed B
    by_distance, _ = instances_from_mask(mask, [1, 2], "boundary")
    assert by_distance[1, 6] == by_distance[1, 9] != by_distance[1, 0]  # col 6 is nearer B's interior
    probs = np.zeros((3, 3, 10), dtype=np.float32)
    probs[1] = (mask == 1).astype(np.float32)
    probs[1, :, 2:7] = 0.4  # the network leans "interior" up to col 6, so A's basin reaches it
    probs[1, :, 7] = 0.05
    probs[2] = 1 - probs[1]
    by_probs, count = instances_from_mask(mask, [1, 2], "boundary", probs=probs)
    assert (
        count == 2
        and (by_probs[:, 0:7] == by_probs[1, 0]).all()
        and (by_probs[:, 7:] == by_probs[1, 9]).all()
    )


def test_boundary_target_round_trip_on_dsb2018_nuclei(shared_data: Path) -> None:
    """Real nuclei: the true 3-class target split by "boundary" recovers the labels; components cannot."""
    from unetkit.data.instance_targets import boundary_target
    from unetkit.data.instances import read_label_image
    from unetkit.metrics.instance import InstanceScoreAccumulator

    root = shared_data / "dsb2018"
    ids = (root / "val.txt").read_text().split()[:12]
    boundary, components = InstanceScoreAccumulator(), InstanceScoreAccumulator()
    for sample_id in ids:
        true = read_label_image(root / "labels" / f"{sample_id}.png")
        boundary.update(true, instances_from_mask(boundary_target(true), [1, 2], "boundary")[0])
        components.update(true, instances_from_mask((true > 0).astype(np.uint8), 1, "components")[0])
    b, c = boundary.compute(), components.compute()
    assert b["map"] > 0.97 and b["merges"] <= 2
    assert c["merges"] > 20 and c["map"] < b["map"] - 0.1
