"""Library hygiene: the shared library exports exactly the ev_* functions."""
import re
import subprocess

from edge_veda import config


def exported(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def test_shared_library_exports_only_ev_functions():
    import os

    from abi_names import header_functions

    names = exported(os.path.join(config.library_dir(), "libedge_veda.so"))
    assert names and all(re.fullmatch(r"ev_\w+", n) for n in names), [n for n in names if not n.startswith("ev_")]
    assert sorted(names) == sorted(header_functions())
