"""Model catalogs: JSON documents listing downloadable artifacts (docs/catalog-format.md)."""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import urllib.parse
from importlib import resources

CATALOG_VERSION = 1
ENV_VAR = "EDGE_VEDA_CATALOG"


class CatalogError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    url: str          # absolute (resolved against the catalog's own location)
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    name: str
    version: str
    kind: str
    abi_version: int
    arch: str | None         # platform.machine() the artifact runs on; None = any
    target: dict | None      # TVM target it was compiled for
    file: RemoteFile | None  # the artifact tarball; None = build locally (edge-veda compile)

    @property
    def downloadable(self) -> bool:
        return self.file is not None


def _resolve(base: str, url: str) -> str:
    if urllib.parse.urlparse(url).scheme in ("http", "https", "file"):
        return url
    if urllib.parse.urlparse(base).scheme in ("http", "https"):
        return urllib.parse.urljoin(base, url)
    return os.path.join(os.path.dirname(os.path.abspath(base)), url)


def parse(document: dict, base: str) -> list[CatalogEntry]:
    if document.get("catalog_version") != CATALOG_VERSION:
        raise CatalogError(f"{base}: catalog_version {document.get('catalog_version')!r} is not "
                           f"supported (expected {CATALOG_VERSION})")
    entries = []
    for i, m in enumerate(document.get("models", [])):
        try:
            f = m.get("file")
            entries.append(CatalogEntry(
                name=m["name"], version=str(m.get("version", "")), kind=m.get("kind", ""),
                abi_version=int(m["abi_version"]), arch=m.get("arch"), target=m.get("target"),
                file=RemoteFile(_resolve(base, f["url"]), int(f["size"]), f["sha256"].lower()) if f else None))
        except (KeyError, TypeError, ValueError) as e:
            raise CatalogError(f"{base}: models[{i}] is malformed ({e!r})") from e
    return entries


def default_location() -> str:
    return str(resources.files("edge_veda.models") / "default_catalog.json")


def load(location: str | None = None) -> tuple[str, list[CatalogEntry]]:
    """Reads the catalog at `location` (URL or path), $EDGE_VEDA_CATALOG, or the default."""
    location = location or os.environ.get(ENV_VAR) or default_location()
    try:
        if urllib.parse.urlparse(location).scheme in ("http", "https"):
            import httpx  # only for remote catalogs: it takes ~60 ms to import

            try:
                r = httpx.get(location, timeout=30, follow_redirects=True)
                r.raise_for_status()
            except httpx.HTTPError as e:
                raise OSError(str(e)) from e
            document = r.json()
        else:
            with open(location, encoding="utf-8") as f:
                document = json.load(f)
    except (OSError, ValueError) as e:
        raise CatalogError(f"cannot read catalog {location}: {e}") from e
    return location, parse(document, location)


def select(entries: list[CatalogEntry], name: str, abi_version: int) -> CatalogEntry | None:
    """The entry for `name` that runs here: this ABI, this machine's architecture."""
    machine = platform.machine()
    fits = [e for e in entries if e.name == name and e.abi_version == abi_version
            and (e.arch is None or e.arch == machine)]
    return fits[-1] if fits else None
