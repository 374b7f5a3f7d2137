"""TEMPORARY: the names compile/__init__.py still imports from the old module, until it calls
edge_veda.artifact directly (then delete this file). Nothing else may import it."""
from __future__ import annotations

from . import artifact
from .artifact import MANIFEST_DIGEST
from .errors import ModelInvalidError, ModelNotFoundError

__all__ = ["MANIFEST_DIGEST", "artifact_files", "read_manifest"]


def artifact_files(directory: str, manifest: dict) -> set[str]:
    return artifact.artifact_files(manifest)


def read_manifest(directory: str) -> tuple[dict | None, list[str]]:
    try:
        return artifact.read_manifest(directory, check_seal=False, check_version=False), []
    except (ModelInvalidError, ModelNotFoundError) as e:
        return None, [e.message]
