"""The plan's after-budget estimate counts the instance post-processing grid that fit scores on val (both
components and watershed for a model trained on plain classes: 10-25 s on DSB 2018's 66 val images)."""

from __future__ import annotations

from types import SimpleNamespace

from unetkit.planning.plan import INFERENCE_OVER_VAL_PASS, INSTANCE_GRID_S_PER_MPIX, after_budget_text


def test_the_estimate_adds_the_instance_grid_by_val_pixels() -> None:
    # DSB 2018's split: 532 train images of 0.157 Mpx on average, 66 val, 66 test.
    fp = SimpleNamespace(num_images={"train": 532, "val": 66, "test": 66}, train_pixels=83_405_352)
    per_image = 6.0 * INFERENCE_OVER_VAL_PASS / 66 * 8  # a 6 s validation pass, 8 views
    grid = 66 * 83_405_352 / 532 / 1e6 * INSTANCE_GRID_S_PER_MPIX
    # The grid measured on 11 Mpx of DSB images: 10 s on the EPYC, 25 s of CPU on a Xeon VM (the constant).
    assert 20.0 < grid < 26.0
    text = after_budget_text(fp, 6.0, 8, instances=True)  # type: ignore[arg-type]
    assert round((66 + 66) * per_image) == 144
    assert text.endswith(f"take about {(144 + grid) / 60:.1f} min (estimated)")  # 2.8, not 2.4 min
    # Without instance labels, no grid.
    plain = after_budget_text(fp, 6.0, 8, instances=False)  # type: ignore[arg-type]
    assert plain.endswith("scoring 66 test images with 8 views take about 72 s (estimated)")
