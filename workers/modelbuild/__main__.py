"""CLI: `python -m workers.modelbuild --out models [--seed 0]` builds the model repository."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from workers.modelbuild.build import build_models


def main(argv: Sequence[str] | None = None) -> int:
    """Build every model into `--out` and print one line per model version."""
    parser = argparse.ArgumentParser(prog="python -m workers.modelbuild", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("models"), help="repository directory")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and training data")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    built = build_models(args.out, args.seed)
    elapsed = time.perf_counter() - started
    lines = [f"{'model':<10} {'version':<8} {'size':>10}  sha256"]
    lines.extend(f"{b.model:<10} {b.version:<8} {b.size:>10}  {b.sha256}" for b in built)
    lines.append(f"built {len(built)} model versions into {args.out} in {elapsed:.1f}s")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
