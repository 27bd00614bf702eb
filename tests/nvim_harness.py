"""Run a headless Neovim with the plugin in editors/nvim against the real server, through
the Lua driver editors/nvim/tests/e2e_driver.lua, and collect what happened."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models import store

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "editors" / "nvim"
DRIVER = PLUGIN / "tests" / "e2e_driver.lua"

# $TACTFUL_NVIM picks another Neovim (e.g. a newer one) than the first on PATH.
NVIM = os.environ.get("TACTFUL_NVIM") or shutil.which("nvim")

# The plugin's default keys, which the driver presses.
KEYS = {
    "accept": "<M-l>",
    "accept_word": "<M-w>",
    "accept_line": "<M-j>",
    "dismiss": "<C-]>",
    "trigger": "<M-\\>",
}


@dataclass
class Scenario:
    """Open `file`; at the first of `lines` (1-based) where the server suggests something,
    cut the line to its indentation (or put `replacement` there), type `typed` at its end
    in insert mode, ask (`trigger`: "auto" waits for the debounce, "invoked" presses the
    trigger key), wait for the ghost text, then run `actions` (type_through, word, line,
    all, dismiss)."""

    name: str
    file: Path
    lines: list[int]
    typed: str
    trigger: str = "auto"
    actions: list[str] = field(default_factory=list)
    replacement: str | None = None


@dataclass
class NvimRun:
    report: dict[str, Any]
    server_log: str
    data_dir: Path  # $TACTFUL_DATA_DIR: where the feedback store writes
    lsp_log: Path

    def scenario(self, name: str) -> dict[str, Any]:
        return next(s for s in self.report["scenarios"] if s["name"] == name)


def tactful_command() -> list[str]:
    """The venv's `tactful serve`, or the module when the script is not installed."""
    exe = shutil.which("tactful", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "lsp.cli"]


def _scenario_spec(s: Scenario) -> dict[str, Any]:
    return {"name": s.name, "file": str(s.file), "lines": s.lines, "typed": s.typed,
            "trigger": s.trigger, "actions": s.actions, "replacement": s.replacement}


def run_nvim(tmp: Path, scenarios: list[Scenario], settings: dict[str, Any],
             timeout_s: float = 600, restart: Scenario | None = None) -> NvimRun:
    """Run the scenarios in one Neovim (one server, one model load) and return the report.
    Then, with `restart`, SIGKILL the server, wait for the plugin to start it again and
    run that scenario against the new one (the report's "restart").

    `cmd` is a `tactful` script that runs the real one with its stderr (logging at debug
    level) appended to a file, so the test reads exactly what the server logged, and
    :checkhealth sees an executable named tactful, as a user's would be."""
    assert NVIM is not None
    server_log = tmp / "server.log"
    data_dir = tmp / "tactful-data"
    result = tmp / "result.json"
    init = tmp / "init.lua"
    wrapper = tmp / "bin" / "tactful"
    wrapper.parent.mkdir()
    wrapper.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in tactful_command())
                       + f' "$@" 2>>{shlex.quote(str(server_log))}\n')
    wrapper.chmod(0o755)
    cmd = [str(wrapper), "serve", "--log-level", "debug"]
    init.write_text(
        f"vim.opt.runtimepath:prepend({json.dumps(str(PLUGIN))})\n"
        "vim.opt.swapfile = false\n"
        "require('tactful').setup({\n"
        f"  cmd = vim.fn.json_decode({json.dumps(json.dumps(cmd))}),\n"
        f"  settings = vim.fn.json_decode({json.dumps(json.dumps(settings))}),\n"
        "})\n"
    )
    spec = tmp / "spec.json"
    driver_timeout_ms = int((timeout_s - 20) * 1000)
    spec.write_text(json.dumps({
        "result": str(result),
        "timeout_ms": driver_timeout_ms,
        "ready_timeout_ms": 120_000,
        "suggestion_timeout_ms": 150_000,
        "keystroke_ms": 40,
        "keys": KEYS,
        "scenarios": [_scenario_spec(s) for s in scenarios],
        "restart_scenario": _scenario_spec(restart) if restart else None,
    }))
    env = {
        **os.environ,
        "TACTFUL_DRIVER_SPEC": str(spec),
        "TACTFUL_DATA_DIR": str(data_dir),
        "TACTFUL_INDEX_DIR": str(tmp / "tactful-index"),
        "TACTFUL_MODEL_DIR": str(store.model_dir()),  # the one shared cache, pulled once
        # Neovim's own files (and its LSP log) in the test's folder too.
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "XDG_STATE_HOME": str(tmp / "state"),
        "XDG_DATA_HOME": str(tmp / "data"),
    }
    try:
        proc = subprocess.run(
            [NVIM, "--headless", "--clean", "-u", str(init), "-c", f"luafile {DRIVER}"],
            cwd=tmp, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"Neovim did not finish in {timeout_s} s\nserver log tail:\n"
            + _tail(server_log) + f"\nnvim output: {exc.output!r}"
        ) from None
    if not result.exists():
        raise AssertionError(
            f"Neovim wrote no result (exit {proc.returncode})\nstdout: {proc.stdout}\n"
            f"stderr: {proc.stderr}\nserver log tail:\n{_tail(server_log)}"
        )
    report = json.loads(result.read_text())
    log_text = server_log.read_text() if server_log.exists() else ""
    if report.get("error"):
        raise AssertionError(
            f"the driver failed: {report['error']}\nreport: {json.dumps(report, indent=1)}\n"
            f"server log tail:\n{_tail(server_log)}"
        )
    lsp_log = next((p for p in tmp.rglob("lsp.log")), tmp / "state" / "nvim" / "lsp.log")
    return NvimRun(report=report, server_log=log_text, data_dir=data_dir, lsp_log=lsp_log)


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(none)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
