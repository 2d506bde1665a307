"""The proto contracts: lint clean, and the committed Python code is what they generate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/generate_contracts.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        "packages/relint/src/relint/contracts differs from what proto/ generates; run "
        f"`uv run python scripts/generate_contracts.py`\n{result.stdout}{result.stderr}"
    )


def test_buf_lint_is_clean() -> None:
    assert BUF.exists(), "buf is missing: run `npm ci` (make install does)"
    result = subprocess.run(
        [str(BUF), "lint"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_domain_has_a_versioned_contract() -> None:
    found = sorted(
        p.relative_to(ROOT / "proto").as_posix() for p in ROOT.glob("proto/*/v1/*.proto")
    )
    assert found == [
        "ingest/v1/ingest.proto",
        "playbook/v1/playbook.proto",
        "scoring/v1/analysis.proto",
        "scoring/v1/scoring.proto",
    ]
