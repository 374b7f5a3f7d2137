"""The `edge-veda` command line."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _stdin_chunks():
    """Yields lists of words as they arrive on stdin: os.read returns what the pipe holds, so an
    interactive user gets each line answered at once and a large file goes in big batches."""
    fd = sys.stdin.fileno()
    pending = b""
    while True:
        data = os.read(fd, 1 << 16)
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        words = [w for w in (line.decode("utf-8").strip() for line in lines) if w]
        if words:
            yield words
    last = pending.decode("utf-8").strip()
    if last:
        yield [last]


def _cmd_g2p(args) -> int:
    from .model import Model

    with Model.load(args.model, num_threads=args.threads) as model:
        out = sys.stdout
        if args.words == ["-"]:
            for words in _stdin_chunks():
                for word, phonemes in zip(words, model.generate_batch(words)):
                    out.write(f"{word}\t{phonemes}\n")
                out.flush()
        else:
            for word, phonemes in zip(args.words, model.generate_batch(args.words)):
                out.write(f"{word}\t{phonemes}\n")
        out.flush()
    return 0


def _cmd_status(args) -> int:
    import os

    from . import ABI_VERSION, __version__, runtime_version
    from .artifacts import cache_root, local_build_dir
    from .config import library_dir

    print(f"edge-veda {__version__}")
    print(f"abi: {ABI_VERSION}")
    print(f"tvm runtime: {runtime_version()}")
    print(f"library: {library_dir()}")
    print(f"cache: {cache_root()}")
    built = local_build_dir("g2p-en")
    state = "compiled" if os.path.isfile(os.path.join(built, "manifest.json")) else "not compiled yet"
    print(f"g2p-en: {state} ({built})")
    return 0


def _cmd_compile(args) -> int:
    from .compile import compile_model
    from .errors import InvalidArgumentError

    target = None
    if args.target:
        try:
            target = json.loads(args.target)
        except ValueError as e:
            raise InvalidArgumentError(f"--target is not JSON ({e})", 'e.g. --target \'{"kind": "llvm", "mcpu": "znver4"}\'') from None
    path = compile_model(args.model, args.output, target=target, cc=args.cc, force=args.force)
    print(path)
    return 0


def _manager(args):
    from .models import ModelManager

    return ModelManager(catalog_location=args.catalog, catalog_sha256=getattr(args, "catalog_sha256", None))


def _progress_printer(name: str):
    """A tqdm bar on a terminal; plain lines (every 10%, or every 10 MB without a length) otherwise."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc=name, unit="B", unit_scale=True, file=sys.stderr)

        def on_progress(p):
            bar.total = p.total
            bar.n = p.bytes_done
            bar.refresh()
            if p.done:
                bar.close()
        return on_progress
    last = [-1]

    def on_progress(p):
        step = (p.bytes_done * 10 // p.total) if p.total else p.bytes_done // (10 << 20)
        if step != last[0] or p.done:
            last[0] = step
            total = f"/{p.total}" if p.total else ""
            print(f"{name}: {p.bytes_done}{total} bytes, {p.rate / 1e6:.1f} MB/s"
                  f"{' done' if p.done else ''}", file=sys.stderr, flush=True)
    return on_progress


def _cmd_models(args) -> int:
    from . import models

    mm = _manager(args)
    if args.action == "list":
        found = mm.list()
        for m in found:
            note = "\t(local build)" if m.local else (f"\t(broken: {m.problem})" if m.problem else "")
            print(f"{m.name}\t{m.version}\t{m.path}{note}")
        if not found:
            print("no models installed or built here (edge-veda models pull NAME; g2p-en is compiled "
                  "on first use: edge-veda g2p WORD)", file=sys.stderr)
        return 0
    if args.action == "pull":
        path = mm.pull(args.name, progress=_progress_printer(args.name))
        print(path)
        return 0
    if args.action == "verify":
        path, problems = mm.verify_report(args.name)
        if not problems:
            print(f"{args.name}: ok")
            return 0
        print(f"{args.name}: CORRUPT ({path})")
        for p in problems:
            print(f"  {p}")
        fix = (f"edge-veda models rm {args.name}, then pull it again" if path == mm.path(args.name)
               else f"delete {path}; it is rebuilt on next use")
        print(f"hint: {fix}", file=sys.stderr)
        return 1
    if args.action == "rm":
        if not mm.remove(args.name):
            built = mm.local_path(args.name)
            where = f"; its local build is {built} (delete that directory to rebuild it)" if built else ""
            print(f"{args.name} is not installed{where}", file=sys.stderr)
            return 1
        return 0
    if args.action == "path":
        print(mm.locate(args.name)[0])
        return 0
    if args.action == "pack":
        print(models.pack(args.artifact, args.output))
        return 0
    if args.action == "serve":
        from .models.server import make_server

        server = make_server(args.directory, args.host, args.port)
        host = args.host if args.host not in ("0.0.0.0", "::", "") else "THIS-MACHINE"
        url = f"http://{host}:{server.server_port}/catalog.json"
        print(f"serving {os.path.abspath(args.directory)} at {url}", file=sys.stderr)
        print(f"catalog sha256: {server.catalog_sha256}", file=sys.stderr)
        for name in server.catalog_names or ["NAME"]:
            print(f"pull with: edge-veda models pull {name} --catalog '{url}#sha256={server.catalog_sha256}'",
                  file=sys.stderr)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print("note: this is plain HTTP; anyone on the network can alter what it sends. Pull with the "
                  "#sha256= pin above (read it here, not over the network): the tarballs' hashes come "
                  "from the pinned catalog.", file=sys.stderr)
        sys.stderr.flush()
        try:
            server.serve_forever()
        finally:
            server.server_close()
        return 0
    raise AssertionError(args.action)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="edge-veda", description="Run TVM-compiled on-device models.")
    sub = ap.add_subparsers(dest="command", required=True)

    g2p = sub.add_parser("g2p", help="English words to ARPAbet phonemes",
                         description="Prints one line per word: WORD<TAB>PHONEMES. "
                                     "With '-' reads one word per line from stdin.")
    g2p.add_argument("words", nargs="+", metavar="WORD", help="words, or '-' for stdin")
    g2p.add_argument("--model", default="g2p-en", help="model name or artifact directory")
    g2p.add_argument("--threads", type=int, default=0,
                     help="threads decoding words in parallel (0 = one per core)")
    g2p.set_defaults(func=_cmd_g2p)

    st = sub.add_parser("status", help="library, ABI and TVM versions; cache location")
    st.set_defaults(func=_cmd_status)

    comp = sub.add_parser("compile", help="build a model artifact with TVM")
    from .compile import MODELS

    comp.add_argument("model", choices=MODELS, help="model to build")
    comp.add_argument("-o", "--output", required=True, help="artifact directory to write")
    comp.add_argument("--target", help='TVM target as JSON, e.g. \'{"kind": "llvm", "mcpu": "znver4"}\' '
                                       "(default: this machine's CPU)")
    comp.add_argument("--cc", help="C++ cross compiler linking the library, e.g. aarch64-linux-gnu-g++")
    comp.add_argument("--force", action="store_true",
                      help="replace an existing directory that is not an artifact of MODEL: an artifact "
                           "is replaced, anything else is moved aside to DIR.replaced-TIME (never deleted)")
    comp.set_defaults(func=_cmd_compile)

    mod = sub.add_parser("models", help="installed models, catalogs, downloads")
    mod.add_argument("--catalog", help="catalog URL or path, optionally URL#sha256=HEX "
                                       "(default: $EDGE_VEDA_CATALOG, else built in)")
    msub = mod.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="installed models and models built on this machine")
    for action, text in (("pull", "download, verify and install"),
                         ("verify", "re-hash an installed or locally built model"),
                         ("rm", "remove an installed model"),
                         ("path", "print an installed or locally built model's directory")):
        ap_ = msub.add_parser(action, help=text)
        ap_.add_argument("name")
        if action == "pull":
            # SUPPRESS: a --catalog given before `pull` must not be reset by this one's default
            ap_.add_argument("--catalog", default=argparse.SUPPRESS,
                             help="catalog URL or path, optionally URL#sha256=HEX")
            ap_.add_argument("--catalog-sha256", metavar="HEX",
                             help="the catalog's SHA-256 (as `models serve` prints it): a catalog with "
                                  "other bytes is refused before it is parsed")
    pk = msub.add_parser("pack", help="tar an artifact and write a catalog listing it")
    pk.add_argument("artifact", help="artifact directory")
    pk.add_argument("-o", "--output", required=True, help="directory for the tarball and catalog.json")
    sv = msub.add_parser("serve", help="serve a packed directory over HTTP (with Range support)")
    sv.add_argument("directory")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for the LAN: plain HTTP, "
                                                        "pull with the printed #sha256= pin)")
    sv.add_argument("--port", type=int, default=8000)
    mod.set_defaults(func=_cmd_models)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import EdgeVedaError

    try:
        return args.func(args)
    except EdgeVedaError as e:
        print(f"edge-veda: error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return 1
    except Exception as e:
        from .models import CatalogError, DownloadError
        from .models.archive import UnsafeArchiveError

        if not isinstance(e, (CatalogError, DownloadError, UnsafeArchiveError)):
            raise
        print(f"edge-veda: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
