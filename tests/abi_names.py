"""The functions include/edge_veda.h declares (shared by tests)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))


def header_functions():
    import abi

    with open(abi.HEADER) as f:
        return list(abi.parse_header(f.read())["functions"])
