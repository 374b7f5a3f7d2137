"""Hostile and careless input to model management and the compiler's output (issue 9).

Everything runs against real parts: real files and directories, real subprocesses of the CLI,
a real HTTP server on 127.0.0.1 (fault_server.FaultServer, or `edge-veda models serve`).
Nothing leaves 127.0.0.1. Cases that could hang on a regression run in a subprocess with a
timeout. The fuzz loops run EDGE_VEDA_FUZZ_SECONDS each (default: catalog 10 s, archive 5 s).
"""
import contextlib
import copy
import gzip
import hashlib
import io
import json
import lzma
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time

import pytest

import edge_veda
from edge_veda import EdgeVedaError, InvalidArgumentError, ModelInvalidError
from edge_veda.artifact import MANIFEST_DIGEST, verify as verify_dir
from edge_veda.compile import OutputDirectoryError, place_artifact, write_manifest_digest
from edge_veda.models import (ArchiveError, CatalogError, ChecksumError, DiskSpaceError, DownloadError,
                              ModelManager, RetryPolicy, UnsafeArchiveError, archive, catalog, pack)
from fault_server import FaultServer

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01)
CLOSED_PORT_URL = "http://127.0.0.1:9/catalog.json"  # discard port: nothing listens on loopback


# -- helpers ---------------------------------------------------------------------------------

def cli(*args, env=None, cwd=None, timeout=120, home=None):
    env = dict(os.environ if env is None else env)
    if home is not None:
        env["EDGE_VEDA_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "edge_veda", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def assert_clean_error(r, *fragments):
    """A user error: exit 1, one `edge-veda: error:` line and a hint, never a traceback."""
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "edge-veda: error:" in r.stderr and "hint:" in r.stderr, r.stderr
    for f in fragments:
        assert f in r.stderr, (f, r.stderr)


def make_toy(directory, name="toy", payload=b"x" * 10_000, seal=True, extra=None):
    """A small sealed artifact directory: manifest.json (+ .sha256) and blob.bin."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "blob.bin"), "wb") as f:
        f.write(payload)
    manifest = {"format": "edge-veda-artifact", "format_version": 1, "ev_abi_version": edge_veda.ABI_VERSION,
                "name": name, "version": "1",
                "files": {"blob.bin": {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}}}
    manifest.update(extra or {})
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    if seal:
        write_manifest_digest(str(directory))
    return str(directory)


def reseal_with(directory, edit):
    """Rewrites the manifest with edit(manifest) and seals it again (a consistent but hostile manifest)."""
    path = os.path.join(directory, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    edit(m)
    with open(path, "w") as f:
        json.dump(m, f)
    write_manifest_digest(str(directory))


def packed_toy(tmp_path, name="toy"):
    """A directory written by `models pack`: a toy tarball and catalog.json naming it relatively."""
    return pack(make_toy(tmp_path / f"art-{name}", name), str(tmp_path / "dist"))


def tree(path):
    """Every path below `path` (to prove nothing was created or removed)."""
    return sorted(os.path.relpath(os.path.join(d, n), path) for d, ds, fs in os.walk(path) for n in ds + fs)


def entry_doc(**over):
    m = {"name": "toy", "version": "1", "kind": "test", "abi_version": 1, "arch": None, "target": None,
         "file": {"url": "toy.tar", "size": 10, "sha256": "ab" * 32}}
    m.update(over)
    return {"catalog_version": 1, "models": [m]}


def file_doc(**over):
    f = {"url": "toy.tar", "size": 10, "sha256": "ab" * 32}
    f.update(over)
    return entry_doc(file=f)


# -- one error family ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [CatalogError, DownloadError, ChecksumError, DiskSpaceError, ArchiveError,
                                 UnsafeArchiveError, OutputDirectoryError])
def test_every_model_management_error_is_an_edge_veda_error(cls):
    assert issubclass(cls, EdgeVedaError)
    assert issubclass(OutputDirectoryError, ValueError)  # InvalidArgumentError keeps its builtin base
    assert issubclass(DiskSpaceError, DownloadError) and issubclass(ChecksumError, DownloadError)
    assert issubclass(UnsafeArchiveError, ArchiveError)


HOSTILE_CATALOGS = [
    (b"not json at all", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),  # nesting deeper than the recursion limit
    (b"1" * 5000, "not valid JSON"),                       # an int beyond Python's digit limit
    (b"[]", "JSON object"),
    (b"null", "JSON object"),
    (json.dumps({"catalog_version": True, "models": []}).encode(), "catalog_version"),
    (json.dumps({"catalog_version": "1", "models": []}).encode(), "catalog_version"),
    (json.dumps({"catalog_version": 2, "models": []}).encode(), "catalog_version"),
    (json.dumps({"catalog_version": 1, "models": {"toy": {}}}).encode(), "'models' must be a list"),
    (json.dumps({"catalog_version": 1, "models": "toy"}).encode(), "'models' must be a list"),
    (json.dumps({"catalog_version": 1, "models": [1]}).encode(), "not an object"),
    (json.dumps({"catalog_version": 1, "models": [None]}).encode(), "not an object"),
    (json.dumps({"catalog_version": 1, "models": [["toy"]]}).encode(), "not an object"),
    (json.dumps(entry_doc(name="../../x")).encode(), "invalid model name"),
    (json.dumps(entry_doc(name="a/b")).encode(), "invalid model name"),
    (json.dumps(entry_doc(name=".hidden")).encode(), "invalid model name"),
    (json.dumps(entry_doc(name="..")).encode(), "invalid model name"),
    (json.dumps(entry_doc(name="")).encode(), "invalid model name"),
    (json.dumps(entry_doc(name="a\\b")).encode(), "invalid model name"),
    (json.dumps(entry_doc(name="a\0b")).encode(), "invalid model name"),
    (json.dumps(entry_doc(name="x" * 300)).encode(), "invalid model name"),
    (json.dumps(entry_doc(name=7)).encode(), "invalid model name"),
    (json.dumps({"catalog_version": 1, "models": [{"abi_version": 1}]}).encode(), "has no name"),
    (json.dumps(file_doc(sha256="ab/" + "c" * 61)).encode(), "64 hex digits"),
    (json.dumps(file_doc(sha256="ab" * 31)).encode(), "64 hex digits"),
    (json.dumps(file_doc(sha256=None)).encode(), "64 hex digits"),
    (json.dumps(file_doc(sha256=12)).encode(), "64 hex digits"),
    (json.dumps(file_doc(size=-1)).encode(), "non-negative integer"),
    (json.dumps(file_doc(size="10")).encode(), "non-negative integer"),
    (json.dumps(file_doc(size=1.5)).encode(), "non-negative integer"),
    (json.dumps(file_doc(size=True)).encode(), "non-negative integer"),
    (json.dumps(file_doc(size=None)).encode(), "non-negative integer"),
    (json.dumps(file_doc()).encode().replace(b'"size": 10', b'"size": 1e400'), "non-negative integer"),
    (json.dumps(file_doc(url=5)).encode(), "file.url"),
    (json.dumps(file_doc(url="")).encode(), "file.url"),
    (json.dumps(file_doc(url="ftp://example.invalid/toy.tar")).encode(), "not supported"),
    (json.dumps(file_doc(url="http://[")).encode(), "not a valid URL"),
    (json.dumps(entry_doc(file="toy.tar")).encode(), "file must be an object"),
    (json.dumps(entry_doc(abi_version="1")).encode(), "abi_version"),
    (json.dumps(entry_doc(abi_version=None)).encode(), "abi_version"),
    (json.dumps(entry_doc(target="llvm")).encode(), "target"),
    (json.dumps(entry_doc(arch=64)).encode(), "arch"),
    (json.dumps(entry_doc(version=[1])).encode(), "version"),
    (json.dumps(entry_doc(kind={})).encode(), "kind"),
]


@pytest.mark.parametrize("data,fragment", HOSTILE_CATALOGS, ids=[f"c{i}" for i in range(len(HOSTILE_CATALOGS))])
def test_hostile_catalog_is_a_catalog_error(data, fragment):
    with pytest.raises(CatalogError) as e:
        catalog.loads(data, "/some/catalog.json")
    assert fragment in e.value.message and e.value.hint
    assert isinstance(e.value, EdgeVedaError)


@pytest.mark.parametrize("doc", [None, [], "catalog", 5, {"models": []}])
def test_parse_of_a_non_object_document(doc):
    with pytest.raises(CatalogError):
        catalog.parse(doc, "x")


def test_catalog_over_http_may_not_name_local_files():
    doc = json.dumps(file_doc(url="file:///etc/passwd")).encode()
    with pytest.raises(CatalogError, match="only name http"):
        catalog.loads(doc, "http://127.0.0.1:1/catalog.json")
    # a path of its own resolves on the server, never on this machine
    [e] = catalog.loads(json.dumps(file_doc(url="/etc/passwd")).encode(), "http://127.0.0.1:1/c/catalog.json")
    assert e.file.url == "http://127.0.0.1:1/etc/passwd"


def test_oversized_catalog_is_refused(tmp_path):
    big = tmp_path / "catalog.json"
    big.write_bytes(b" " * (catalog.MAX_CATALOG_BYTES + 1))
    with pytest.raises(CatalogError, match="larger than"):
        catalog.load(str(big))


@pytest.mark.parametrize("data,fragment", [
    (b"{not json", "not valid JSON"),
    (json.dumps({"catalog_version": 1, "models": {}}).encode(), "must be a list"),
    (json.dumps(file_doc(sha256="ab/" + "c" * 61)).encode(), "64 hex digits"),
    (json.dumps(entry_doc(name="../../x")).encode(), "invalid model name"),
])
def test_cli_pull_with_a_hostile_catalog_prints_an_error_not_a_traceback(tmp_path, data, fragment):
    cat = tmp_path / "catalog.json"
    cat.write_bytes(data)
    r = cli("models", "--catalog", cat, "pull", "toy", home=tmp_path / "home")
    assert_clean_error(r, fragment)


@pytest.mark.parametrize("location,fragment", [
    ("http://[", "not a valid URL"), ("ftp://127.0.0.1/c.json", "not supported"),
    ("file://otherhost/c.json", "another host"), ("https://", "cannot read catalog"),
])
def test_cli_odd_catalog_locations(tmp_path, location, fragment):
    assert_clean_error(cli("models", "--catalog", location, "pull", "toy", home=tmp_path), fragment)


def test_cli_hostile_catalog_over_http(tmp_path):
    with FaultServer() as server:
        server.files["/catalog.json"] = json.dumps({"catalog_version": 1, "models": [5]}).encode()
        r = cli("models", "pull", "toy", "--catalog", server.base + "/catalog.json", home=tmp_path / "h")
    assert_clean_error(r, "models[0]")
    with FaultServer() as server:
        r = cli("models", "pull", "toy", "--catalog", server.base + "/missing.json", home=tmp_path / "h")
    assert_clean_error(r, "HTTP 404")


# -- names: a catalog cannot make pull write outside the cache -------------------------------

@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "..", "/etc/x", "a\\b", "", "x\0y"])
def test_manager_refuses_invalid_names(tmp_path, name):
    mm = ModelManager(str(tmp_path / "cache"), str(tmp_path / "none.json"))
    for call in (mm.path, mm.is_installed, mm.pull, mm.remove):
        with pytest.raises(InvalidArgumentError):
            call(name)
    assert not os.path.exists(tmp_path / "cache" / "models")


def test_catalog_entry_named_dotdot_cannot_create_files_outside_the_cache(tmp_path):
    data = b"payload"
    (tmp_path / "evil.tar").write_bytes(data)
    cat = tmp_path / "catalog.json"
    cat.write_text(json.dumps(entry_doc(name="../../escaped", file={
        "url": "evil.tar", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})))
    before = tree(tmp_path)
    for name in ("../../escaped", "escaped"):
        r = cli("models", "--catalog", cat, "pull", name, home=tmp_path / "cache")
        assert_clean_error(r)
    assert "invalid model name" in r.stderr
    assert [p for p in tree(tmp_path) if p not in before and not p.startswith("cache")] == []
    assert not os.path.exists(tmp_path.parent / "escaped")


# -- models verify: the manifest's seal, and only plain names --------------------------------

def test_verify_reports_a_manifest_only_edit(tmp_path):
    art = make_toy(tmp_path / "a")
    assert verify_dir(art) == []
    with open(os.path.join(art, "manifest.json")) as f:
        m = json.load(f)
    m["files"]["blob.bin"]["size"] = m["files"]["blob.bin"]["size"]  # same values ...
    m["vocab"] = {"input": ["a"] * 3}                                  # ... plus one edit
    with open(os.path.join(art, "manifest.json"), "w") as f:
        json.dump(m, f)
    assert any("was edited" in p for p in verify_dir(art))


def test_verify_reports_a_missing_or_malformed_seal(tmp_path):
    art = make_toy(tmp_path / "a", seal=False)
    assert any("not sealed" in p for p in verify_dir(art))
    (tmp_path / "a" / MANIFEST_DIGEST).write_text("garbage\n")
    assert any("not one line" in p for p in verify_dir(art))
    os.remove(tmp_path / "a" / MANIFEST_DIGEST)
    os.mkfifo(tmp_path / "a" / MANIFEST_DIGEST)  # would block a plain open()
    assert any("not a regular file" in p for p in verify_dir(art))


def test_cli_verify_says_corrupt_after_a_manifest_only_edit_of_g2p(tmp_path, artifact_dir):
    """The issue's case: an input vocabulary id pushed out of range, library untouched."""
    home = tmp_path / "home"
    installed = home / "models" / "g2p-en"
    shutil.copytree(artifact_dir, installed)
    (installed / ".edge-veda-install.json").write_text(json.dumps({"name": "g2p-en", "version": "2.1.0"}))
    r = cli("models", "verify", "g2p-en", home=home)
    assert (r.returncode, r.stdout.strip()) == (0, "g2p-en: ok"), r.stderr
    manifest = json.loads((installed / "manifest.json").read_text())
    manifest["g2p"]["network"]["special_tokens"]["input_unk"] = 100029
    (installed / "manifest.json").write_text(json.dumps(manifest, indent=2))
    r = cli("models", "verify", "g2p-en", home=home)
    assert r.returncode == 1 and "CORRUPT" in r.stdout and "was edited" in r.stdout, r.stdout
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("field,value", [
    ("module.library", "../../../../bin/ls"), ("module.library", "nothere.so"),
    ("module.library", ".hidden.so"), ("weights.file", "/etc/passwd"), ("weights.file", "nothere.weights")])
def test_cli_verify_checks_the_files_a_v2_manifest_names(tmp_path, artifact_dir, field, value):
    """verify refuses what ev_init refuses: module.library / weights.file must be plain names
    listed in "files" (it read format 1's top-level "library" and said ok)."""
    home = tmp_path / "home"
    installed = home / "models" / "g2p-en"
    shutil.copytree(artifact_dir, installed)
    (installed / ".edge-veda-install.json").write_text(json.dumps({"name": "g2p-en", "version": "2.1.0"}))
    section, key = field.split(".")
    reseal_with(str(installed), lambda m: m[section].__setitem__(key, value))
    r = cli("models", "verify", "g2p-en", home=home)
    assert r.returncode == 1 and "CORRUPT" in r.stdout and field in r.stdout, (r.stdout, r.stderr)
    with pytest.raises(ModelInvalidError):
        edge_veda.Model.load(str(installed))


def test_system_lib_archive_must_be_listed(tmp_path):
    art = make_toy(tmp_path / "art", extra={"module": {"source": "system-lib", "prefix": "toy",
                                                       "archive": "toy.a"}})
    assert any("module.archive" in p for p in verify_dir(art))


VERIFY_SCRIPT = """
import json, sys
from edge_veda.artifact import verify as verify_dir
print(json.dumps(verify_dir(sys.argv[1])))
"""


def test_verify_opens_only_plain_names_inside_the_directory(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"secret")
    good = b"fine"
    (art / "ok.bin").write_bytes(good)
    os.symlink("ok.bin", art / "alias.bin")               # a link inside the directory is fine
    os.symlink(str(outside), art / "link-out")            # a link leaving it is not
    os.symlink("/dev/zero", art / "zero")                 # nor one to a device
    os.mkfifo(art / "fifo")                               # a FIFO would block open() forever
    (art / "subdir").mkdir()
    secret = {"size": 6, "sha256": hashlib.sha256(b"secret").hexdigest()}
    files = {"ok.bin": {"size": 4, "sha256": hashlib.sha256(good).hexdigest()},
             "alias.bin": {"size": 4, "sha256": hashlib.sha256(good).hexdigest()},
             "../outside.bin": secret, str(outside): secret, "link-out": secret,
             "zero": {"size": 0, "sha256": hashlib.sha256(b"").hexdigest()},
             "fifo": {"size": 0, "sha256": hashlib.sha256(b"").hexdigest()},
             "subdir": {"size": 0, "sha256": hashlib.sha256(b"").hexdigest()},
             "./ok.bin": {"size": 4, "sha256": hashlib.sha256(good).hexdigest()}}
    (art / "manifest.json").write_text(json.dumps({"name": "toy", "files": files}))
    write_manifest_digest(str(art))
    r = subprocess.run([sys.executable, "-c", VERIFY_SCRIPT, str(art)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    problems = json.loads(r.stdout)
    text = "\n".join(problems)
    assert "../outside.bin" in text and "absolute" in text and "./ok.bin" in text
    assert sum("component" in p for p in problems) == 2  # ../outside.bin and ./ok.bin
    assert sum("leading out" in p for p in problems) == 2  # link-out and zero
    assert sum("not a regular file" in p for p in problems) == 2  # fifo and subdir
    assert len(problems) == 7, problems
    assert not any(p.startswith(("'ok.bin'", "'alias.bin'")) for p in problems)


@pytest.mark.parametrize("edit,fragment", [
    (lambda m: m["files"]["blob.bin"].pop("sha256"), "no valid sha256"),
    (lambda m: m["files"]["blob.bin"].update(sha256="../" * 20 + "abcd"), "no valid sha256"),
    (lambda m: m["files"]["blob.bin"].update(size=-5), "no valid size"),
    (lambda m: m["files"]["blob.bin"].update(size=10**30), "bytes, the manifest says"),
    (lambda m: m["files"].update({"blob.bin": "x"}), "no {size, sha256}"),
    (lambda m: m.update(files=[]), "lists no files"),
    (lambda m: m.update(files={}), "lists no files"),
    (lambda m: m.update(library="other.so"), "not among the manifest's files"),
    (lambda m: m["files"].update({"../../etc/passwd": {"size": 1, "sha256": "ab" * 32}}), "'..'"),
])
def test_verify_reports_hostile_manifests(tmp_path, edit, fragment):
    art = make_toy(tmp_path / "a")
    reseal_with(art, edit)
    problems = verify_dir(art)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize("content", [b"", b"{", b"[1, 2]", b"\xff\xfe", b"[" * 100_000])
def test_verify_of_an_unparseable_manifest(tmp_path, content):
    art = make_toy(tmp_path / "a")
    (tmp_path / "a" / "manifest.json").write_bytes(content)
    write_manifest_digest(art)
    problems = verify_dir(art)
    assert problems and any("JSON" in p for p in problems), problems


def install_toy(tmp_path, name="toy"):
    cat = packed_toy(tmp_path, name)
    mm = ModelManager(str(tmp_path / "home"), cat)
    mm.pull(name)
    return mm


def test_corrupt_install_record(tmp_path):
    mm = install_toy(tmp_path)
    record = os.path.join(mm.path("toy"), ".edge-veda-install.json")
    for garbage in (b"\xff{", b"[]", b"{" * 100_000):
        with open(record, "wb") as f:
            f.write(garbage)
        [listed] = mm.list()
        assert listed.name == "toy" and listed.problem
        assert not mm.verify("toy")
        r = cli("models", "list", home=mm.cache_dir)
        assert r.returncode == 0 and "broken" in r.stdout and "Traceback" not in r.stderr
        r = cli("models", "verify", "toy", home=mm.cache_dir)
        assert r.returncode == 1 and "install record" in r.stdout and "Traceback" not in r.stderr


def test_cli_verify_of_hostile_installed_manifest_has_no_traceback(tmp_path):
    mm = install_toy(tmp_path)
    reseal_with(mm.path("toy"), lambda m: m["files"]["blob.bin"].pop("sha256"))
    r = cli("models", "verify", "toy", home=mm.cache_dir)
    assert r.returncode == 1 and "CORRUPT" in r.stdout and "no valid sha256" in r.stdout
    assert "Traceback" not in r.stderr


def test_pull_refuses_a_tarball_whose_artifact_is_not_intact(tmp_path):
    art = make_toy(tmp_path / "art")
    with open(os.path.join(art, "blob.bin"), "r+b") as f:  # packed by hand, after the seal
        f.write(b"Y")
    tar = tmp_path / "dist" / "toy.tar"
    tar.parent.mkdir()
    archive.pack(art, str(tar))
    data = tar.read_bytes()
    (tmp_path / "dist" / "catalog.json").write_text(json.dumps(entry_doc(file={
        "url": "toy.tar", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})))
    mm = ModelManager(str(tmp_path / "home"), str(tmp_path / "dist" / "catalog.json"))
    with pytest.raises(ModelInvalidError, match="not an intact"):
        mm.pull("toy")
    assert mm.list() == [] and os.listdir(os.path.join(mm.cache_dir, "models")) == []


def test_pack_refuses_a_broken_artifact_and_an_unreadable_catalog(tmp_path):
    art = make_toy(tmp_path / "art")
    (tmp_path / "art" / "blob.bin").write_bytes(b"changed")
    with pytest.raises(ModelInvalidError):
        pack(art, str(tmp_path / "dist"))
    art = make_toy(tmp_path / "art2")
    (tmp_path / "dist").mkdir(exist_ok=True)
    (tmp_path / "dist" / "catalog.json").write_text("{broken")
    with pytest.raises(CatalogError):
        pack(art, str(tmp_path / "dist"))
    assert (tmp_path / "dist" / "catalog.json").read_text() == "{broken"  # not overwritten


def test_pack_ships_only_the_listed_files(tmp_path):
    art = make_toy(tmp_path / "art")
    (tmp_path / "art" / "notes.txt").write_text("private")
    cat = pack(art, str(tmp_path / "dist"))
    [entry] = catalog.load(cat)[1]
    with tarfile.open(entry.file.url) as t:
        assert sorted(t.getnames()) == ["blob.bin", "manifest.json", MANIFEST_DIGEST]


# -- archives -----------------------------------------------------------------------------------

def test_not_a_tar_is_a_clean_error_and_leaves_nothing(tmp_path):
    data = os.urandom(4096)
    (tmp_path / "junk.tar").write_bytes(data)
    cat = tmp_path / "catalog.json"
    cat.write_text(json.dumps(entry_doc(file={"url": "junk.tar", "size": len(data),
                                               "sha256": hashlib.sha256(data).hexdigest()})))
    r = cli("models", "--catalog", cat, "pull", "toy", home=tmp_path / "home")
    assert_clean_error(r, "not a readable tar archive")
    assert [n for n in os.listdir(tmp_path / "home" / "models") if n.startswith(".")] == []


@pytest.mark.parametrize("kind", ["hardlink", "fifo", "chardev", "inside-symlink", "backslash"])
def test_links_and_special_members_are_refused(tmp_path, kind):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ok = tarfile.TarInfo("manifest.json")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"{}"))
        t = tarfile.TarInfo({"backslash": "a\\..\\..\\x"}.get(kind, "m"))
        if kind == "hardlink":
            t.type, t.linkname = tarfile.LNKTYPE, "missing-target"
        elif kind == "fifo":
            t.type = tarfile.FIFOTYPE
        elif kind == "chardev":
            t.type, t.devmajor, t.devminor = tarfile.CHRTYPE, 1, 5
        elif kind == "inside-symlink":
            t.type, t.linkname = tarfile.SYMTYPE, "manifest.json"
        tar.addfile(t)
    path = tmp_path / "t.tar"
    path.write_bytes(buf.getvalue())
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(UnsafeArchiveError):
        archive.extract(str(path), str(staging))
    assert os.listdir(staging) == []  # checked before anything is written


@pytest.mark.parametrize("cut", [1, 100, 511, 513, 1100])
def test_truncated_tarballs(tmp_path, cut):
    make_toy(tmp_path / "art")
    archive.pack(str(tmp_path / "art"), str(tmp_path / "t.tar"))
    data = (tmp_path / "t.tar").read_bytes()
    (tmp_path / "t.tar").write_bytes(data[:cut])
    staging = tmp_path / "s"
    staging.mkdir()
    with pytest.raises(ArchiveError):
        archive.extract(str(tmp_path / "t.tar"), str(staging))


# -- offline first and local builds -----------------------------------------------------------

def test_g2p_works_offline_with_a_local_build(artifact_dir, edge_veda_home, reference):
    env = dict(os.environ, EDGE_VEDA_HOME=edge_veda_home, EDGE_VEDA_CATALOG=CLOSED_PORT_URL)
    t = time.monotonic()
    r = cli("g2p", "hello", env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"hello\t{reference.predict('hello')}\n"
    assert "compiling" not in r.stderr and "catalog" not in r.stderr
    assert time.monotonic() - t < 30


def test_local_build_is_listed_verified_and_has_a_path(artifact_dir, edge_veda_home):
    env = dict(os.environ, EDGE_VEDA_HOME=edge_veda_home, EDGE_VEDA_CATALOG=CLOSED_PORT_URL)
    listed = cli("models", "list", env=env)
    assert listed.returncode == 0
    assert f"g2p-en\t2.1.0\t{artifact_dir}\t(local build)" in listed.stdout.splitlines()
    r = cli("models", "path", "g2p-en", env=env)
    assert (r.returncode, r.stdout) == (0, artifact_dir + "\n")
    r = cli("models", "verify", "g2p-en", env=env)
    assert (r.returncode, r.stdout) == (0, "g2p-en: ok\n"), r.stderr


def test_installed_model_works_with_the_catalog_unreachable(tmp_path, artifact_dir, reference):
    dist = tmp_path / "dist"
    cat = pack(artifact_dir, str(dist))
    home = tmp_path / "phone"
    r = cli("models", "pull", "g2p-en", "--catalog", cat, home=home)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, EDGE_VEDA_HOME=str(home), EDGE_VEDA_CATALOG=CLOSED_PORT_URL)
    r = cli("g2p", "laptop", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"laptop\t{reference.predict('laptop')}\n" and "compiling" not in r.stderr
    shutil.rmtree(dist)  # nor is the catalog's own directory needed any more
    assert cli("g2p", "laptop", env=env).returncode == 0


def test_unreachable_catalog_falls_back_to_compiling_g2p(tmp_path, reference):
    from edge_veda.paths import local_build_dir

    target = local_build_dir("g2p-en", str(tmp_path / "fresh"))
    stale = os.path.join(os.path.dirname(target), f".staging-{os.path.basename(target)}-deadbeef")
    os.makedirs(stale)  # what a compile killed before its rename leaves
    env = dict(os.environ, EDGE_VEDA_HOME=str(tmp_path / "fresh"), EDGE_VEDA_CATALOG=CLOSED_PORT_URL)
    r = cli("g2p", "hello", env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"hello\t{reference.predict('hello')}\n"
    assert "the catalog is not available" in r.stderr and "compiling" in r.stderr
    assert os.listdir(os.path.dirname(target)) == [os.path.basename(target)]


def test_no_hint_circles(tmp_path):
    home = tmp_path / "empty-home"
    r = cli("models", "pull", "g2p-en", home=home)  # the built-in catalog has no download for it
    assert_clean_error(r, "no download", "edge-veda g2p", "edge-veda compile g2p-en -o DIR")
    assert "models pull" not in r.stderr
    for action in ("path", "verify"):
        r = cli("models", action, "g2p-en", home=home)
        assert_clean_error(r, "neither installed nor built", "edge-veda compile g2p-en")
        assert "models pull g2p-en" not in r.stderr
        r = cli("models", action, "toy", home=home)
        assert_clean_error(r, "neither installed nor built", "edge-veda models pull toy")
    r = cli("models", "list", home=home)
    assert r.returncode == 0 and r.stdout == "" and "edge-veda g2p" in r.stderr


# -- path catalogs ------------------------------------------------------------------------------

def retry_waits(policy: RetryPolicy = RetryPolicy()) -> float:
    """The seconds a policy's retries sleep in all: what failing at once must take less than."""
    return sum(min(policy.max_backoff, policy.backoff * 2 ** i) for i in range(policy.attempts - 1))


def test_path_and_file_url_catalogs_with_relative_tarballs(tmp_path):
    cat = packed_toy(tmp_path)
    for i, location in enumerate((cat, "file://" + cat, os.path.relpath(cat))):
        home = tmp_path / f"home{i}"
        t = time.monotonic()
        r = cli("models", "--catalog", location, "pull", "toy", home=home)
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - t < 60  # a bound only a hang breaks
        assert cli("models", "verify", "toy", home=home).stdout == "toy: ok\n"


@contextlib.contextmanager
def no_sleep():
    """Records (and skips) every time.sleep in the block: a retry's backoff shows as one."""
    sleeps = []
    real = time.sleep
    time.sleep = sleeps.append
    try:
        yield sleeps
    finally:
        time.sleep = real


def test_missing_path_catalog_fails_at_once(tmp_path):
    t = time.monotonic()
    r = cli("models", "--catalog", tmp_path / "nope.json", "pull", "toy", home=tmp_path / "h")
    assert_clean_error(r, "does not exist")
    assert time.monotonic() - t < retry_waits()  # no HTTP retries: the interpreter's start-up is the cost
    mm = ModelManager(str(tmp_path / "h"), str(tmp_path / "nope.json"))
    with no_sleep() as sleeps, pytest.raises(CatalogError, match="does not exist"):
        mm.pull("toy")
    assert sleeps == []  # no retry waited (the 0.5 s goal: tests/bench/test_bench_responsiveness.py)


def test_path_catalog_with_a_missing_tarball_fails_at_once(tmp_path):
    cat = packed_toy(tmp_path)
    for n in os.listdir(tmp_path / "dist"):
        if n.endswith(".tar"):
            os.remove(tmp_path / "dist" / n)
    mm = ModelManager(str(tmp_path / "h"), cat)  # default RetryPolicy: 6 attempts with backoff
    with no_sleep() as sleeps, pytest.raises(DownloadError, match="does not exist"):
        mm.pull("toy")
    assert sleeps == []  # a missing local file is not retried


def test_entry_whose_tarball_holds_another_model_installs_nothing(tmp_path):
    """An entry named `other` pointing at toy's tarball must not install toy as models/other."""
    cat = packed_toy(tmp_path)
    doc = json.loads(open(cat).read())
    doc["models"][0]["name"] = "other"
    with open(cat, "w") as f:
        json.dump(doc, f)
    home = tmp_path / "home"
    with pytest.raises(ModelInvalidError, match="holds the artifact of 'toy', not of 'other'"):
        ModelManager(str(home), cat).pull("other")
    assert os.listdir(home / "models") == []
    r = cli("models", "--catalog", cat, "pull", "other", home=home)
    assert_clean_error(r, "not of 'other'")


def test_duplicate_catalog_entries_are_refused():
    doc = entry_doc()
    doc["models"].append(dict(doc["models"][0], version="2"))
    with pytest.raises(CatalogError, match=r"models\[1\] lists 'toy' for arch any again \(models\[0\]"):
        catalog.parse(doc, "cat.json")
    doc["models"][1]["arch"] = "aarch64"  # another arch: a different download, fine
    assert len(catalog.parse(doc, "cat.json")) == 2
    doc["models"].append(dict(doc["models"][1]))
    with pytest.raises(CatalogError, match="'toy' for arch aarch64 again"):
        catalog.parse(doc, "cat.json")


@pytest.mark.parametrize("shrink", [1, None])
def test_path_catalog_size_smaller_than_the_file_says_so(tmp_path, shrink):
    cat = packed_toy(tmp_path)
    doc = json.loads(open(cat).read())
    f = doc["models"][0]["file"]
    f["size"] = 0 if shrink is None else f["size"] - shrink
    with open(cat, "w") as out:
        json.dump(doc, out)
    home = tmp_path / "home"
    with pytest.raises(DownloadError, match="is larger than the .* bytes the catalog lists") as e:
        ModelManager(str(home), cat).pull("toy")
    assert not isinstance(e.value, ChecksumError) and "e3b0c442" not in str(e.value)
    assert [n for n in os.listdir(home / "downloads")] == []
    r = cli("models", "--catalog", cat, "pull", "toy", home=home)
    assert_clean_error(r, "larger than")


def test_path_catalog_tarball_swapped_is_a_checksum_error(tmp_path):
    cat = packed_toy(tmp_path)
    [tar] = [n for n in os.listdir(tmp_path / "dist") if n.endswith(".tar")]
    data = bytearray((tmp_path / "dist" / tar).read_bytes())
    data[600] ^= 1
    (tmp_path / "dist" / tar).write_bytes(bytes(data))
    with pytest.raises(ChecksumError):
        ModelManager(str(tmp_path / "h"), cat).pull("toy")


FIFO_SCRIPT = """
import sys
from edge_veda import EdgeVedaError
from edge_veda.models import ModelManager
try:
    ModelManager(sys.argv[1], sys.argv[2]).pull("toy")
except EdgeVedaError as e:
    print(type(e).__name__, e.message)
"""


def test_fifo_catalog_and_fifo_tarball_do_not_hang(tmp_path):
    os.mkfifo(tmp_path / "fifo.json")
    r = subprocess.run([sys.executable, "-c", FIFO_SCRIPT, str(tmp_path / "h"), str(tmp_path / "fifo.json")],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.startswith("CatalogError") and "not a regular file" in r.stdout, (r.stdout, r.stderr)
    cat = packed_toy(tmp_path)
    [tar] = [n for n in os.listdir(tmp_path / "dist") if n.endswith(".tar")]
    os.remove(tmp_path / "dist" / tar)
    os.mkfifo(tmp_path / "dist" / tar)
    r = subprocess.run([sys.executable, "-c", FIFO_SCRIPT, str(tmp_path / "h2"), cat],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.startswith("DownloadError") and "not a regular file" in r.stdout, (r.stdout, r.stderr)


def test_oversized_download_is_cut_off(tmp_path):
    with FaultServer() as server:
        server.files["/m.tar"] = b"z" * 200_000
        cat = tmp_path / "catalog.json"
        cat.write_text(json.dumps(entry_doc(file={"url": server.base + "/m.tar", "size": 1000,
                                                   "sha256": "ab" * 32})))
        mm = ModelManager(str(tmp_path / "h"), str(cat), retry=FAST_RETRY)
        with pytest.raises(DownloadError, match="more than the 1,000 bytes"):
            mm.pull("toy")
    assert os.listdir(os.path.join(mm.cache_dir, "downloads")) == []


# -- stale staging ------------------------------------------------------------------------------

KILLED_EXTRACT = """
import sys, time
from edge_veda.models import ModelManager, archive

real = archive.extract
def extract_then_hang(tar, staging):  # the real extraction, then a stall we get killed in
    real(tar, staging)
    open(sys.argv[3], "w").close()
    time.sleep(600)
archive.extract = extract_then_hang
ModelManager(sys.argv[1], sys.argv[2]).pull("toy")
"""


def test_pull_killed_during_extraction_is_cleaned_by_the_next_pull(tmp_path):
    cat = packed_toy(tmp_path)
    home = tmp_path / "home"
    marker = tmp_path / "extracting"
    p = subprocess.Popen([sys.executable, "-c", KILLED_EXTRACT, str(home), cat, str(marker)])
    try:
        deadline = time.time() + 60
        while not marker.exists() and time.time() < deadline and p.poll() is None:
            time.sleep(0.02)
        assert marker.exists(), "the pull never reached extraction"
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    staged = [n for n in os.listdir(home / "models") if n.startswith(".staging-toy-")]
    assert len(staged) == 1 and "blob.bin" in os.listdir(home / "models" / staged[0])
    mm = ModelManager(str(home), cat)
    assert mm.list() == []  # the leftover never shows as a model
    mm.pull("toy")
    assert mm.verify("toy")
    assert sorted(os.listdir(home / "models")) == ["toy"]


def test_compile_killed_leaves_staging_that_the_next_compile_removes(tmp_path):
    """kill -9 of `edge-veda compile` leaves .staging-out-XXXXXXXX; the next compile into the same
    parent deletes it (its flock died with its owner) and keeps what is not its own."""
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "edge_veda", "compile", "g2p-en", "-o", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None and \
                not any(n.startswith(".staging-out-") for n in os.listdir(tmp_path)):
            time.sleep(0.01)
        time.sleep(0.3)  # let it write into the staging directory
        assert p.poll() is None, "the compile ended before it could be killed"
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".staging-out-")], os.listdir(tmp_path)
    (tmp_path / ".staging-other-abcd1234").mkdir()  # another output's: not ours to judge
    r = cli("compile", "g2p-en", "-o", out, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path)) == [".staging-other-abcd1234", "out"]
    assert verify_dir(str(out)) == []


def test_work_dir_lock_keeps_a_live_staging_and_survives_a_sweep_race(tmp_path):
    from edge_veda import _workdir
    import re as _re

    pattern = _re.compile(r"\.staging-out-[a-z0-9_]{8}")
    (tmp_path / ".staging-out-dead0000").mkdir()
    with _workdir.locked_work_dir(str(tmp_path), ".staging-out-") as live:
        (tmp_path / ".staging-out-dead0000" / "f").write_text("x")
        assert _workdir.sweep(str(tmp_path), pattern) == [".staging-out-dead0000"]
        assert os.path.isdir(live)  # held by this process: kept
        assert _workdir.sweep(str(tmp_path), pattern) == []
    assert os.listdir(tmp_path) == []  # deleted at the end of the block (not renamed away)
    script = ("import sys, time; from edge_veda import _workdir\n"
              "with _workdir.locked_work_dir(sys.argv[1], '.staging-out-') as d:\n"
              "    print(d, flush=True); time.sleep(600)\n")
    p = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        held = p.stdout.readline().strip()
        assert _workdir.sweep(str(tmp_path), pattern) == [] and os.path.isdir(held)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    assert _workdir.sweep(str(tmp_path), pattern) == [os.path.basename(held)]


def test_sweep_keeps_work_of_live_pulls_and_removes_dead_ones(tmp_path):
    mm = ModelManager(str(tmp_path / "home"), str(tmp_path / "unused.json"))
    models = tmp_path / "home" / "models"
    for d in (".staging-toy-abcd1234", ".trash-toy-zz99yy88", ".staging-toy-extra-q1w2e3r4",
              ".staging-other-k9k9k9k9", ".staging-unrelated", "keepme"):
        (models / d).mkdir(parents=True)
        (models / d / "f").write_text("x")
    with mm._lock("toy-extra"):  # a pull of toy-extra is alive: its staging stays
        removed = mm.sweep_stale()
    assert sorted(removed) == [".staging-other-k9k9k9k9", ".staging-toy-abcd1234", ".trash-toy-zz99yy88"]
    assert sorted(os.listdir(models)) == [".staging-toy-extra-q1w2e3r4", ".staging-unrelated", "keepme"]


# -- serve ----------------------------------------------------------------------------------------

def test_serve_refuses_a_missing_directory_and_one_without_catalog(tmp_path):
    for directory, fragment in ((tmp_path / "nope", "does not exist"), (tmp_path, "no catalog.json")):
        r = cli("models", "serve", directory, "--port", "0", timeout=30)
        assert_clean_error(r, fragment)
    (tmp_path / "catalog.json").write_text('{"catalog_version": 1, "models": 3}')
    assert_clean_error(cli("models", "serve", tmp_path, "--port", "0", timeout=30), "must be a list")


def test_serve_on_a_busy_port(tmp_path):
    cat = packed_toy(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = cli("models", "serve", os.path.dirname(cat), "--port", s.getsockname()[1], timeout=30)
    assert_clean_error(r, "cannot listen on 127.0.0.1")
    assert_clean_error(cli("models", "serve", os.path.dirname(cat), "--port", "70000", timeout=30), "out of range")


def test_serve_serves_only_the_catalog_and_its_files(tmp_path):
    """Not a directory server: no listings, no unlisted files, no symlink out of the directory."""
    import threading
    import httpx
    from edge_veda.models.server import make_server

    cat = packed_toy(tmp_path)
    dist = os.path.dirname(cat)
    tar = json.loads(open(cat).read())["models"][0]["file"]["url"]
    os.symlink("/etc/passwd", os.path.join(dist, "passwd_link"))
    (tmp_path / "dist" / "secret.txt").write_text("private")
    (tmp_path / "dist" / "sub").mkdir()
    (tmp_path / "dist" / "sub" / "x").write_text("x")
    server = make_server(dist, port=0, verbose=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client() as c:
            for path in ("/", "/passwd_link", "/secret.txt", "/sub/", "/sub/x", "/sub", "/../../etc/passwd",
                         "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd", "/catalog.json/"):
                r = c.get(base + path)
                assert r.status_code == 404 and b"root:" not in r.content and b"private" not in r.content, path
            assert c.head(base + "/passwd_link").status_code == 404
            assert c.get(base + "/catalog.json").content == open(cat, "rb").read()
            whole = open(os.path.join(dist, tar), "rb").read()
            r = c.get(base + "/" + tar)
            assert r.status_code == 200 and r.content == whole
            r = c.get(base + "/" + tar, headers={"Range": "bytes=100-199"})
            assert r.status_code == 206 and r.content == whole[100:200]
            assert c.get(base + "/" + tar, headers={"Range": f"bytes={len(whole)}-"}).status_code == 416
            os.replace(os.path.join(dist, tar), os.path.join(dist, "moved.tar"))  # a listed name
            os.symlink("/etc/passwd", os.path.join(dist, tar))  # turned into a symlink out
            assert c.get(base + "/" + tar).status_code == 404
    finally:
        server.shutdown()
        server.server_close()


class Serving:
    def __init__(self, directory, *extra):
        self.p = subprocess.Popen([sys.executable, "-m", "edge_veda", "models", "serve", str(directory),
                                   "--port", "0", *extra], stderr=subprocess.PIPE, text=True)
        self.lines = []
        while not any(l.startswith("pull with:") for l in self.lines):
            line = self.p.stderr.readline()
            assert line, f"serve exited: {self.lines}"
            self.lines.append(line.rstrip("\n"))

    def close(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def test_serve_prints_the_catalog_hash_and_a_pinned_pull_that_works(tmp_path):
    cat = packed_toy(tmp_path)
    want = hashlib.sha256(open(cat, "rb").read()).hexdigest()
    s = Serving(os.path.dirname(cat))
    try:
        assert f"catalog sha256: {want}" in s.lines
        [pull] = [l for l in s.lines if l.startswith("pull with:")]
        argv = shlex.split(pull[len("pull with: "):])
        assert argv[:4] == ["edge-veda", "models", "pull", "toy"] and argv[5].endswith(f"#sha256={want}")
        # the catalog changing on disk does not change what is served under the printed hash
        with open(cat, "a") as f:
            f.write(" ")
        r = cli(*argv[1:], home=tmp_path / "phone")
        assert r.returncode == 0, r.stderr
        assert cli("models", "verify", "toy", home=tmp_path / "phone").stdout == "toy: ok\n"
    finally:
        s.close()


def test_serve_on_all_interfaces_says_it_is_plain_http(tmp_path):
    cat = packed_toy(tmp_path)
    s = Serving(os.path.dirname(cat), "--host", "0.0.0.0")
    try:
        s.lines.append(s.p.stderr.readline())
        assert any("plain HTTP" in l for l in s.lines), s.lines
    finally:
        s.close()


# -- pinning ----------------------------------------------------------------------------------

@pytest.fixture()
def lan(tmp_path):
    """A FaultServer serving a packed toy: (server, catalog URL, catalog sha256)."""
    cat = packed_toy(tmp_path)
    dist = os.path.dirname(cat)
    with FaultServer() as server:
        for n in os.listdir(dist):
            server.files["/" + n] = open(os.path.join(dist, n), "rb").read()
        yield server, server.base + "/catalog.json", hashlib.sha256(server.files["/catalog.json"]).hexdigest()


def test_pinned_pull_succeeds(tmp_path, lan):
    server, url, sha = lan
    mm = ModelManager(str(tmp_path / "a"), f"{url}#sha256={sha.upper()}")
    assert mm.verify(os.path.basename(mm.pull("toy")))
    mm = ModelManager(str(tmp_path / "b"), url, catalog_sha256=sha)
    mm.pull("toy")
    assert mm.verify("toy")


def test_swapped_catalog_is_refused_before_any_download(tmp_path, lan):
    server, url, sha = lan
    # on the way, someone replaces the catalog with one naming their own tarball
    evil_tar = b"evil" * 100
    server.files["/evil.tar"] = evil_tar
    server.files["/catalog.json"] = json.dumps(entry_doc(file={
        "url": "evil.tar", "size": len(evil_tar), "sha256": hashlib.sha256(evil_tar).hexdigest()})).encode()
    for mm in (ModelManager(str(tmp_path / "a"), f"{url}#sha256={sha}"),
               ModelManager(str(tmp_path / "b"), url, catalog_sha256=sha)):
        with pytest.raises(CatalogError, match="not the pinned") as e:
            mm.pull("toy")
        assert "replaced" in e.value.hint
    r = cli("models", "pull", "toy", "--catalog", url, "--catalog-sha256", sha, home=tmp_path / "c")
    assert_clean_error(r, "not the pinned")
    r = cli("models", "--catalog", f"{url}#sha256={sha}", "pull", "toy", home=tmp_path / "c")
    assert_clean_error(r, "not the pinned")
    assert server.requests("/evil.tar") == [] and server.requests(f"/toy-1-{platform.machine()}.tar") == []
    assert not os.path.exists(tmp_path / "a" / "models" / "toy")


@pytest.mark.parametrize("location,sha,fragment", [
    ("URL#sha256=xyz", None, "64 hex digits"),
    ("URL#sha256=", None, "64 hex digits"),
    ("URL", "ab" * 31, "64 hex digits"),
    ("URL", "ab/" * 21 + "a", "64 hex digits"),
    ("URL#sha256=" + "ab" * 32, "cd" * 32, "give the catalog's hash once"),
])
def test_malformed_pins(lan, tmp_path, location, sha, fragment):
    _, url, _ = lan
    with pytest.raises(CatalogError) as e:
        ModelManager(str(tmp_path / "h"), location.replace("URL", url), catalog_sha256=sha).pull("toy")
    assert fragment in str(e.value)


def test_pinned_path_catalog_and_env_var(tmp_path, lan):
    cat = packed_toy(tmp_path / "second")
    sha = hashlib.sha256(open(cat, "rb").read()).hexdigest()
    env = dict(os.environ, EDGE_VEDA_HOME=str(tmp_path / "h"), EDGE_VEDA_CATALOG=f"{cat}#sha256={sha}")
    assert cli("models", "pull", "toy", env=env).returncode == 0
    env["EDGE_VEDA_CATALOG"] = f"{cat}#sha256={'0' * 64}"
    env["EDGE_VEDA_HOME"] = str(tmp_path / "h2")
    assert_clean_error(cli("models", "pull", "toy", env=env), "not the pinned")


# -- compile never destroys ---------------------------------------------------------------------

def test_compile_refuses_a_directory_with_user_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    before = tree(tmp_path)
    r = cli("compile", "g2p-en", "-o", out)
    assert_clean_error(r, "refusing to replace", "--force")
    assert tree(tmp_path) == before and (out / "thesis.tex").read_text() == "years of work"


def test_compile_refuses_cwd_home_and_their_parents_even_with_force(tmp_path):
    home = tmp_path / "home"
    work = home / "projects" / "x"
    work.mkdir(parents=True)
    (work / "keep.txt").write_text("keep")
    env = dict(os.environ, HOME=str(home))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = tree(tmp_path)
    for out, cwd, why in ((".", work, "the current directory"), (str(home), elsewhere, "your home directory"),
                          (str(home), work, "a parent of the current directory"),
                          (str(home / "projects"), work, "a parent of the current directory"),
                          ("/", elsewhere, "a parent of")):
        for force in ([], ["--force"]):
            r = cli("compile", "g2p-en", "-o", out, *force, env=env, cwd=cwd)
            assert_clean_error(r, why)
    assert tree(tmp_path) == before


def test_compile_refuses_a_file_and_another_models_artifact(tmp_path):
    (tmp_path / "file").write_text("data")
    assert_clean_error(cli("compile", "g2p-en", "-o", tmp_path / "file"), "not an artifact")
    make_toy(tmp_path / "toy-art")
    assert_clean_error(cli("compile", "g2p-en", "-o", tmp_path / "toy-art"), "another model")
    assert verify_dir(str(tmp_path / "toy-art")) == [] and (tmp_path / "file").read_text() == "data"


def test_bad_target_and_missing_cross_compiler_leave_the_old_artifact(tmp_path, artifact_dir):
    out = tmp_path / "g2p"
    shutil.copytree(artifact_dir, out)
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    assert_clean_error(cli("compile", "g2p-en", "-o", out, "--target", "{not json"), "--target is not JSON")
    assert_clean_error(cli("compile", "g2p-en", "-o", out, "--target", '{"kind": "no-such-kind"}'),
                       "TVM does not accept the target")
    assert_clean_error(cli("compile", "g2p-en", "-o", out, "--cc", "no-such-cross-g++"), "not installed")
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before
    assert sorted(os.listdir(tmp_path)) == ["g2p"]  # no staging left behind


def test_compile_replaces_its_own_artifact(tmp_path, artifact_dir):
    out = tmp_path / "g2p"
    shutil.copytree(artifact_dir, out)
    old_inode = os.stat(out).st_ino
    r = cli("compile", "g2p-en", "-o", out, timeout=300)
    assert (r.returncode, r.stdout) == (0, f"{out}\n"), r.stderr
    assert verify_dir(str(out)) == [] and os.stat(out).st_ino != old_inode
    assert sorted(os.listdir(tmp_path)) == ["g2p"]


def staged_copy(artifact_dir, tmp_path):
    staging = tmp_path / ".staging-x"
    shutil.rmtree(staging, ignore_errors=True)  # left by a refused place_artifact (its caller cleans up)
    shutil.copytree(artifact_dir, staging)
    return str(staging)


def test_place_replaces_an_empty_dir_and_same_model_artifact(tmp_path, artifact_dir):
    out = tmp_path / "out"
    out.mkdir()
    assert place_artifact(staged_copy(artifact_dir, tmp_path), str(out), "g2p-en") == str(out)
    assert verify_dir(str(out)) == []
    (out / "g2p-en.so").write_bytes(b"broken")  # a corrupt artifact of the model is still replaced
    place_artifact(staged_copy(artifact_dir, tmp_path), str(out), "g2p-en")
    assert verify_dir(str(out)) == [] and sorted(os.listdir(tmp_path)) == ["out"]


def test_place_with_force_moves_user_files_aside(tmp_path, artifact_dir):
    out = tmp_path / "out"
    make_toy(out, name="g2p-en")
    (out / "notes.txt").write_text("mine")  # an artifact of the model plus a user file: not ours to delete
    said = []
    with pytest.raises(OutputDirectoryError):
        place_artifact(staged_copy(artifact_dir, tmp_path), str(out), "g2p-en")
    place_artifact(staged_copy(artifact_dir, tmp_path), str(out), "g2p-en", force=True, announce=said.append)
    [aside] = [n for n in os.listdir(tmp_path) if n.startswith("out.replaced-")]
    assert (tmp_path / aside / "notes.txt").read_text() == "mine"
    assert str(tmp_path / aside) in said[0] and "nothing was deleted" in said[0]
    assert verify_dir(str(out)) == []


def test_place_with_force_replaces_another_models_artifact(tmp_path, artifact_dir):
    out = tmp_path / "out"
    make_toy(out)
    with pytest.raises(OutputDirectoryError, match="another model"):
        place_artifact(staged_copy(artifact_dir, tmp_path), str(out), "g2p-en")
    place_artifact(staged_copy(artifact_dir, tmp_path), str(out), "g2p-en", force=True)
    assert verify_dir(str(out)) == [] and sorted(os.listdir(tmp_path)) == ["out"]


# -- fuzzing --------------------------------------------------------------------------------------

def fuzz_seconds(default):
    return float(os.environ.get("EDGE_VEDA_FUZZ_SECONDS", default))


ODD_VALUES = [None, True, False, 0, -1, 2 ** 70, -(2 ** 70), 1.5, float("inf"), "", "../x", "a/b", ".h",
              "x" * 300, "\0", "\ud800", "ab" * 32, "AB" * 32, [], {}, [1, "x"], {"a": None},
              "file:///etc/passwd", "http://127.0.0.1:1/x", "ftp://h/x", "C:\\x", "toy", "http://[",
              "file://otherhost/x", "//host/x", "?x#y"]


def _mutate(rng, node, depth=0):
    """Replaces, deletes or adds one value somewhere in the JSON tree `node`."""
    if isinstance(node, dict) and node and (depth < 4 and rng.random() < 0.7):
        k = rng.choice(list(node))
        r = rng.random()
        if r < 0.15:
            del node[k]
        elif r < 0.25:
            node[rng.choice(["name", "file", "size", "url", "sha256", "models", "extra"])] = rng.choice(ODD_VALUES)
        elif r < 0.6:
            node[k] = copy.deepcopy(rng.choice(ODD_VALUES))
        else:
            _mutate(rng, node[k], depth + 1)
    elif isinstance(node, list) and node and depth < 4 and rng.random() < 0.7:
        i = rng.randrange(len(node))
        r = rng.random()
        if r < 0.2:
            node.insert(i, copy.deepcopy(rng.choice(ODD_VALUES + [node[i]])))
        elif r < 0.3:
            del node[i]
        else:
            _mutate(rng, node[i], depth + 1)


def _mutate_bytes(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        i = rng.randrange(len(b) + 1)
        if op < 0.4 and b:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op < 0.6:
            b[i:i] = rng.choice([b"\xff", b"\0", b"[", b"{", b'"', b"\\u0000", b"9" * 30, b"-", b"e999"])
        elif op < 0.8 and b:
            del b[i:i + rng.randint(1, 8)]
        else:
            j = rng.randrange(len(b) + 1)
            b[i:i] = b[j:j + rng.randint(1, 16)]
    return bytes(b)


BASE_CATALOG = {"catalog_version": 1, "models": [
    {"name": "g2p-en", "version": "2.1.0", "kind": "g2p", "abi_version": 1, "arch": "x86_64",
     "target": {"kind": "llvm", "mcpu": "znver4"},
     "file": {"url": "g2p-en-2.1.0-x86_64.tar", "size": 2099200, "sha256": "cd" * 32}},
    {"name": "toy", "version": "1", "kind": "test", "abi_version": 1, "arch": None, "target": None, "file": None},
]}


def _check_entries(entries, base):
    """What parse promises about whatever it accepts."""
    for e in entries:
        catalog.check_name(e.name)
        assert isinstance(e.abi_version, int) and isinstance(e.version, str) and isinstance(e.kind, str)
        if e.file is not None:
            assert isinstance(e.file.size, int) and e.file.size >= 0
            assert len(e.file.sha256) == 64 and e.file.sha256 == e.file.sha256.lower()
            if base.startswith("http"):
                assert e.file.url.startswith(("http://", "https://")), e.file.url


def test_fuzz_catalog_parser():
    seed = int(os.environ.get("EDGE_VEDA_FUZZ_SEED", "20261123"))
    rng = random.Random(seed)
    deadline = time.monotonic() + fuzz_seconds(10)
    n = rejected = 0
    crashes = []
    while time.monotonic() < deadline:
        doc = copy.deepcopy(BASE_CATALOG)
        for _ in range(rng.randint(1, 3)):
            _mutate(rng, doc)
        base = rng.choice(["/srv/catalog.json", "http://127.0.0.1:1/c/catalog.json", "file:///srv/catalog.json"])
        try:
            data = json.dumps(doc).encode("utf-8", "surrogatepass")
        except ValueError:  # inf/nan are not JSON; still valid Python input for parse()
            data = None
        if data is not None and rng.random() < 0.5:
            data = _mutate_bytes(rng, data)
        n += 1
        try:
            entries = catalog.parse(doc, base) if data is None else catalog.loads(data, base)
            _check_entries(entries, base)
        except CatalogError:
            rejected += 1
        except Exception as e:  # anything else is a bug: keep the input to reproduce it
            crashes.append((n, repr(e), data if data is not None else repr(doc)))
    print(f"\ncatalog fuzz: {n} iterations (seed {seed}), {rejected} rejected with CatalogError, "
          f"{len(crashes)} crashes")
    assert n > 100 and 0 < rejected < n
    assert not crashes, crashes[:3]


def _tar_variants(tmp_path):
    art = make_toy(tmp_path / "fuzz-art", payload=b"p" * 3000)
    archive.pack(art, str(tmp_path / "f.tar"))
    plain = (tmp_path / "f.tar").read_bytes()
    return [plain, gzip.compress(plain), lzma.compress(plain)]


def _mutate_tar(rng, data: bytes) -> bytes:
    b = bytearray(data)
    r = rng.random()
    if r < 0.3:  # rewrite one header field and fix the checksum, so tarfile reads further
        headers = [i for i in range(0, len(b) - 512, 512) if b[i + 257:i + 262] == b"ustar"]
        if headers:
            h = rng.choice(headers)
            field = rng.choice([(0, 100), (100, 8), (124, 12), (156, 1), (157, 100), (345, 155)])
            value = rng.choice([b"../escape", b"/abs", b"a/../../b", b"\0", b"77777777777", b"-1",
                                b"2", b"3", b"4", b"6", b"1", b"L", b"x", b"manifest.json", b"..", b"\xff\xfe"])
            b[h + field[0]:h + field[0] + field[1]] = value[:field[1]].ljust(field[1], b"\0")
            b[h + 148:h + 156] = b" " * 8
            b[h + 148:h + 156] = b"%06o\0 " % sum(b[h:h + 512])
    elif r < 0.6:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] = rng.randrange(256)
    elif r < 0.8:
        del b[rng.randrange(len(b)):]
    else:
        i = rng.randrange(len(b))
        b[i:i] = os.urandom(rng.randint(1, 600))
    return bytes(b)


def test_fuzz_archive_extract(tmp_path):
    seed = int(os.environ.get("EDGE_VEDA_FUZZ_SEED", "20261123"))
    rng = random.Random(seed)
    variants = _tar_variants(tmp_path)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    tar_path = tmp_path / "mutated.tar"
    deadline = time.monotonic() + fuzz_seconds(5)
    n = rejected = 0
    crashes = []
    while time.monotonic() < deadline:
        data = _mutate_tar(rng, rng.choice(variants))
        tar_path.write_bytes(data)
        staging = sandbox / "staging"
        staging.mkdir()
        n += 1
        try:
            archive.extract(str(tar_path), str(staging))
        except (ArchiveError, DiskSpaceError):
            rejected += 1
        except Exception as e:
            crashes.append((n, repr(e), data))
        escaped = [p for p in os.listdir(sandbox) if p != "staging"]
        if escaped:
            crashes.append((n, f"wrote outside staging: {escaped}", data))
        for d, ds, fs in os.walk(staging):  # only regular files and directories, all inside
            for f in fs:
                p = os.path.join(d, f)
                if os.path.islink(p) or not os.path.isfile(p):
                    crashes.append((n, f"non-regular {p}", data))
        shutil.rmtree(staging)
        for p in escaped:
            shutil.rmtree(sandbox / p, ignore_errors=True)
    print(f"\narchive fuzz: {n} iterations (seed {seed}), {rejected} rejected, {len(crashes)} crashes")
    assert n > 50 and 0 < rejected < n
    assert not crashes, [c[:2] for c in crashes[:3]]


def test_trickling_catalog_server_hits_the_deadline(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "HTTP_DEADLINE_S", 0.5)
    with FaultServer() as server:
        server.files["/catalog.json"] = b" " * 1_000_000  # sent in 16 KiB chunks, 0.3 s apart: 18 s
        server.chunk_delay = 0.3
        t = time.monotonic()
        with pytest.raises(CatalogError, match="not complete after"):
            catalog.load(server.base + "/catalog.json")
        assert time.monotonic() - t < 0.3 * 62 / 2  # well before the whole trickle


def test_unwritable_cache_and_pack_output_are_clean_errors(tmp_path):
    cat = packed_toy(tmp_path)
    (tmp_path / "file").write_text("x")
    assert_clean_error(cli("models", "--catalog", cat, "pull", "toy", home=tmp_path / "file"),
                       "cannot create the cache directory")
    assert_clean_error(cli("models", "pack", tmp_path / "art-toy", "-o", tmp_path / "file"), "cannot create")


# -- hints for OS errors; verify of a directory ------------------------------------------------

def test_stdout_on_a_full_disk_gets_a_hint(tmp_path):
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "edge_veda", "status"], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=60, env=dict(os.environ, EDGE_VEDA_HOME=str(tmp_path / "h")))
    assert_clean_error(r, "No space left on device", "hint: the output could not be written")


@pytest.mark.parametrize("home", ["file", "/proc/self"])
def test_edge_veda_home_that_cannot_hold_the_cache_gets_a_hint(tmp_path, home):
    if home == "file":
        home = tmp_path / "a-file"
        home.write_text("x")
    r = cli("g2p", "hello", home=home, timeout=60)
    assert_clean_error(r, "EDGE_VEDA_HOME")


def test_cli_verify_accepts_an_artifact_directory(tmp_path, artifact_dir):
    r = cli("models", "verify", artifact_dir)
    assert (r.returncode, r.stdout.strip()) == (0, f"{artifact_dir}: ok"), r.stderr
    copy = tmp_path / "copy"
    shutil.copytree(artifact_dir, copy)
    reseal_with(str(copy), lambda m: m["module"].__setitem__("library", "nothere.so"))
    r = cli("models", "verify", copy)
    assert r.returncode == 1 and "CORRUPT" in r.stdout and "module.library" in r.stdout, r.stdout
    assert "hint: rebuild it" in r.stderr and "Traceback" not in r.stderr
    reseal_with(str(copy), lambda m: (m["module"].__setitem__("library", "g2p-en.so"),
                                      m.__setitem__("format_version", 1)))
    r = cli("models", "verify", "./copy", cwd=tmp_path)  # a relative directory
    assert r.returncode == 1 and "format" in r.stdout, r.stdout
    assert_clean_error(cli("models", "verify", tmp_path / "nope"), "is not a directory")
    r = cli("models", "verify", "--help")
    assert r.returncode == 0 and "NAME_OR_DIR" in r.stdout and "artifact directory" in r.stdout
