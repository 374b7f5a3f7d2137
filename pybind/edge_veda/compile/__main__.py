"""python -m edge_veda.compile MODEL -o DIR"""
import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["compile", *sys.argv[1:]]))
