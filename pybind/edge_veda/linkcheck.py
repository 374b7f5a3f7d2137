"""`edge-veda link-check`: check system-lib model archives and runtime libraries BEFORE linking.

It reads `nm` output (host `nm`, `llvm-nm`, or a cross `aarch64-linux-gnu-nm`; ELF and Mach-O,
whose symbols carry a leading `_`) and reports what a linker reports late, silently or not at all:

(a) two files define one system-lib prefix (`<p>__tvm_ffi__library_bin` twice): with
    whole-archive a "multiple definition", without it the first archive silently wins;
(b) a model archive bundles a runtime / tvm-ffi copy: it DEFINES a runtime entry point
    (RUNTIME_ENTRY_PREFIXES below; weak C++ definitions excepted) that a clean model only
    references — two copies collide on iOS;
(c) an archive whose `<p>__tvm_ffi__library_bin` (member `<p>devc.o`) and
    `<p>__tvm_ffi__library_ctx` (member `lib0.o`) prefixes disagree or one is missing: the
    `lib0.o` of one model was overwritten by another in an `ar x` + `ar rcs` merge;
(d) a file with no system-lib prefix at all is not a model archive, unless it is passed with
    `--runtime` (libedge_veda.a, libtvm_runtime.a, libtvm_ffi_static.a), where runtime entry
    points are expected; two runtime files defining one entry point are reported too.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from .errors import InvalidArgumentError

BIN_SUFFIX = "__tvm_ffi__library_bin"
CTX_SUFFIX = "__tvm_ffi__library_ctx"
KERNEL_PREFIX = "__tvm_ffi_"
# A defined symbol starting with one of these is part of a runtime or tvm-ffi copy: the C entry
# points (TVMBackendParallelLaunch, TVMBackendAllocWorkspace, TVMFFIEnvModRegisterSystemLibSymbol,
# TVMFFIFunctionGetGlobal, TVMFFIErrorSetRaisedFromCStrParts, ...) and the C++ namespaces
# tvm::runtime / tvm::ffi (Itanium mangling). A model's objects only reference (U) them.
RUNTIME_ENTRY_PREFIXES = ("TVMFFI", "TVMBackend", "TVMArray", "TVMFunc", "TVMMod",
                          "_ZN3tvm7runtime", "_ZN3tvm3ffi")
# Present in every lib0.o as weak helpers; neither a runtime copy nor a conflict.
IGNORED = frozenset({"__extendhfsf2", "__truncsfhf2", "__gnu_h2f_ieee", "__gnu_f2h_ieee"})

# What nm reads: ar archives (GNU thin ones too), ELF objects and libraries, Mach-O (32/64-bit,
# either byte order, universal). Anything else is refused from its first bytes, before nm runs:
# nm reads a 4 GB file of zeros for half a minute before it gives up.
MAGICS = (b"!<arch>\n", b"!<thin>\n", b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe",
          b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
# Model archives are a few MB and runtime libraries tens of MB: far past this, it is not one.
MAX_FILE_BYTES = 2 << 30
FILE_HINT = ("pass the model archives `edge-veda compile NAME --static` wrote (libNAME.a), and runtime "
             "libraries with --runtime FILE")

_LINE = re.compile(r"^(?:[0-9a-fA-F]+\s+)?(?P<type>[A-Za-z?-])\s+(?P<sym>\S+)\s*$")


@dataclass
class Symbol:
    member: str      # archive member ("" for a plain object or shared library)
    type: str        # nm type letter: U undefined, T/D/B/R/V/W ... defined
    name: str        # as nm prints it (Mach-O: with its leading "_")

    @property
    def defined(self) -> bool:
        return self.type not in ("U", "w", "v", "?", "-")   # w/v: weak undefined


@dataclass
class FileSymbols:
    path: str
    symbols: list[Symbol] = field(default_factory=list)
    macho: bool = False

    def c_name(self, name: str) -> str:
        """The C-level name: Mach-O prefixes every C symbol with one "_"."""
        return name[1:] if self.macho and name.startswith("_") else name

    def defined(self):
        for s in self.symbols:
            if s.defined:
                yield s, self.c_name(s.name)

    def prefixes(self, suffix: str) -> dict[str, str]:
        """prefix -> member defining `<prefix><suffix>`."""
        return {n[: -len(suffix)]: s.member for s, n in self.defined() if n.endswith(suffix)}

    def runtime_symbols(self) -> dict[str, str]:
        """runtime entry point -> member defining it."""
        # Weak C++ definitions (inline functions, templates of the tvm-ffi headers) are merged by
        # the linker and come with any code that uses the headers: not a runtime copy.
        return {n: s.member for s, n in self.defined()
                if n not in IGNORED and n.startswith(RUNTIME_ENTRY_PREFIXES)
                and not (n.startswith("_ZN") and s.type in "WV")}

    def kernels(self, prefix: str) -> list[str]:
        head = KERNEL_PREFIX + prefix
        return sorted(n[len(head):] for s, n in self.defined() if n.startswith(head))


def _looks_macho(symbols: list[Symbol]) -> bool:
    # Every C symbol gets one "_" on Mach-O: a model's references to the tvm-ffi entry points,
    # or a runtime's definitions of them, show it; ELF has none of these names with a "_".
    for s in symbols:
        n = s.name
        if n.startswith(("TVMFFI", "TVMBackend")):
            return False
        if n.startswith(("_TVMFFI", "_TVMBackend", "___tvm_ffi_", "__ZN")) or n in ("_memcpy", "_memset"):
            return True
        if n.endswith((BIN_SUFFIX, CTX_SUFFIX)) and not n.startswith("_"):
            return False
    return False


def parse_nm(text: str, path: str = "") -> FileSymbols:
    """Parse `nm -A` (or plain `nm`) output of one file: lines `PATH:MEMBER:ADDR T NAME`
    (GNU; llvm-nm puts a space after the colon),
    `PATH: ADDR T NAME`, `ADDR T NAME` or `         U NAME`; `MEMBER:` headers and blank lines
    of plain `nm` on an archive set the member. Works for GNU nm, llvm-nm and Apple nm."""
    fs = FileSymbols(path)
    member = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("(for architecture"):
            continue
        rest = line
        if path and rest.startswith(path + ":"):
            rest = rest[len(path) + 1:]
            if _LINE.match(rest.strip()):       # "PATH: ADDR T NAME": an object or a library
                member = ""
            else:                               # "PATH:MEMBER:[ ]ADDR T NAME": an archive member
                head, _, rest = rest.partition(":")
                member = head.strip()
        elif rest.endswith(":") and " " not in rest:   # "member.o:" header of plain nm on an archive
            member = os.path.basename(rest[:-1].split("(")[-1].rstrip(")"))
            continue
        m = _LINE.match(rest.strip())
        if m:
            fs.symbols.append(Symbol(member, m.group("type"), m.group("sym")))
    fs.macho = _looks_macho(fs.symbols)
    return fs


def default_nm() -> str:
    return "llvm-nm" if shutil.which("llvm-nm") else "nm"


class LinkCheckError(InvalidArgumentError):
    """A file link-check cannot read: not an archive or object file, too large, or nm failed."""


def _readable(text: str) -> str:
    """`text` with the bytes that were not UTF-8 (kept as surrogates) shown as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_file(path: str) -> None:
    """Refuses (LinkCheckError) a file that is no archive or object file, from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(8)
        size = os.fstat(f.fileno()).st_size
    if not head.startswith(MAGICS):
        begins = f"it begins {head.hex(' ')}" if head else "it is empty"
        raise LinkCheckError(f"{_readable(path)}: not an archive, object file or library ({begins})", FILE_HINT)
    if size > MAX_FILE_BYTES:
        raise LinkCheckError(f"{_readable(path)}: {size} bytes, more than any model archive or runtime "
                             f"library (over {MAX_FILE_BYTES >> 30} GiB)", FILE_HINT)


def read_file(path: str, nm: str) -> FileSymbols:
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file", path)
    if not os.path.isfile(path):  # a directory or a device: nothing nm could read as an archive
        raise LinkCheckError(f"{_readable(path)}: not a regular file", FILE_HINT)
    if not shutil.which(nm):
        raise FileNotFoundError(2, f"nm tool not found: {nm} (pass --nm, e.g. --nm llvm-nm)", nm)
    check_file(path)
    fs = None
    for extra in ([], ["-D"]):                # a stripped .so has only its dynamic symbols
        p = subprocess.run([nm, "-A", *extra, path], check=False, capture_output=True)
        # Names are bytes: kept as surrogates (the path given matches), shown as \xNN in reports.
        out = p.stdout.decode("utf-8", "surrogateescape")
        if p.returncode != 0 and not out:
            if extra:
                break
            why = p.stderr.decode("utf-8", "replace").strip() or f"exit {p.returncode}"
            raise LinkCheckError(f"{_readable(path)}: {nm} cannot read it: {_readable(why)}",
                                 f"check that {nm} reads this file's format (e.g. --nm llvm-nm, or the "
                                 "cross nm of its target); " + FILE_HINT)
        fs = parse_nm(out, path)
        if fs.symbols:
            break
        unreadable = p.stderr.decode("utf-8", "replace")
        if "format not recognized" in unreadable:  # GNU nm on Mach-O members: exit 0, no symbols
            why = _readable(unreadable.strip().splitlines()[0])
            raise LinkCheckError(f"{_readable(path)}: {nm} cannot read it: {why}",
                                 "Mach-O archives (macOS, iOS) need an nm that reads Mach-O: --nm llvm-nm "
                                 "(apt-get install llvm) or Apple's nm; " + FILE_HINT)
    return fs or FileSymbols(path)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _where(fs: FileSymbols, member: str) -> str:
    return f"{fs.path}({member})" if member else fs.path


def check(models: list[FileSymbols], runtimes: list[FileSymbols] = ()) -> Report:
    r = Report()
    bin_owner: dict[str, tuple[FileSymbols, str]] = {}
    rt_owner: dict[str, tuple[FileSymbols, str]] = {}
    for fs in [*models, *runtimes]:
        is_runtime = any(fs is x for x in runtimes)
        bins, ctxs = fs.prefixes(BIN_SUFFIX), fs.prefixes(CTX_SUFFIX)
        rt = fs.runtime_symbols()
        for p, member in sorted(bins.items()):
            if p in bin_owner:                                                     # (a)
                other, om = bin_owner[p]
                if os.path.realpath(other.path) == os.path.realpath(fs.path):
                    r.problems.append(f"{fs.path} is passed twice: its prefix '{p}' would be "
                                      f"defined twice ({p}{BIN_SUFFIX})")
                    continue
                r.problems.append(
                    f"duplicate prefix '{p}': {_where(other, om)} and {_where(fs, member)} both "
                    f"define {p}{BIN_SUFFIX}; rebuild one with a different --prefix "
                    f"(edge-veda compile NAME --static --prefix OTHER_)")
            else:
                bin_owner[p] = (fs, member)
        for p in sorted(set(bins) | set(ctxs)):                                    # (c)
            if p not in ctxs:
                r.problems.append(
                    f"{fs.path}: prefix '{p}' has {p}{BIN_SUFFIX} (in {bins[p]}) but no "
                    f"{p}{CTX_SUFFIX}: its kernel object (lib0.o) is missing, likely overwritten "
                    f"by another archive's lib0.o in an `ar x` + `ar rcs` merge; link the model "
                    f"archives separately instead of merging them")
            elif p not in bins:
                r.problems.append(
                    f"{fs.path}: prefix '{p}' has {p}{CTX_SUFFIX} (in {ctxs[p]}) but no "
                    f"{p}{BIN_SUFFIX}: its {p}devc.o is missing; rebuild the archive")
        if is_runtime:
            for name, member in sorted(rt.items()):
                if name in rt_owner:
                    other, om = rt_owner[name]
                    r.problems.append(
                        f"runtime symbol '{name}' is defined in both {_where(other, om)} and "
                        f"{_where(fs, member)}: link one runtime copy")
                else:
                    rt_owner[name] = (fs, member)
        elif rt:
            first = min(rt, key=lambda n: (not n.startswith("TVM"), n))
            what = (f"it defines {first}" + (f" (in {rt[first]})" if rt[first] else "")
                    + (f" and {len(rt) - 1} other runtime symbol(s)" if len(rt) > 1 else ""))
            if bins or ctxs:                                                        # (b)
                r.problems.append(
                    f"{fs.path}: bundles a TVM runtime / tvm-ffi copy: {what}; a model archive "
                    f"must only reference them. Rebuild it without the runtime and link one runtime")
            else:                                                                   # (d)
                r.problems.append(
                    f"{fs.path}: a runtime library, not a model archive ({what}); pass it with "
                    f"--runtime FILE if it is the one runtime linked on purpose")
        if not bins and not ctxs and not is_runtime and not rt:                    # (d)
            r.problems.append(
                f"{fs.path}: not a model archive: no system-lib prefix (no "
                f"*{BIN_SUFFIX} symbol); pass a runtime library with --runtime FILE")
        if bins or ctxs:
            parts = []
            for p in sorted(set(bins) | set(ctxs)):
                parts.append(f"{p} ({len(fs.kernels(p))} kernels)")
            r.lines.append(f"{fs.path}: prefix {', '.join(parts)}")
        if is_runtime:
            r.lines.append(f"{fs.path}: runtime ({len(rt)} runtime symbols defined)")
    r.problems = [_readable(p) for p in r.problems]
    r.lines = [_readable(line) for line in r.lines]
    return r


def run(files: list[str], runtimes: list[str] = (), nm: str | None = None) -> Report:
    nm = nm or default_nm()
    return check([read_file(f, nm) for f in files], [read_file(f, nm) for f in runtimes])
