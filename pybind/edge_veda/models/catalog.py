"""Model catalogs: JSON documents listing downloadable artifacts (docs/model-management.md).

A catalog is untrusted input: it may come over plain HTTP from a LAN. Everything in it is
checked here, where it is parsed, so the rest of the package can use the entries as they are:
names are plain file names, sizes are non-negative ints, digests are 64 hex digits. A catalog
can be pinned by the SHA-256 of its bytes (`URL#sha256=HEX`, or `sha256=`), checked before a
byte of it is parsed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import time
import urllib.parse
from importlib import resources

from .._hashing import FileTooLargeError, NotRegularFileError, read_regular
from .._ffi import lib as _lib
from ..errors import EdgeVedaError, InvalidArgumentError

CATALOG_VERSION = 1
ENV_VAR = "EDGE_VEDA_CATALOG"
MAX_CATALOG_BYTES = 16 << 20   # a catalog lists models; 16 MiB is thousands of entries
HTTP_TIMEOUT_S = 10.0   # per connect / read
HTTP_DEADLINE_S = 60.0  # for the whole catalog

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_PIN_RE = re.compile(r"(?s)(.*)#sha256=([^#]*)")

_HINT = ("fix the catalog, or choose another one with --catalog URL_OR_PATH or $EDGE_VEDA_CATALOG "
         "(a catalog is written by `edge-veda models pack`)")


class CatalogError(EdgeVedaError):
    """The catalog cannot be read, is malformed, fails its pin, or does not list the model."""

    code = _lib.EV_ERR_MODEL_NOT_FOUND

    def __init__(self, message: str, hint: str = _HINT, code: int | None = None):
        super().__init__(message, hint, code)


def check_name(name) -> str:
    """Returns `name` if it is a plain model name (a file name that stays inside its directory).

    1-128 characters of letters, digits, '.', '_', '+', '-', starting with a letter or digit:
    no '/', no '\\', no '..' prefix, no hidden names, nothing a shell or a file system reads
    specially.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidArgumentError(
            f"invalid model name {name!r}",
            "a model name is 1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit")
    return name


def check_sha256(value, what: str) -> str:
    if not isinstance(value, str) or not _SHA256_RE.fullmatch(value):
        raise ValueError(f"{what} must be 64 hex digits, not {value!r:.80}")
    return value.lower()


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    url: str          # absolute URL, or an absolute local path (resolved against the catalog's location)
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


def _split(location: str) -> urllib.parse.SplitResult:
    try:
        return urllib.parse.urlsplit(location)
    except ValueError as e:  # e.g. "http://[" (an unclosed IPv6 literal)
        raise CatalogError(f"{location!r:.200} is not a valid URL or path ({e})",
                           "use an http(s) URL, a file:// URL or a path") from None


def is_remote(location: str) -> bool:
    return _split(location).scheme.lower() in ("http", "https")


def local_path(location: str) -> str:
    """The file a catalog location or file URL names: a `file://` URL or a plain path."""
    parts = _split(location)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise CatalogError(f"{location}: file URLs on another host ({parts.netloc}) are not supported")
        import urllib.request  # lazily: ~20 ms, and only file:// URLs need it

        return urllib.request.url2pathname(parts.path)
    return location


def _resolve(base: str, url: str) -> str:
    scheme = _split(url).scheme.lower()
    if is_remote(base):
        # A catalog from the network names only network files: a `file:` URL or a path in it
        # would make this machine hash (and so confirm the content of) its own local files.
        if scheme and scheme not in ("http", "https"):
            raise ValueError(f"url {url!r}: a catalog served over HTTP may only name http(s) URLs")
        return urllib.parse.urljoin(base, url)
    if scheme in ("http", "https"):
        return url
    if scheme == "file":
        return local_path(url)
    if scheme and len(scheme) > 1:  # (a one-letter "scheme" is a Windows drive)
        raise ValueError(f"url {url!r}: scheme {scheme!r} is not supported (http, https, file or a path)")
    return os.path.join(os.path.dirname(os.path.abspath(local_path(base))), url)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _entry(m, base: str) -> CatalogEntry:
    if not isinstance(m, dict):
        raise ValueError(f"is a {type(m).__name__}, not an object")
    if "name" not in m:
        raise ValueError("has no name")
    try:
        name = check_name(m["name"])
    except InvalidArgumentError as e:
        raise ValueError(e.message) from None
    version = m.get("version", "")
    if not isinstance(version, (str, int, float)) or isinstance(version, bool):
        raise ValueError(f"version must be a string, not {type(version).__name__}")
    kind = m.get("kind", "")
    if not isinstance(kind, str):
        raise ValueError(f"kind must be a string, not {type(kind).__name__}")
    abi = m.get("abi_version")
    if not _is_int(abi):
        raise ValueError(f"abi_version must be an integer, not {abi!r:.40}")
    arch = m.get("arch")
    if arch is not None and not isinstance(arch, str):
        raise ValueError(f"arch must be a string or null, not {type(arch).__name__}")
    target = m.get("target")
    if target is not None and not isinstance(target, dict):
        raise ValueError(f"target must be an object or null, not {type(target).__name__}")
    f = m.get("file")
    remote = None
    if f is not None:
        if not isinstance(f, dict):
            raise ValueError(f"file must be an object or null, not {type(f).__name__}")
        url, size = f.get("url"), f.get("size")
        if not isinstance(url, str) or not url or "\0" in url:
            raise ValueError(f"file.url must be a non-empty string, not {url!r:.80}")
        if not _is_int(size) or size < 0:
            raise ValueError(f"file.size must be a non-negative integer, not {size!r:.40}")
        remote = RemoteFile(_resolve(base, url), size, check_sha256(f.get("sha256"), "file.sha256"))
    return CatalogEntry(name=name, version=str(version), kind=kind, abi_version=abi, arch=arch,
                        target=target, file=remote)


def parse(document, base: str) -> list[CatalogEntry]:
    """The entries of a decoded catalog document. Any malformed entry rejects the whole catalog
    (with the entry's index and the reason): a catalog that lies about one model is not trusted
    for the others."""
    if not isinstance(document, dict):
        raise CatalogError(f"{base}: a catalog is a JSON object, not {type(document).__name__}")
    version = document.get("catalog_version")
    if not _is_int(version) or version != CATALOG_VERSION:
        raise CatalogError(f"{base}: catalog_version {version!r:.40} is not supported "
                           f"(expected {CATALOG_VERSION})")
    models = document.get("models", [])
    if not isinstance(models, list):
        raise CatalogError(f"{base}: 'models' must be a list, not {type(models).__name__}")
    entries = []
    seen: dict[tuple[str, str | None], int] = {}
    for i, m in enumerate(models):
        try:
            entry = _entry(m, base)
        except (ValueError, TypeError) as e:
            raise CatalogError(f"{base}: models[{i}] {e}") from None
        key = (entry.name, entry.arch)
        if key in seen:  # which one would a pull mean? A catalog that says both is not trusted
            raise CatalogError(f"{base}: models[{i}] lists {entry.name!r} for arch {entry.arch or 'any'} "
                               f"again (models[{seen[key]}] is the same name and arch)",
                               "a catalog lists each model once per arch; fix or regenerate it "
                               "(`edge-veda models pack` replaces an existing entry)")
        seen[key] = i
        entries.append(entry)
    return entries


def loads(data: bytes, base: str, sha256: str | None = None) -> list[CatalogEntry]:
    """Parses catalog bytes, after checking them against the pinned `sha256` if given."""
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise CatalogError(
                f"{base}: the catalog's SHA-256 is {actual}, not the pinned {sha256}",
                "the catalog changed since it was pinned, or something between you and the server "
                "replaced it; nothing was downloaded. Check the hash `edge-veda models serve` printed "
                "on the machine you trust")
    if len(data) > MAX_CATALOG_BYTES:
        raise CatalogError(f"{base}: the catalog is larger than {MAX_CATALOG_BYTES:,} bytes")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CatalogError(f"{base}: the catalog is not UTF-8 ({e.reason} at byte {e.start})") from None
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError; so are huge ints
        raise CatalogError(f"{base}: the catalog is not valid JSON ({e})") from None
    return parse(document, base)


def split_pin(location: str, sha256: str | None = None) -> tuple[str, str | None]:
    """Splits `LOCATION#sha256=HEX` into the location and the pinned digest (merged with `sha256`)."""
    m = _PIN_RE.fullmatch(location)
    pin = None
    if m:
        location = m.group(1)
        try:
            pin = check_sha256(m.group(2), "the #sha256= pin")
        except ValueError as e:
            raise CatalogError(f"{location}: {e}", "pin a catalog with URL#sha256=<64 hex digits>") from None
    if sha256 is not None:
        try:
            sha256 = check_sha256(sha256, "--catalog-sha256")
        except ValueError as e:
            raise CatalogError(str(e), "pass the 64 hex digits `edge-veda models serve` printed") from None
        if pin is not None and pin != sha256:
            raise CatalogError(f"{location}: the URL pins sha256 {pin} but --catalog-sha256 says {sha256}",
                               "give the catalog's hash once")
        pin = sha256
    return location, pin


def default_location() -> str:
    return str(resources.files("edge_veda.models") / "default_catalog.json")


def fetch(location: str) -> bytes:
    """The bytes of the catalog at `location` (http(s) URL, file:// URL or path), size-capped.

    A path is read once, at once: a missing file fails immediately, never after retries.
    """
    if is_remote(location):
        import httpx  # only for remote catalogs: it takes ~60 ms to import

        try:
            with httpx.Client(timeout=httpx.Timeout(HTTP_TIMEOUT_S), follow_redirects=True) as client:
                with client.stream("GET", location) as r:
                    if r.status_code >= 400:
                        raise CatalogError(f"cannot read catalog {location}: HTTP {r.status_code}")
                    data = bytearray()
                    deadline = time.monotonic() + HTTP_DEADLINE_S
                    for chunk in r.iter_bytes():
                        data += chunk
                        if time.monotonic() > deadline:  # a server trickling bytes forever
                            raise CatalogError(f"cannot read catalog {location}: not complete after "
                                               f"{HTTP_DEADLINE_S:.0f} s")
                        if len(data) > MAX_CATALOG_BYTES:
                            raise CatalogError(f"{location}: the catalog is larger than "
                                               f"{MAX_CATALOG_BYTES:,} bytes")
                    return bytes(data)
        except httpx.HTTPError as e:
            raise CatalogError(f"cannot read catalog {location}: {str(e) or type(e).__name__}",
                               "check the address and that the server runs (edge-veda models serve), "
                               "or use --catalog PATH for a local catalog") from None
        except httpx.InvalidURL as e:
            raise CatalogError(f"cannot read catalog {location}: {e}") from None
    scheme = _split(location).scheme.lower()
    if scheme not in ("", "file") and len(scheme) > 1:
        raise CatalogError(f"cannot read catalog {location}: scheme {scheme!r} is not supported",
                           "use an http(s) URL, a file:// URL or a path")
    path = local_path(location)
    try:
        return read_regular(path, MAX_CATALOG_BYTES)
    except FileNotFoundError:
        raise CatalogError(f"catalog {path} does not exist",
                           "check the path, or write one with `edge-veda models pack ARTIFACT -o DIR`") from None
    except (NotRegularFileError, FileTooLargeError) as e:
        raise CatalogError(f"cannot read catalog: {e}") from None
    except (OSError, ValueError) as e:  # permissions, a directory, a NUL in the path
        raise CatalogError(f"cannot read catalog {path}: {e}") from None


def load(location: str | None = None, sha256: str | None = None) -> tuple[str, list[CatalogEntry]]:
    """Reads the catalog at `location` (URL or path, optionally `#sha256=HEX`), $EDGE_VEDA_CATALOG,
    or the built-in default. Returns (location without the pin, entries)."""
    location = location or os.environ.get(ENV_VAR) or default_location()
    location, pin = split_pin(location, sha256)
    return location, loads(fetch(location), location, pin)


def select(entries: list[CatalogEntry], name: str, abi_version: int) -> CatalogEntry | None:
    """The entry for `name` that runs here: this ABI, this machine's architecture."""
    machine = platform.machine()
    fits = [e for e in entries if e.name == name and e.abi_version == abi_version
            and (e.arch is None or e.arch == machine)]
    return fits[-1] if fits else None
