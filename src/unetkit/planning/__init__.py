"""Self-configuring training: discover a dataset folder, fingerprint it, measure the machine, plan a config.

``discover`` (torch-free; split lists read with the training data's rule,
:func:`unetkit.data.list_files.read_list_file`) -> ``fingerprint`` (NumPy/SciPy) ->
``measure_candidates`` (torch: a few timed training steps) -> ``make_plan`` (pure) -> ``Plan.to_yaml`` /
``to_config_overrides``.
"""

from __future__ import annotations

from unetkit.planning.discovery import DatasetLayout, MaskInfo, Sample, detect_encoding, discover
from unetkit.planning.fingerprint import Fingerprint, fingerprint
from unetkit.planning.plan import (
    Candidate,
    Machine,
    Plan,
    make_plan,
    measure_candidates,
    parse_duration,
    to_config_overrides,
)

__all__ = [
    "Candidate",
    "DatasetLayout",
    "Fingerprint",
    "Machine",
    "MaskInfo",
    "Plan",
    "Sample",
    "detect_encoding",
    "discover",
    "fingerprint",
    "make_plan",
    "measure_candidates",
    "parse_duration",
    "to_config_overrides",
]
