"""`edge-veda link-check` on REAL system-lib archives built by `edge-veda compile --static`:
two clean archives pass; the same prefix twice, a model archive bundling a runtime copy, a lost
lib0.o (ar x + ar rcs merge) and a non-model file each fail with their message. Plus parser
units for Mach-O (leading "_") and llvm-nm/GNU line forms."""
import os
import shutil
import subprocess
import sys

import pytest

from edge_veda import linkcheck as lc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NMS = [t for t in ("nm", "llvm-nm", "aarch64-linux-gnu-nm") if shutil.which(t)]


def _compile(tmp_path_factory, prefix):
    from edge_veda.compile import compile_model

    out = tmp_path_factory.mktemp("lc") / prefix
    return os.path.join(compile_model("g2p-en", str(out), static=True, prefix=prefix), "libg2p_en.a")


@pytest.fixture(scope="module")
def archive_a(tmp_path_factory):
    return _compile(tmp_path_factory, "ev_lca_g2p_")


@pytest.fixture(scope="module")
def archive_b(tmp_path_factory):
    return _compile(tmp_path_factory, "ev_lcb_g2p_")


@pytest.fixture(scope="module")
def archive_a_again(tmp_path_factory):
    return _compile(tmp_path_factory, "ev_lca_g2p_")


def _members(archive, into):
    os.makedirs(into, exist_ok=True)
    subprocess.run(["ar", "x", os.path.abspath(archive)], cwd=into, check=True)
    return sorted(os.listdir(into))


@pytest.fixture(scope="module")
def runtime_object(tmp_path_factory):
    d = tmp_path_factory.mktemp("rt")
    src = d / "fake_runtime.c"
    src.write_text("void* TVMBackendAllocWorkspace(int a, int b, unsigned long long n, int c, int d)"
                   " { (void)a; (void)b; (void)n; (void)c; (void)d; return 0; }\n")
    subprocess.run(["gcc", "-c", "-fPIC", str(src), "-o", str(d / "fake_runtime.o")], check=True)
    return str(d / "fake_runtime.o")


@pytest.fixture(scope="module")
def bundled(archive_a, runtime_object, tmp_path_factory):
    d = tmp_path_factory.mktemp("bundled")
    members = _members(archive_a, d / "x")
    out = str(d / "libg2p_bundled.a")
    subprocess.run(["ar", "rcs", out, *[str(d / "x" / m) for m in members], runtime_object], check=True)
    return out


@pytest.fixture(scope="module")
def merged(archive_a, archive_b, tmp_path_factory):
    """The classic mistake: unpack two model archives into one directory and re-archive."""
    d = tmp_path_factory.mktemp("merged")
    _members(archive_a, d / "x")
    members = _members(archive_b, d / "x")          # b's lib0.o overwrites a's
    # lib0.o once; each archive's <prefix>devc.o and <prefix>ev_register.o survive
    assert members.count("lib0.o") == 1 and len(members) == 5
    out = str(d / "libmodels.a")
    subprocess.run(["ar", "rcs", out, *[str(d / "x" / m) for m in members]], check=True)
    return out


@pytest.mark.parametrize("nm", NMS)
def test_two_clean_archives_pass(archive_a, archive_b, nm):
    r = lc.run([archive_a, archive_b], nm=nm)
    assert r.ok, r.problems
    assert r.lines == [f"{archive_a}: prefix ev_lca_g2p_ (3 kernels)",
                       f"{archive_b}: prefix ev_lcb_g2p_ (3 kernels)"]


@pytest.mark.parametrize("nm", NMS)
def test_same_prefix_twice(archive_a, archive_a_again, nm):
    r = lc.run([archive_a, archive_a_again], nm=nm)
    assert len(r.problems) == 1, r.problems
    p = r.problems[0]
    assert "duplicate prefix 'ev_lca_g2p_'" in p and archive_a in p and archive_a_again in p
    assert "ev_lca_g2p___tvm_ffi__library_bin" in p


def test_bundled_runtime(bundled, archive_b):
    r = lc.run([bundled, archive_b])
    assert len(r.problems) == 1, r.problems
    p = r.problems[0]
    assert p.startswith(f"{bundled}: bundles a TVM runtime / tvm-ffi copy")
    assert "TVMBackendAllocWorkspace (in fake_runtime.o)" in p


def test_runtime_on_purpose_passes(runtime_object, archive_a, archive_b):
    r = lc.run([archive_a, archive_b], [runtime_object])
    assert r.ok, r.problems
    assert r.lines[-1] == f"{runtime_object}: runtime (1 runtime symbols defined)"
    # ... but two runtime copies are one too many
    r = lc.run([archive_a], [runtime_object, runtime_object])
    assert any("TVMBackendAllocWorkspace' is defined in both" in p for p in r.problems), r.problems


def test_runtime_library_without_runtime_flag():
    import tvm_ffi

    so = os.path.join(os.path.dirname(tvm_ffi.__file__), "lib", "libtvm_ffi.so")   # stripped: nm -D
    (p,) = lc.run([so]).problems
    assert p.startswith(f"{so}: a runtime library, not a model archive (it defines TVMFFI")
    assert "--runtime FILE" in p
    r = lc.run([], [so])
    assert r.ok and r.lines[0].startswith(f"{so}: runtime (")


def test_lost_lib0(merged):
    r = lc.run([merged])
    assert len(r.problems) == 1, r.problems
    p = r.problems[0]
    assert p.startswith(f"{merged}: prefix 'ev_lca_g2p_' has ev_lca_g2p___tvm_ffi__library_bin "
                        "(in ev_lca_g2p_devc.o) but no ev_lca_g2p___tvm_ffi__library_ctx")
    assert "lib0.o" in p and "ar rcs" in p


def test_not_a_model_archive(runtime_object, archive_a, tmp_path):
    plain = tmp_path / "plain.c"
    plain.write_text("int plain_function(void) { return 1; }\n")
    subprocess.run(["gcc", "-c", str(plain), "-o", str(tmp_path / "plain.o")], check=True)
    r = lc.run([archive_a, str(tmp_path / "plain.o")])
    want = (f"{tmp_path / 'plain.o'}: not a model archive: no system-lib prefix (no "
            "*__tvm_ffi__library_bin symbol); pass a runtime library with --runtime FILE")
    assert r.problems == [want]


def test_missing_file_and_nm(archive_a, tmp_path):
    with pytest.raises(FileNotFoundError):
        lc.run([str(tmp_path / "nope.a")])
    with pytest.raises(FileNotFoundError, match="nm tool not found"):
        lc.run([archive_a], nm="no-such-nm-tool")


# --- parser units -------------------------------------------------------------------------------

MACHO = """\
/x/libg2p.a:lib0.o: 0000000000000000 T ___tvm_ffi_ev_g2p_gru_encoder
/x/libg2p.a:lib0.o: 0000000000001000 T ___tvm_ffi_ev_g2p_gru_greedy
/x/libg2p.a:lib0.o:                  U _TVMBackendAllocWorkspace
/x/libg2p.a:lib0.o:                  U _TVMFFIErrorSetRaisedFromCStrParts
/x/libg2p.a:lib0.o: 0000000000002000 S _ev_g2p___tvm_ffi__library_ctx
/x/libg2p.a:lib0.o: 0000000000000100 T ___extendhfsf2
/x/libg2p.a:ev_g2p_devc.o:                  U _TVMFFIEnvModRegisterSystemLibSymbol
/x/libg2p.a:ev_g2p_devc.o: 0000000000000000 S _ev_g2p___tvm_ffi__library_bin
"""


def test_parse_macho_leading_underscore():
    fs = lc.parse_nm(MACHO, "/x/libg2p.a")
    assert fs.macho
    assert fs.prefixes(lc.BIN_SUFFIX) == {"ev_g2p_": "ev_g2p_devc.o"}
    assert fs.prefixes(lc.CTX_SUFFIX) == {"ev_g2p_": "lib0.o"}
    assert fs.kernels("ev_g2p_") == ["gru_encoder", "gru_greedy"]
    assert fs.runtime_symbols() == {}
    assert lc.check([fs]).ok


def test_parse_macho_bundled_runtime_and_plain_nm_headers():
    # plain `nm libx.a` (no -A): "libx.a(member.o):" headers, Apple style
    text = ("\n/x/libbad.a(lib0.o):\n0000000000002000 S _ev_g2p___tvm_ffi__library_ctx\n"
            "\n/x/libbad.a(ev_g2p_devc.o):\n0000000000000000 S _ev_g2p___tvm_ffi__library_bin\n"
            "\n/x/libbad.a(c_api.o):\n0000000000000010 T _TVMFFIFunctionGetGlobal\n"
            "0000000000000020 T __ZN3tvm3ffi8Function9GetGlobalEv\n")
    fs = lc.parse_nm(text, "/x/libbad.a")
    assert fs.macho
    assert fs.runtime_symbols() == {"TVMFFIFunctionGetGlobal": "c_api.o",
                                    "_ZN3tvm3ffi8Function9GetGlobalEv": "c_api.o"}
    (p,) = lc.check([fs]).problems
    assert "defines TVMFFIFunctionGetGlobal (in c_api.o) and 1 other" in p


def test_parse_elf_gnu_form_is_not_macho():
    text = ("/y/liba.a:lib0.o:0000000000000000 V ev_a___tvm_ffi__library_ctx\n"
            "/y/liba.a:lib0.o:                 U TVMBackendAllocWorkspace\n"
            "/y/liba.a:ev_a_devc.o:0000000000000000 R ev_a___tvm_ffi__library_bin\n")
    fs = lc.parse_nm(text, "/y/liba.a")
    assert not fs.macho
    assert fs.prefixes(lc.BIN_SUFFIX) == {"ev_a_": "ev_a_devc.o"}
    assert fs.prefixes(lc.CTX_SUFFIX) == {"ev_a_": "lib0.o"}


def test_parse_elf_prefix_with_underscore():
    # an ELF prefix may itself start with "_": the unprefixed TVMFFI reference says ELF
    text = ("/y/liba.a:lib0.o:                 U TVMFFIErrorSetRaisedFromCStrParts\n"
            "/y/liba.a:lib0.o:0000000000000000 V _ev_a___tvm_ffi__library_ctx\n"
            "/y/liba.a:_ev_a_devc.o:0000000000000000 R _ev_a___tvm_ffi__library_bin\n")
    fs = lc.parse_nm(text, "/y/liba.a")
    assert not fs.macho and fs.prefixes(lc.BIN_SUFFIX) == {"_ev_a_": "_ev_a_devc.o"}


def test_same_file_twice(archive_a):
    (p,) = lc.run([archive_a, archive_a]).problems
    assert p == (f"{archive_a} is passed twice: its prefix 'ev_lca_g2p_' would be defined twice "
                 "(ev_lca_g2p___tvm_ffi__library_bin)")


def test_cli(archive_a, archive_b, archive_a_again):
    exe = [sys.executable, "-m", "edge_veda"]
    ok = subprocess.run([*exe, "link-check", archive_a, archive_b], check=False, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "prefix ev_lca_g2p_" in ok.stdout and "prefix ev_lcb_g2p_" in ok.stdout
    bad = subprocess.run([*exe, "link-check", "--nm", "nm", archive_a, archive_a_again],
                         check=False, capture_output=True, text=True)
    assert bad.returncode == 1 and "edge-veda: link-check: duplicate prefix 'ev_lca_g2p_'" in bad.stderr
    missing = subprocess.run([*exe, "link-check", "--nm", "no-such-nm", archive_a],
                             check=False, capture_output=True, text=True)
    assert missing.returncode == 1 and "nm tool not found" in missing.stderr


# --- files that are no archive, names that are not UTF-8 -----------------------------------------

def _link_check(*args):
    return subprocess.run([sys.executable, "-m", "edge_veda", "link-check", *args], check=False,
                          capture_output=True, timeout=120)


def test_a_huge_file_that_is_not_an_archive_is_refused_from_its_first_bytes(tmp_path):
    """nm read a 4 GB file of zeros for 29 s (4.2 GB of memory) before saying "not a model archive"."""
    big = tmp_path / "libbig.a"
    with open(big, "wb") as f:
        f.truncate(4 << 30)  # sparse: no disk space used
    with pytest.raises(lc.LinkCheckError) as e:
        lc.run([str(big)])
    assert e.value.message == f"{big}: not an archive, object file or library (it begins 00 00 00 00 00 00 00 00)"
    assert "--static" in e.value.hint and "--runtime" in e.value.hint
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    proc = _link_check(str(text))
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in err
    assert err.startswith(f"edge-veda: error: {text}: not an archive, object file or library (it begins "
                          "68 65 6c 6c 6f)\nhint: ")
    (tmp_path / "empty.a").write_bytes(b"")
    with pytest.raises(lc.LinkCheckError, match="empty.a: not an archive, object file or library .it is empty."):
        lc.run([], [str(tmp_path / "empty.a")])
    with pytest.raises(lc.LinkCheckError, match=f"{tmp_path}: not a regular file"):
        lc.run([str(tmp_path)])


def test_an_archive_too_large_to_be_a_model_is_refused(tmp_path):
    big = tmp_path / "libhuge.a"
    with open(big, "wb") as f:
        f.write(b"!<arch>\n")
        f.truncate(lc.MAX_FILE_BYTES + 1)
    with pytest.raises(lc.LinkCheckError, match=f"{big}: {lc.MAX_FILE_BYTES + 1} bytes, more than any model"):
        lc.run([str(big)])


def test_names_that_are_not_utf8_are_reported_readably(tmp_path):
    """A symbol and a member name with byte 0xff: nm's output was decoded as strict UTF-8 and the
    CLI said only "'utf-8' codec can't decode byte 0xff", naming no file."""
    src = tmp_path / "odd.c"
    src.write_bytes(b'int odd(void) __asm__("TVMBackend\xffOdd");\nint odd(void) { return 1; }\n')
    member = os.path.join(os.fsencode(tmp_path), b"m\xff.o")
    subprocess.run(["cc", "-c", str(src), "-o", member], check=True)
    archive = str(tmp_path / "libodd.a")
    subprocess.run(["ar", "rcs", archive, member], check=True)
    for nm in NMS[:2]:  # nm, llvm-nm: the two hosts' tools
        proc = _link_check("--nm", nm, archive)
        err = proc.stderr.decode("utf-8")  # readable: \xff written out, not a raw byte
        assert proc.returncode == 1 and "Traceback" not in err and "codec" not in err, err
        assert err == (f"edge-veda: link-check: {archive}: a runtime library, not a model archive (it defines "
                       "TVMBackend\\xffOdd (in m\\xff.o)); pass it with --runtime FILE if it is the one runtime "
                       "linked on purpose\n")
        # the same file as a runtime too: its report line on stdout is readable as well
        proc = _link_check("--nm", nm, "--runtime", archive, archive)
        assert proc.returncode == 1
        assert proc.stdout.decode("utf-8") == f"{archive}: runtime (1 runtime symbols defined)\n"
    # a path that is not UTF-8 either: matched against nm's output, reported readably
    odd_path = os.path.join(os.fsencode(tmp_path), b"lib\xff.a")
    os.symlink(archive, odd_path)
    r = lc.run([os.fsdecode(odd_path)])
    assert r.problems == [f"{tmp_path}/lib\\xff.a: a runtime library, not a model archive (it defines "
                          "TVMBackend\\xffOdd (in m\\xff.o)); pass it with --runtime FILE if it is the one runtime "
                          "linked on purpose"]
