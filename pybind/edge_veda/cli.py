"""The `edge-veda` command line."""
from __future__ import annotations

import argparse
import json
import sys


def _cmd_g2p(args) -> int:
    from .model import Model

    with Model.load(args.model, num_threads=args.threads) as model:
        out = sys.stdout
        if args.words == ["-"]:
            for line in sys.stdin:
                word = line.strip()
                if word:
                    out.write(f"{word}\t{model.generate(word)}\n")
        else:
            for word in args.words:
                out.write(f"{word}\t{model.generate(word)}\n")
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

    target = json.loads(args.target) if args.target else None
    path = compile_model(args.model, args.output, target=target)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="edge-veda", description="Run TVM-compiled on-device models.")
    sub = ap.add_subparsers(dest="command", required=True)

    g2p = sub.add_parser("g2p", help="English words to ARPAbet phonemes",
                         description="Prints one line per word: WORD<TAB>PHONEMES. "
                                     "With '-' reads one word per line from stdin.")
    g2p.add_argument("words", nargs="+", metavar="WORD", help="words, or '-' for stdin")
    g2p.add_argument("--model", default="g2p-en", help="model name or artifact directory")
    g2p.add_argument("--threads", type=int, default=0, help="kernel threads (0 = default)")
    g2p.set_defaults(func=_cmd_g2p)

    st = sub.add_parser("status", help="library, ABI and TVM versions; cache location")
    st.set_defaults(func=_cmd_status)

    comp = sub.add_parser("compile", help="build a model artifact with TVM")
    from .compile import MODELS

    comp.add_argument("model", choices=MODELS, help="model to build")
    comp.add_argument("-o", "--output", required=True, help="artifact directory to write")
    comp.add_argument("--target", help='TVM target as JSON, e.g. \'{"kind": "llvm", "mcpu": "znver4"}\' '
                                       "(default: this machine's CPU)")
    comp.set_defaults(func=_cmd_compile)
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
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
