"""`tactful index` and `tactful context` on a real workspace, as a user runs them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from lsp.cli import main

UTILS = textwrap.dedent('''\
    def parse_header(line: str, strict: bool = False) -> tuple[str, str]:
        """Split one header line into its name and value."""
        name, _, value = line.partition(":")
        return name.strip(), value.strip()
''')
APP = "from .utils import parse_header\n\n\ndef read(lines):\n    return [parse_header(\n"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TACTFUL_INDEX_DIR", str(tmp_path / "cache"))
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "utils.py").write_text(UTILS)
    (root / "pkg" / "app.py").write_text(APP)
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    (root / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    return root


def test_index_prints_statistics_and_keeps_the_index_out_of_the_tree(workspace: Path) -> None:
    result = CliRunner().invoke(main, ["index", str(workspace), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["stats"]["indexed"] == 2
    assert summary["stats"]["skipped"] == {"no_language": 1, "secret": 1}
    assert summary["stats"]["symbols"] >= 2
    assert workspace not in Path(summary["index"]).parents
    again = json.loads(CliRunner().invoke(main, ["index", str(workspace), "--json"]).output)
    assert again["report"]["unchanged"] == 2 and again["report"]["indexed"] == 0


@pytest.mark.model
def test_context_shows_the_definition_behind_an_import(workspace: Path,
                                                       default_model_path: Path) -> None:
    location = f"{workspace / 'pkg' / 'app.py'}:5:24"
    result = CliRunner().invoke(main, ["context", location, "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    assert "+ [definition] Definitions from pkg/utils.py" in result.output
    assert "def parse_header(line: str, strict: bool = False) -> tuple[str, str]:" in result.output
    assert "why: parse_header: imported from .utils" in result.output
    assert "name.strip()" not in result.output  # signatures, never bodies


def test_context_outside_the_workspace_is_a_clear_error(workspace: Path,
                                                        tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.py"
    other.write_text("x = 1\n")
    result = CliRunner().invoke(main, ["context", f"{other}:1:1", "--workspace",
                                       str(workspace)])
    assert result.exit_code != 0
    assert "is not inside the workspace" in result.output
