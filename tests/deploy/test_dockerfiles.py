"""Each service's Dockerfile: hadolint clean, multi-stage, non-root, serving by default."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

SERVICES = ("ingest", "scoring", "playbook", "gateway")


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_finds_nothing(service: str, root: Path, tool: Callable[[str], str]) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "info", f"services/{service}/Dockerfile"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_and_non_root(service: str, root: Path) -> None:
    text = (root / "services" / service / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", text, re.MULTILINE)
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    runtime = text[text.rindex("\nFROM ") :]
    assert re.search(r"^USER 10001", runtime, re.MULTILINE), "the runtime stage runs as uid 10001"
    assert "uv sync" not in runtime, "no build tools in the final image"
    assert f'ENTRYPOINT ["{service}"]' in runtime
    assert 'CMD ["serve"]' in runtime
    assert "HEALTHCHECK" in runtime
