"""Write (or `--check`) every file derived from the function registry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.manifest import generated_files

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a committed file drifts")
    args = parser.parse_args()
    drifted = []
    for relative, content in generated_files().items():
        path = ROOT / relative
        if args.check:
            if not path.exists() or path.read_text() != content:
                drifted.append(relative)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            print(f"wrote {relative}")
    if drifted:
        print("out of date (run `make generate`): " + ", ".join(drifted), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
