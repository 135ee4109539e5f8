"""Generate (or check) the Python code for the wire contract.

proto/ is the only source of the contract; the generated modules are committed so
that services install without a compiler. ``--check`` regenerates into a scratch
folder and fails when the committed code has drifted from proto/.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
GENERATED_PACKAGE = "stigma"


def generate(out_dir: Path) -> list[Path]:
    """Run protoc on every .proto under proto/ and return the generated files."""
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            *sources,
        ]
    )
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    return sorted(p for p in out_dir.rglob("*") if p.suffix in {".py", ".pyi"})


def check(committed: Path) -> int:
    """Compare a fresh generation with the committed code; print what differs."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh_root = Path(scratch)
        fresh = {p.relative_to(fresh_root) for p in generate(fresh_root)}
        # Only the generated package: the lib also holds hand-written code (stigma_wire).
        present = {
            p.relative_to(committed)
            for p in (committed / GENERATED_PACKAGE).rglob("*")
            if p.suffix in {".py", ".pyi"} and p.name != "__init__.py"
        }
        problems = [f"missing: {p}" for p in sorted(fresh - present)]
        problems += [f"not generated from proto/: {p}" for p in sorted(present - fresh)]
        problems += [
            f"differs: {p}"
            for p in sorted(fresh & present)
            if not filecmp.cmp(fresh_root / p, committed / p, shallow=False)
        ]
    for line in problems:
        print(f"proto drift: {line}", file=sys.stderr)
    if problems:
        print("run `make proto` and commit the result", file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if committed code drifted")
    args = parser.parse_args()
    if args.check:
        return check(args.out_dir)
    for path in generate(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
