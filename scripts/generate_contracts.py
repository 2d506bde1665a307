"""Generates the Python gRPC contracts from proto/ into relint.contracts.

The proto files live under proto/<domain>/v1 (buf's module root is proto/), and are mapped
onto the virtual root relint/contracts with protoc's VIRTUAL=DISK include form. The generated
modules therefore import each other as relint.contracts.<domain>.v1 without any patching.

    python scripts/generate_contracts.py          # regenerate in place
    python scripts/generate_contracts.py --check  # exit 1 if regenerating would change anything
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE_SRC = ROOT / "packages" / "relint" / "src"
VIRTUAL_ROOT = "relint/contracts"
TARGET = PACKAGE_SRC / VIRTUAL_ROOT


def generate(out_dir: Path) -> None:
    protos = sorted(PROTO_ROOT.glob("*/v*/*.proto"))
    if not protos:
        raise SystemExit("no .proto files under proto/")
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{VIRTUAL_ROOT}={PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(f"{VIRTUAL_ROOT}/{p.relative_to(PROTO_ROOT).as_posix()}" for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Packages, not namespace packages, so that type checkers and wheels see them.
    generated = out_dir / VIRTUAL_ROOT
    for folder in [generated, *[p for p in generated.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()


def differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    found = [f"only in committed: {n}" for n in cmp.left_only]
    found += [f"missing: {n}" for n in cmp.right_only]
    found += [f"changed: {n}" for n in cmp.diff_files]
    for name, sub in cmp.subdirs.items():
        found += [f"{name}/{d}" for d in differences(left / name, right / name)]
        del sub
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out)
        fresh = out / VIRTUAL_ROOT
        if check:
            diff = differences(TARGET, fresh) if TARGET.exists() else ["relint/contracts missing"]
            for line in diff:
                print(line, file=sys.stderr)
            return 1 if diff else 0
        if TARGET.exists():
            shutil.rmtree(TARGET)
        shutil.copytree(fresh, TARGET)
    print(f"generated {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
