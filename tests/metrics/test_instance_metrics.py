"""Instance metrics on hand-made label images whose scores were worked out by hand (in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from unetkit.metrics.instance import (
    IOU_THRESHOLDS,
    InstanceScoreAccumulator,
    Overlap,
    label_overlap,
    match_instances,
    score_instances,
)


def three_squares() -> np.ndarray:
    """Three separate 2x2 objects (4 pixels each) with labels 1, 2, 3."""
    labels = np.zeros((6, 10), dtype=np.uint16)
    labels[1:3, 1:3] = 1
    labels[1:3, 5:7] = 2
    labels[4:6, 8:10] = 3
    return labels


def test_perfect_prediction_with_other_ids() -> None:
    true = three_squares()
    pred = np.choose(true.astype(np.int64), [0, 30, 10, 20]).astype(np.int32)  # same objects, other ids
    s = score_instances(true, pred)
    assert (s.n_true, s.n_pred) == (3, 3)
    assert s.tp == (3,) * 10
    assert (s.ap50, s.ap75, s.map, s.seg) == (1.0, 1.0, 1.0, 1.0)
    assert (s.splits, s.merges) == (0, 0)


def test_one_missed() -> None:
    true = three_squares()
    pred = np.where(true == 3, 0, true)
    s = score_instances(true, pred)
    # TP 2, FP 0, FN 1 at every threshold: AP = 2 / 3; SEG = (1 + 1 + 0) / 3.
    assert s.ap50 == pytest.approx(2 / 3) and s.map == pytest.approx(2 / 3)
    assert (s.fp(0.5), s.fn(0.5)) == (0, 1)
    assert s.seg == pytest.approx(2 / 3)
    assert (s.splits, s.merges) == (0, 0)


def test_one_split_with_an_iou_exactly_at_a_threshold() -> None:
    true = np.zeros((4, 10), dtype=np.uint8)
    true[0:2, 0:5] = 1  # A: 10 pixels
    true[3, 7:9] = 2  # B: 2 pixels
    pred = np.zeros_like(true)
    pred[0:2, 0:3] = 5  # 6 pixels of A: IoU 0.6
    pred[0:2, 3:5] = 6  # 4 pixels of A: IoU 0.4
    pred[3, 7:9] = 7  # B exactly
    s = score_instances(true, pred)
    # t in {0.5, 0.55}: A-5 and B-7 match: TP 2, FP 1, FN 0 -> 2 / 3.
    # t >= 0.6: IoU 0.6 is not > 0.6, only B matches: TP 1, FP 2, FN 1 -> 1 / 4.
    assert s.tp == (2, 2, 1, 1, 1, 1, 1, 1, 1, 1)
    assert s.ap50 == pytest.approx(2 / 3) and s.ap75 == pytest.approx(1 / 4)
    assert s.map == pytest.approx((2 * 2 / 3 + 8 * 1 / 4) / 10)  # = 1 / 3
    assert s.seg == pytest.approx((0.6 + 1.0) / 2)  # object 5 holds 6 > 10 / 2 pixels of A
    assert (s.splits, s.merges) == (1, 0)


def test_one_merged() -> None:
    true = np.zeros((4, 10), dtype=np.uint8)
    true[0:2, 0:2] = 1  # A: 4 pixels
    true[0:2, 2:4] = 2  # B: 4 pixels, touching A
    true[3, 6:9] = 3  # C: 3 pixels
    pred = np.zeros_like(true)
    pred[0:2, 0:4] = 1  # A and B fused: IoU 4 / 8 = 0.5 with each, not > 0.5
    pred[3, 6:9] = 2
    s = score_instances(true, pred)
    # Only C matches: TP 1, FP 1, FN 2 -> 1 / 4 at every threshold.
    assert s.tp == (1,) * 10
    assert s.ap50 == pytest.approx(1 / 4) and s.map == pytest.approx(1 / 4)
    assert s.seg == pytest.approx((0.5 + 0.5 + 1.0) / 3)  # the fused object holds all of A and of B
    assert (s.splits, s.merges) == (0, 1)


def test_empty_prediction_empty_truth_and_both_empty() -> None:
    true = three_squares()
    empty = np.zeros_like(true)
    s = score_instances(true, empty)
    assert (s.ap50, s.map, s.seg, s.fn(0.5), s.fp(0.5)) == (0.0, 0.0, 0.0, 3, 0)
    s = score_instances(empty, true)
    assert (s.ap50, s.map, s.fp(0.5)) == (0.0, 0.0, 3)
    assert math.isnan(s.seg)  # no reference object
    s = score_instances(empty, empty)
    assert (s.ap50, s.map) == (1.0, 1.0)


def test_iou_exactly_at_the_threshold_does_not_match() -> None:
    true = np.zeros((3, 3), dtype=np.uint8)
    true[0:2, 0:2] = 1  # 4 pixels
    half = np.zeros_like(true)
    half[0, 0:2] = 1  # 2 of them: IoU 0.5
    s = score_instances(true, half, thresholds=(0.45, 0.5))
    assert (s.ap(0.45), s.ap(0.5)) == (1.0, 0.0)
    assert s.seg == 0.0  # 2 pixels are not more than half of 4
    three = true.copy()
    three[1, 1] = 0  # 3 of 4 pixels: IoU 0.75
    s = score_instances(true, three)
    assert (s.ap(0.7), s.ap75) == (1.0, 0.0)
    assert s.seg == pytest.approx(0.75)


def test_hungarian_below_one_half_maximises_matches() -> None:
    # IoU(A, P) = 6/14, IoU(A, Q) = 4/16, IoU(B, P) = 4/16: greedy (A-P first) finds 1 match, the
    # assignment finds 2 (A-Q, B-P).
    ov = Overlap(
        true_ids=np.array([1, 2]),
        pred_ids=np.array([1, 2]),
        true_areas=np.array([10, 10]),
        pred_areas=np.array([10, 10]),
        pair_true=np.array([0, 0, 1]),
        pair_pred=np.array([0, 1, 0]),
        pair_intersection=np.array([6, 4, 4]),
    )
    t_idx, p_idx, iou = match_instances(ov, 0.2)
    assert sorted(zip(t_idx.tolist(), p_idx.tolist())) == [(0, 1), (1, 0)]
    np.testing.assert_allclose(sorted(iou), [0.25, 0.25])
    t_idx, _, _ = match_instances(ov, 0.3)
    assert t_idx.tolist() == [0]


def _brute_force_tp(true: np.ndarray, pred: np.ndarray, threshold: float) -> int:
    """Per-object masks, dense IoU and a plain assignment: the slow definition."""
    t_ids = [i for i in np.unique(true) if i]
    p_ids = [i for i in np.unique(pred) if i]
    iou = np.zeros((len(t_ids), len(p_ids)))
    for a, i in enumerate(t_ids):
        for b, j in enumerate(p_ids):
            inter = np.sum((true == i) & (pred == j))
            iou[a, b] = inter / np.sum((true == i) | (pred == j))
    if iou.size == 0:
        return 0
    r, c = linear_sum_assignment(-(iou > threshold).astype(float))
    return int(np.sum(iou[r, c] > threshold))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_random_label_images(seed: int) -> None:
    from skimage.segmentation import watershed

    rng = np.random.default_rng(seed)

    def random_labels() -> np.ndarray:
        markers = np.zeros((40, 40), dtype=np.int32)
        ys, xs = rng.integers(0, 40, (2, 25))
        markers[ys, xs] = np.arange(1, 26)
        return watershed(rng.random((40, 40)), markers, mask=rng.random((40, 40)) < 0.8)

    true, pred = random_labels(), random_labels()
    s = score_instances(true, pred, thresholds=(0.1, 0.3, 0.5, 0.7))
    assert list(s.tp) == [_brute_force_tp(true, pred, t) for t in (0.1, 0.3, 0.5, 0.7)]


def test_many_objects_shifted_by_one_pixel() -> None:
    # 400 squares of 6x6 on a 240x240 grid; shifting the prediction by one column gives each pair
    # IoU = 30 / 42 = 0.714...: matched up to t = 0.7, unmatched from 0.75.
    true = np.zeros((240, 240), dtype=np.uint16)
    k = 0
    for y in range(0, 240, 12):
        for x in range(0, 240, 12):
            k += 1
            true[y + 2 : y + 8, x + 2 : x + 8] = k
    pred = np.roll(true, 1, axis=1)
    s = score_instances(true, pred)
    assert s.n_true == s.n_pred == 400
    assert s.tp == (400, 400, 400, 400, 400, 0, 0, 0, 0, 0)
    assert s.seg == pytest.approx(30 / 42)


def test_accumulator_averages_per_image_and_pools_counts() -> None:
    acc = InstanceScoreAccumulator()
    true = three_squares()
    acc.update(true, true)  # AP 1, SEG 1 (3 references)
    one = np.zeros((4, 4), dtype=np.uint8)
    one[0:2, 0:2] = 1
    acc.update(one, np.zeros_like(one))  # AP 0, SEG 0 (1 reference)
    out = acc.compute()
    assert out["ap50"] == 0.5 and out["map"] == 0.5  # mean over the 2 images
    assert out["ap50_pooled"] == pytest.approx(3 / 4)  # TP 3 / (TP 3 + FP 0 + FN 1)
    assert out["seg"] == pytest.approx(3 / 4)  # pooled over the 4 reference objects
    assert (out["images"], out["n_true"], out["n_pred"]) == (2, 4, 3)
    assert list(out["ap_per_threshold"]) == [f"{t:.2f}" for t in IOU_THRESHOLDS]


def test_overlap_table_and_errors() -> None:
    true = three_squares()
    pred = np.zeros_like(true)
    pred[1:3, 2:6] = 9  # overlaps object 1 by 2 pixels and object 2 by 2 pixels
    ov = label_overlap(true, pred)
    assert ov.true_ids.tolist() == [1, 2, 3] and ov.pred_ids.tolist() == [9]
    assert ov.true_areas.tolist() == [4, 4, 4] and ov.pred_areas.tolist() == [8]
    np.testing.assert_allclose(ov.iou_matrix(), [[2 / 10], [2 / 10], [0.0]])
    # Sparse ids far above the pixel count (np.unique path) and uint64 give the same table.
    for big in (pred.astype(np.int64) * 10**12, pred.astype(np.uint64)):
        sparse = label_overlap(true.astype(np.uint64), big)
        np.testing.assert_array_equal(sparse.iou_matrix(), ov.iou_matrix())
        assert sparse.pred_ids.tolist() == [int(big.max())]
    full = np.where(true > 0, true, 7).astype(np.int64) * 10**12  # no background pixel at all
    s = score_instances(full, full)
    assert (s.n_true, s.map) == (4, 1.0)
    with pytest.raises(ValueError, match="differ in size"):
        label_overlap(true, pred[:, :5])
    with pytest.raises(ValueError, match="integer labels"):
        label_overlap(true.astype(np.float32), pred)
    with pytest.raises(ValueError, match="negative labels"):
        label_overlap(true, -pred.astype(np.int32))
    with pytest.raises(ValueError, match="was not scored"):
        _ = score_instances(true, pred, thresholds=(0.6,)).ap50
    with pytest.raises(ValueError, match="no image was scored"):
        InstanceScoreAccumulator().compute()
