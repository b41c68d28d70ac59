"""Where the deployment variants of an exported model live, and which of them passed the accuracy gate.

An export folder (``unetkit export``, default ``MODEL/export``) holds::

    config.json                  the model's ModelConfig (shared by every variant in this folder)
    model.onnx                   fp32 ONNX (onnxruntime backend)
    model.xml + model.bin        fp32 OpenVINO IR (openvino backend; also run in bf16 with a precision hint)
    int8-openvino/               NNCF INT8 OpenVINO IR + config.json (a model folder of its own)
    int8-onnxruntime/            onnxruntime static-QDQ INT8 model.onnx + config.json
    deploy.json                  the accuracy gate of each reduced-precision variant and the eager check
                                 of each fp32 model (written at export)

Reduced-precision variants are only used (by ``--backend auto``, ``unetkit benchmark``) when ``deploy.json``
records that they passed the gate. This module is torch-free: the prediction path imports it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unetkit.files import atomic_write_text
from unetkit.model_files.model_config import CONFIG_NAME, ONNX_NAME, OPENVINO_NAME

logger = logging.getLogger(__name__)

MANIFEST_NAME = "deploy.json"
EXPORT_DIR_NAME = "export"
# (backend, precision) -> sub-folder of the export folder; fp32 and bf16 share the top-level files.
VARIANT_DIRS: dict[tuple[str, str], str] = {
    ("openvino", "int8"): "int8-openvino",
    ("onnxruntime", "int8"): "int8-onnxruntime",
}
MODEL_FILES = {"openvino": OPENVINO_NAME, "onnxruntime": ONNX_NAME}
TORCHSCRIPT_FILE = "model.ts.pt"
# The files each fp32 export writes (beside config.json): deploy.json records the weights they came from.
EXPORTED_FILES: dict[str, tuple[str, ...]] = {
    "onnxruntime": (ONNX_NAME, "model.optimized.onnx"),
    "openvino": (OPENVINO_NAME, "model.bin"),
    "torchscript": (TORCHSCRIPT_FILE,),
}
# A model folder's own files (model_io): a folder holding them holds a model too.
_MODEL_FOLDER_FILES = ("model.safetensors",)
PRECISIONS = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class Variant:
    """One deployable (backend, precision) of a model; ``folder`` holds its model file and config.json."""

    backend: str
    precision: str
    folder: Path

    @property
    def key(self) -> str:
        return f"{self.backend}-{self.precision}"


def variant_folder(export_dir: Path, backend: str, precision: str) -> Path:
    """The folder of ``backend``/``precision`` inside ``export_dir`` (it may not exist)."""
    sub = VARIANT_DIRS.get((backend, precision))
    return export_dir / sub if sub else export_dir


def find_export_dir(path: str | Path) -> Path | None:
    """The export folder of ``path``: ``path`` itself when it holds exported files, else ``path/export``
    (a model or run folder exported with the default ``--out``); the parent export folder of a
    reduced-precision variant folder (``export/int8-openvino``); None when there is none."""
    path = Path(path)
    folder = path.parent if path.is_file() else path
    if folder.name in VARIANT_DIRS.values() and (folder.parent / CONFIG_NAME).is_file():
        # A reduced-precision variant (int8-openvino/) is part of its export folder, not an fp32 export of its
        # own (benchmark listed its INT8 model as fp32 and bf16 rows).
        folder = folder.parent
    for candidate in (folder, folder / EXPORT_DIR_NAME, folder / "model" / EXPORT_DIR_NAME):
        if (candidate / CONFIG_NAME).is_file() and any(
            (candidate / name).is_file() for name in MODEL_FILES.values()
        ):
            return candidate
    return None


def read_manifest(export_dir: Path) -> dict[str, Any]:
    """``deploy.json`` of ``export_dir`` as a dict (``{"variants": {}}`` when absent or unreadable)."""
    path = Path(export_dir) / MANIFEST_NAME
    if not path.is_file():
        return {"variants": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        logger.warning("%s is unreadable (%s); ignoring its reduced-precision variants", path, exc)
        return {"variants": {}}
    if not isinstance(data, dict) or not isinstance(data.get("variants"), dict):
        return {"variants": {}}
    return data


def record_gate(export_dir: Path, key: str, entry: dict[str, Any]) -> Path:
    """Store the gate result ``entry`` of variant ``key`` (e.g. ``"openvino-int8"``) in ``deploy.json``."""
    data = read_manifest(export_dir)
    data["variants"][key] = entry
    return atomic_write_text(Path(export_dir) / MANIFEST_NAME, json.dumps(data, indent=2) + "\n")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file (identifies the fp32 model a reduced variant was made from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_file(export_dir: Path, backend: str) -> Path:
    """The fp32 file whose hash a gate entry records: the weights of the IR, the TorchScript file, or the ONNX
    model."""
    name = {"openvino": "model.bin", "torchscript": TORCHSCRIPT_FILE}.get(backend, ONNX_NAME)
    return Path(export_dir) / name


def gate_passed(export_dir: Path, key: str) -> bool:
    """True when ``deploy.json`` records that variant ``key`` passed the accuracy gate for the fp32 model
    now in ``export_dir`` (a re-export with other weights makes an older gate result stale)."""
    entry = read_manifest(export_dir)["variants"].get(key)
    if not isinstance(entry, dict) or entry.get("passed") is not True:
        return False
    source = source_file(export_dir, str(entry.get("backend", key.split("-")[0])))
    if not source.is_file() or entry.get("source_sha256") != file_sha256(source):
        logger.info("%s: the gate result of %s belongs to another fp32 model; ignoring it", export_dir, key)
        return False
    return True


def record_export_check(
    export_dir: Path,
    backend: str,
    max_abs_diff: float | None,
    atol: float,
    shape: tuple[int, ...] | None,
    weights_sha256: str | None = None,
) -> Path:
    """Record in ``deploy.json`` how the fp32 ``backend`` model now in ``export_dir`` was checked at export:
    its max abs logit difference to eager PyTorch on ``shape`` (``None``: exported without the check,
    ``--no-verify``). A later ``unetkit benchmark`` without the eager model quotes it
    (:func:`export_check`). ``weights_sha256`` (:func:`unetkit.model_files.model_io.weights_digest`) names
    the eager weights it was exported from: benchmark refuses to compare it with another model."""
    entry: dict[str, Any] = {
        "weights_sha256": weights_sha256,
        "backend": backend,
        "precision": "fp32",
        "checked": max_abs_diff is not None,
        "max_abs_diff": max_abs_diff,
        "atol": atol,
        "shape": list(shape) if shape is not None else None,
        "source_sha256": file_sha256(source_file(export_dir, backend)),
    }
    return record_gate(export_dir, f"{backend}-fp32", entry)


def export_check(export_dir: Path, backend: str) -> dict[str, Any] | None:
    """The export-time eager check of the fp32 ``backend`` model now in ``export_dir``
    (:func:`record_export_check`); None when none is recorded (an older export) or it belongs to a model
    exported since."""
    entry = read_manifest(export_dir)["variants"].get(f"{backend}-fp32")
    if not isinstance(entry, dict) or "checked" not in entry:
        return None
    source = source_file(export_dir, backend)
    if not source.is_file() or entry.get("source_sha256") != file_sha256(source):
        return None
    return entry


def check_exported_file(export_dir: Path, backend: str) -> None:
    """Refuse the fp32 ``backend`` model of ``export_dir`` when ``deploy.json`` records another file there
    (a model.onnx copied in by hand beside another model's config.json and check): its preprocessing and its
    check against eager would be another model's. Exports without a record (older ones) pass."""
    entry = read_manifest(export_dir)["variants"].get(f"{backend}-fp32")
    if not isinstance(entry, dict) or not entry.get("source_sha256"):
        return
    source = source_file(export_dir, backend)
    if source.is_file() and entry["source_sha256"] != file_sha256(source):
        raise ValueError(
            f"{source} is not the file `unetkit export` wrote in {export_dir} ({MANIFEST_NAME} records "
            "another; copied in by hand?): its config.json and export check belong to another model; export "
            "the model again into a folder of its own: unetkit export RUN --out DIR"
        )


def exported_weights(export_dir: Path) -> set[str]:
    """The weights digests the fp32 exports now in ``export_dir`` record (empty for older exports)."""
    found = set()
    for backend in MODEL_FILES:
        check = export_check(export_dir, backend)
        if check is not None and check.get("weights_sha256"):
            found.add(str(check["weights_sha256"]))
    return found


def foreign_files(export_dir: Path, weights_sha256: str) -> list[str]:
    """The model files in ``export_dir`` that are not exports of the weights ``weights_sha256``
    (:func:`unetkit.model_files.model_io.weights_digest`), sorted names: fp32 exports whose ``deploy.json``
    entry records other weights, and unknown files (not recorded there, recorded without weights, or changed
    since: a hand-copied ``model.onnx``), including reduced-precision folders whose gate belongs to no such
    export. ``config.json`` counts as known when some export of these weights is there. An export into a
    folder with any of them would leave two models in one folder (``unetkit export`` refuses)."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        return []
    ours: set[str] = set()  # backends whose fp32 files are exports of these weights
    foreign: list[str] = []
    for backend, names in EXPORTED_FILES.items():
        present = [name for name in names if (export_dir / name).is_file()]
        if not present:
            continue
        check = export_check(export_dir, backend)
        if check is not None and check.get("weights_sha256") == weights_sha256:
            ours.add(backend)
        else:
            foreign.extend(present)
    manifest = read_manifest(export_dir)["variants"]
    for (backend, precision), sub in VARIANT_DIRS.items():
        if not (export_dir / sub).exists():
            continue
        entry = manifest.get(f"{backend}-{precision}")
        source = source_file(export_dir, backend)
        if not (
            backend in ours
            and isinstance(entry, dict)
            and source.is_file()
            and entry.get("source_sha256") == file_sha256(source)
        ):
            foreign.append(sub + "/")
    foreign.extend(name for name in _MODEL_FOLDER_FILES if (export_dir / name).is_file())
    if not ours and (export_dir / CONFIG_NAME).is_file():
        foreign.append(CONFIG_NAME)
    return sorted(foreign)


def available_variants(export_dir: Path, gated_only: bool = True) -> list[Variant]:
    """Variants of ``export_dir`` whose files exist; reduced precision only if it passed the gate
    (``gated_only``). bf16 needs a CPU with native bf16 (checked by the caller that runs it)."""
    export_dir = Path(export_dir)
    found = []
    for backend, name in MODEL_FILES.items():
        if (export_dir / name).is_file():
            found.append(Variant(backend, "fp32", export_dir))
    if (export_dir / OPENVINO_NAME).is_file():
        found.append(Variant("openvino", "bf16", export_dir))
    for (backend, precision), sub in VARIANT_DIRS.items():
        folder = export_dir / sub
        if (folder / MODEL_FILES[backend]).is_file() and (folder / CONFIG_NAME).is_file():
            found.append(Variant(backend, precision, folder))
    if gated_only:
        found = [v for v in found if v.precision == "fp32" or gate_passed(export_dir, v.key)]
    return found


def cpu_info() -> dict[str, Any]:
    """CPU model and flags from /proc/cpuinfo (Linux; ``platform`` fallback elsewhere), torch-free."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "flags", "Features") and key not in fields:
                    fields[key] = value.strip()
                if not line.strip() and fields:
                    break  # the first processor block is enough
    except OSError:
        pass
    flags = (fields.get("flags") or fields.get("Features") or "").split()
    return {
        "cpu_model": fields.get("model name") or platform.processor() or platform.machine(),
        "cpu_flags": sorted(flags),
        "cpu_count": os.cpu_count(),
    }


def native_bf16(flags: list[str] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX512_BF16 or AMX-BF16): elsewhere bf16 is emulated."""
    flags = cpu_info()["cpu_flags"] if flags is None else flags
    return "avx512_bf16" in flags or "amx_bf16" in flags
