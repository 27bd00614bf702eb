"""lsp/config.py defines each setting once; the README's table and the VS Code manifest
repeat its keys and defaults for people and for VS Code, and must say the same."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lsp.config import SETTINGS, Config

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"

# `tactful.*` properties of package.json that only the extension reads, never sent to the
# server: CLIENT_ONLY_SETTING_KEYS in editors/vscode/src/settings.ts.
CLIENT_ONLY = {"serverPath", "trace.server"}


def server_defaults() -> dict[str, Any]:
    """Each setting's default by client key, as JSON has it (a tuple is a list)."""
    config = Config()
    return {s.key: json.loads(json.dumps(getattr(config, name))) for name, s in SETTINGS.items()}


def readme_table() -> dict[str, Any]:
    """The README's "## Settings" table: each key's default, in the order of its rows."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section, flags=re.MULTILINE)
    assert rows, "no settings table in README.md's ## Settings"
    return {key: json.loads(default) for key, default in rows}


def ts_array(name: str) -> list[str]:
    """The strings of a `const NAME = [...]` in editors/vscode/src/settings.ts."""
    text = (VSCODE / "src" / "settings.ts").read_text(encoding="utf-8")
    found = re.search(rf"\b{name} = \[([^\]]*)\]", text)
    assert found, f"{name} not found in settings.ts"
    return re.findall(r"'([^']+)'", found.group(1))


def test_the_readme_lists_every_setting_with_its_default_in_order() -> None:
    table = readme_table()
    assert list(table) == list(server_defaults())
    assert table == server_defaults()


def test_the_vscode_manifest_has_every_setting_with_its_default() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    properties = manifest["contributes"]["configuration"]["properties"]
    keys = {k.removeprefix("tactful.") for k in properties}
    assert keys - CLIENT_ONLY == set(server_defaults())
    assert keys >= CLIENT_ONLY
    defaults = {key: properties[f"tactful.{key}"]["default"] for key in server_defaults()}
    assert defaults == server_defaults()


def test_the_extension_sends_the_server_settings_and_keeps_its_own() -> None:
    assert ts_array("SERVER_SETTING_KEYS") == list(server_defaults())
    assert ts_array("CLIENT_ONLY_SETTING_KEYS") == sorted({k.split(".")[0] for k in CLIENT_ONLY})


def test_every_setting_is_described_and_keyed_once() -> None:
    keys = [s.key for s in SETTINGS.values()]
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"[a-z][A-Za-z]*", k) for k in keys), "keys are camelCase"
    assert all(s.doc.endswith(".") and len(s.doc) > 10 for s in SETTINGS.values())
