"""The ``echoroom`` command. Each subcommand parses its options here and calls the library.

Imports of heavy modules (torch, transformers) happen inside the subcommand that needs them, so
``echoroom --help`` and the light subcommands start fast.
"""

from __future__ import annotations

import argparse
import sys


def _predict(args) -> int:
    from echoroom.labels import LABELS
    from echoroom.model import LensSet, default_lens_folders

    lenses = LensSet(default_lens_folders(args.lenses))
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    probs = lenses.predict(texts)
    for i, text in enumerate(texts):
        print(f"\n{text}")
        for name in lenses.names:
            row = probs[name][i]
            order = row.argsort()[::-1]
            labels = ", ".join(lenses.label_sets(name, row[None])[0])
            print(f"  {name:<7} {LABELS[order[0]]:<9} {row[order[0]]:.2f}   labels: {labels}")
            bars = "  ".join(f"{LABELS[j]} {row[j]:.2f}" for j in order[:5])
            print(f"          {bars}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="echoroom", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="show both lenses' emotions for some text")
    p.add_argument("text", nargs="*", help="texts to read (default: one per line on stdin)")
    p.add_argument("--lenses", help="folder holding author/ and reader/ lens folders")
    p.set_defaults(func=_predict)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
