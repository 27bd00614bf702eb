"""End to end: a real Neovim, headless, with the plugin in editors/nvim, against the real
server and the embedded model. A Lua driver inside Neovim types into a copy of a real
module, waits for the ghost text and presses the plugin's keys; the buffer, the feedback
the plugin sent and the server's own debug log must agree."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nvim_harness import NVIM, PLUGIN, NvimRun, Scenario, run_nvim, tactful_command

needs_nvim = pytest.mark.skipif(
    NVIM is None, reason="nvim is not on PATH (apt-get install neovim, or set $TACTFUL_NVIM)"
)

TYPED = {"mid_line": "if ", "unicode": "; label = "}


def scenarios(file: Path) -> list[Scenario]:
    """Places in sqlite_utils/utils.py (1-based lines, the first that gets a suggestion is
    used). The assertions hold for any suggestion; these places tend to get multi-word and
    multi-line ones from SmolLM2."""
    return [
        # "        if len(types) > 1:" and the like: type "if ", wait for the automatic request.
        Scenario("mid_line", file, [146, 175, 177], TYPED["mid_line"], "auto",
                 ["type_through", "word", "all"]),
        # The body of "for path in SPATIALITE_PATHS:" and others, asked for with the key.
        Scenario("block", file, [126, 118, 157], "", "invoked", ["line", "line", "all"]),
        Scenario("dismiss", file, [157, 126, 118], "", "invoked", ["dismiss"]),
        # Non-ASCII text before the cursor.
        Scenario("unicode", file, [150, 146], TYPED["unicode"], "invoked", ["word", "all"],
                 replacement=" " * 12 + 'greeting = "Grüße, 世界 😀"'),
    ]


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, real_python_file: Path, default_model_path: Path
) -> NvimRun:
    """One Neovim (one server, one model load) through every scenario. The harness points
    Neovim's and Tactful's per-user directories at the test's folder, as isolated_home
    does (that fixture is per test; this run is shared by the module's tests)."""
    tmp = tmp_path_factory.mktemp("nvim")
    workspace = tmp / "workspace"
    workspace.mkdir()
    file = workspace / "utils.py"
    file.write_text(real_python_file.read_text())
    # A loaded machine must not turn a slow generation into an empty answer; a short
    # prefix and no retrieval keep the prompt (and the wait) small; and the acceptance gate,
    # whose opinion of these places is not the point here, stays off: this tests the editor.
    settings = {"logLevel": "debug", "timeBudgetMs": 60_000, "maxTokens": 48,
                "prefixTokens": 512, "contextTokens": 0, "acceptanceGate": False}
    # Last, the server is killed and the plugin must start it again: the ghost text is back.
    again = Scenario("after_restart", file, [126, 118, 157], "", "invoked", ["all"])
    return run_nvim(tmp, scenarios(file), settings, restart=again)


def expected(result: dict[str, Any], inserted: str) -> str:
    """The buffer before typing, with `inserted` at the end of the scenario's line."""
    lines = result["before"].split("\n")
    lines[result["line"] - 1] += inserted
    return "\n".join(lines)


def final_buffer(result: dict[str, Any]) -> str:
    """The buffer once the scenario's suggestion was accepted to its end (or dismissed)."""
    return next(step["buffer"] for step in result["steps"] if step["id"] != result["id"])


def feedback(run: NvimRun, suggestion_id: str) -> list[dict[str, Any]]:
    return [e for e in run.report["feedback"] if e["id"] == suggestion_id]


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def logged(run: NvimRun, suggestion_id: str) -> dict[str, Any]:
    """The suggestion's row in the server's feedback log ($TACTFUL_DATA_DIR)."""
    with sqlite3.connect(run.data_dir / "feedback.sqlite3") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM completions WHERE id = ?", [suggestion_id]).fetchone()
    assert row is not None, f"{suggestion_id} is not in the feedback log"
    return dict(row)


def assert_accepted_once(run: NvimRun, suggestion_id: str) -> list[dict[str, Any]]:
    events = feedback(run, suggestion_id)
    methods = [e["method"] for e in events]
    assert methods[0] == "tactful/shown" and methods.count("tactful/shown") == 1, methods
    accepts = [e for e in events if e["method"] == "workspace/executeCommand"]
    # Answered without error: the server knew the id (else "unknown completion id").
    assert len(accepts) == 1 and "error" not in accepts[0] and "pending" not in accepts[0], events
    row = logged(run, suggestion_id)
    assert row["outcome"] == "accepted" and row["displayed_at"] is not None, row
    return events


@needs_nvim
@pytest.mark.model
def test_typing_through_then_a_word_then_the_rest(run: NvimRun) -> None:
    r = run.scenario("mid_line")
    suggestion = r["suggestion"]
    assert r["id"], "the item carried no tactful.accept command"
    assert r["ghost"] == suggestion and "\n" not in suggestion  # mid-line: one line
    typed, word = r["steps"][:2]

    # Typing the suggestion's next character keeps it, shows the rest, asks nothing new.
    assert typed["id"] == r["id"]
    assert suggestion.startswith(typed["typed"])
    assert typed["remaining"] == suggestion[len(typed["typed"]):] == typed["ghost"]
    assert typed["requests"] == r["requests"]
    if word["id"] == r["id"]:  # more than one word: the rest is still shown
        assert word["remaining"] and suggestion.endswith(word["remaining"])
        assert word["ghost"] == word["remaining"]
    assert final_buffer(r) == expected(r, TYPED["mid_line"] + suggestion)

    events = assert_accepted_once(run, r["id"])
    partial = [e for e in events if e["method"] == "tactful/partialAccept"]
    # acceptedLength: all of the suggestion now in the buffer, typed-through part included.
    in_buffer = suggestion[: len(suggestion) - len(word["remaining"] or "")]
    assert partial[0]["accepted_length"] == utf16_len(in_buffer)
    assert logged(run, r["id"])["accepted_length"] == len(suggestion)
    assert_server_log_clean(run)


@needs_nvim
@pytest.mark.model
def test_a_block_accepted_line_by_line(run: NvimRun) -> None:
    r = run.scenario("block")
    suggestion = r["suggestion"]
    assert r["ghost"] == suggestion
    first = r["steps"][0]
    if "\n" in suggestion.lstrip("\n"):  # one line in, the others still shown as virtual lines
        assert first["id"] == r["id"]
        assert suggestion.endswith(first["remaining"]) and first["remaining"].startswith("\n")
        assert first["ghost"] == first["remaining"]
    assert final_buffer(r) == expected(r, suggestion)
    assert_accepted_once(run, r["id"])


@needs_nvim
@pytest.mark.model
def test_dismiss_hides_it_and_tells_the_server(run: NvimRun) -> None:
    r = run.scenario("dismiss")
    (step,) = r["steps"]
    assert step["id"] is None and step["ghost"] == ""
    assert step["buffer"] == r["buffer"]  # nothing inserted
    assert [e["method"] for e in feedback(run, r["id"])] == ["tactful/shown", "tactful/dismiss"]
    assert "Notification 'tactful/dismiss' received" in run.server_log
    assert logged(run, r["id"])["outcome"] == "dismissed"


@needs_nvim
@pytest.mark.model
def test_non_ascii_text_before_the_cursor(run: NvimRun) -> None:
    # Columns go out in UTF-16 code units: in bytes the cursor would be past the end of the
    # line ("ü", "ß", CJK and the emoji take 2 to 4 bytes) and the server would refuse.
    r = run.scenario("unicode")
    assert final_buffer(r) == expected(r, TYPED["unicode"] + r["suggestion"])
    assert_accepted_once(run, r["id"])
    assert "past the end" not in run.server_log


@needs_nvim
@pytest.mark.model
def test_explain_and_checkhealth(run: NvimRun) -> None:
    explain = run.report["explain"]
    assert explain[0].startswith("Why no suggestion? The last"), explain
    last = run.scenario("unicode")
    assert any(f"{last['line']}:" in line and "shown" in line for line in explain[2:]), explain
    health = "\n".join(run.report["health"])
    for expected_line in ("tactful, version", "model smollm2-135m is installed", "server ready",
                          "/index.db (", "first-run probe: "):
        assert expected_line in health, health


@needs_nvim
@pytest.mark.model
def test_a_killed_server_is_restarted(run: NvimRun) -> None:
    restart = run.report["restart"]
    assert restart["killed"] and restart["new_pid"] and restart["new_pid"] != restart["killed"]
    after_exit = restart["status_after_exit"]
    assert after_exit["state"] == "restarting", after_exit
    assert "signal 9" in after_exit["detail"] and "restart 1 of 5 in 1 s" in after_exit["detail"]
    r = restart["scenario"]
    assert r["ghost"] == r["suggestion"] != ""  # the new server's suggestion, on screen
    assert final_buffer(r) == expected(r, r["suggestion"])
    assert_accepted_once(run, r["id"])
    status = "\n".join(restart["status_lines"])
    assert status.startswith("Tactful: ready") and "restart 1 at " in status, status
    assert "(code" in status and "signal 9)" in status, status
    health = "\n".join(restart["health"])
    assert "server ready" in health and "server restart 1 at " in health, health


def assert_server_log_clean(run: NvimRun) -> None:
    """The server's debug log shows the feedback arrived and matched known suggestions.

    A successful tactful.accept logs nothing of its own: pygls logs the request, and an
    unknown id would have been logged and answered as an error."""
    log = run.server_log
    assert "Request 'workspace/executeCommand' received" in log
    assert "Notification 'tactful/shown' received" in log
    assert "Notification 'tactful/partialAccept' received" in log
    assert "unknown completion id" not in log and "for no known suggestion" not in log
    assert "the log does not have" not in log


def run_spec(name: str, tmp_path: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 60) -> None:
    """Run editors/nvim/tests/<name> headless, as its header says; it prints
    "N passed, M failed". Neovim's own files go in `tmp_path`."""
    spec = PLUGIN / "tests" / name
    xdg = {} if tmp_path is None else {"XDG_STATE_HOME": str(tmp_path / "state"),
                                       "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run(
        [NVIM, "--headless", "--clean", "--cmd", f"set rtp^={PLUGIN}", "-c", f"luafile {spec}"],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        cwd=tmp_path, env={**os.environ, **xdg, **(env or {})},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and re.search(r"\d+ passed, 0 failed", output), output


@needs_nvim
def test_text_helpers() -> None:
    """UTF-16 columns and word/line cuts (editors/nvim/tests/text_spec.lua); no server."""
    run_spec("text_spec.lua")


@needs_nvim
def test_restart_backoff_and_giving_up(tmp_path: Path) -> None:
    """A "server" that kills itself at once: restarted 5 times with doubling delays, then
    given up on with one message (editors/nvim/tests/restart_spec.lua); no model."""
    file = tmp_path / "a.py"
    file.write_text("x = 1\n")
    run_spec("restart_spec.lua", tmp_path, {"TACTFUL_RESTART_FILE": str(file)})


@needs_nvim
def test_a_model_that_cannot_load_is_said_once_not_on_every_keystroke(tmp_path: Path) -> None:
    """Every request fails with RequestFailed and the status's words; the plugin keeps
    them for :TactfulStatus, logs them once and pops nothing up of its own, and the
    server logs no traceback (editors/nvim/tests/unserved_spec.lua); no model is loaded."""
    workspace = tmp_path / "workspace"  # Neovim's log is written beside it, not in it
    workspace.mkdir()
    file = workspace / "a.py"
    file.write_text("x = 1\ny = ")
    run_spec("unserved_spec.lua", tmp_path, {
        "TACTFUL_UNSERVED_FILE": str(file),
        "TACTFUL_SERVER_CMD": json.dumps([*tactful_command(), "serve"]),
        "TACTFUL_DATA_DIR": str(tmp_path / "data"),
        "TACTFUL_INDEX_DIR": str(tmp_path / "index"),
    }, timeout=120)
