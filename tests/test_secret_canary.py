"""Canaries: credentials in a workspace reach no file that Tactful writes, at any log level.

A workspace holds a `.env`, an `id_rsa`, a module with an AWS key id, a GitHub token, a
password in a URL, a password and a private key block, and a module that imports it. The
real server runs over stdio with the embedded model, `logCode` on and `--log-level debug`;
the user types next to every secret and completes, accepts, opens the credential files
and asks for completions there too. Then every file written (the feedback log, the index,
the server's stderr) and every output of `tactful export`, `explain`, `stats --html` and
`context` is searched for each canary.
"""

from __future__ import annotations

import json
import random
import shutil
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from evaluation.lsp_session import ServerSession, first_item, item_text
from lsp.cli import main

pytestmark = pytest.mark.model

# Built from pieces so that this file does not itself look like it holds secrets.
_rng = random.Random(22)


def _chars(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
AWS_KEY_ID = "AKIA" + _chars(string.ascii_uppercase + string.digits, 16)
GITHUB_TOKEN = "ghp" + "_" + _chars(ALNUM, 36)
URL_PASSWORD = "Url" + _chars(ALNUM, 10)
PY_PASSWORD = "Py" + _chars(ALNUM, 10)
ENV_PASSWORD = "Env" + _chars(ALNUM, 10)
ENV_TOKEN = "Tok" + _chars(ALNUM, 10)
ENV_PLAIN = "EnvPlain" + _chars(ALNUM, 8)  # not a secret, but in a .env
BASE64 = string.ascii_letters + string.digits + "+/"
PEM_BODY = [_chars(BASE64, 64) for _ in range(4)]
RSA_BODY = [_chars(BASE64, 64) for _ in range(4)]
BEGIN, END = "-----BEGIN RSA " + "PRIVATE KEY-----", "-----END RSA " + "PRIVATE KEY-----"

CANARIES = [AWS_KEY_ID, GITHUB_TOKEN, URL_PASSWORD, PY_PASSWORD, ENV_PASSWORD, ENV_TOKEN,
            ENV_PLAIN, *PEM_BODY, *RSA_BODY]
# A model echoes pieces of what it read: any 8 characters of a canary in a row count.
PIECE = 8
PIECES = {canary[i : i + PIECE]: canary for canary in CANARIES
          for i in range(len(canary) - PIECE + 1)}

SECRETS_MODULE = "\n".join([
    '"""Service credentials."""',
    "",
    f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"',
    f'GITHUB_TOKEN = "{GITHUB_TOKEN}"',
    f'DATABASE_URL = "postgres://admin:{URL_PASSWORD}@db.internal:5432/app"',
    f'DB_PASSWORD = "{PY_PASSWORD}"',
    f'SIGNING_KEY = """{BEGIN}',
    *PEM_BODY,
    f'{END}"""',
    "",
    "",
    "def connection_url():",
    "    return DATABASE_URL",
    "",
])
APP_MODULE = "\n".join([
    "from service_secrets import DATABASE_URL, GITHUB_TOKEN, connection_url",
    "",
    "",
    "def auth_headers():",
    '    return {"Authorization": f"token {GITHUB_TOKEN}"}',
    "",
    "",
    "def connect():",
    "    url = ",
])
DOTENV = f"APP_NAME={ENV_PLAIN}\nDATABASE_PASSWORD={ENV_PASSWORD}\nAPI_TOKEN={ENV_TOKEN}\n"
ID_RSA = "\n".join([BEGIN, *RSA_BODY, END, ""])


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "service_secrets.py").write_text(SECRETS_MODULE)
    (root / "app.py").write_text(APP_MODULE)
    (root / ".env").write_text(DOTENV)
    (root / "id_rsa").write_text(ID_RSA)
    return root


def test_the_canaries_look_like_what_they_stand_for() -> None:
    # The redaction must blank them because they are secrets, not because they are odd.
    from context.secrets import redact

    assert redact(f'x = "{AWS_KEY_ID}"') == "" and redact(f"t = '{GITHUB_TOKEN}'") == ""
    assert all(redact(line) == line for line in PEM_BODY)  # a body line alone is data
    name = f'name = "{PY_PASSWORD}"'
    assert redact(name) == name  # only its name makes it a password


def debug_session(root: Path, env: dict[str, str]) -> ServerSession:
    """A session whose server runs with `--log-level debug`, as the probe ran it."""
    session = ServerSession({"logCode": True, "logLevel": "debug", "timeBudgetMs": 60_000,
                             "maxTokens": 48}, root=root, env=env)
    start = session.client.start_server

    async def start_debug(cmd: list[str], stderr: Any, env: Any) -> Any:
        return await start([*cmd, "--log-level", "debug"], stderr, env)

    session.client.start_server = start_debug  # type: ignore[method-assign]
    return session


def offset_after(text: str, line_start: str) -> int:
    """The offset at the end of the line that starts with `line_start`."""
    start = text.index("\n" + line_start) + 1 if not text.startswith(line_start) else 0
    end = text.find("\n", start)
    return len(text) if end < 0 else end


async def complete_at(session: ServerSession, uri: str, offset: int,
                      invoked: bool = True) -> Any:
    line, character = session.position(uri, offset)
    return first_item(await session.inline_completion(uri, line, character, invoked=invoked))


async def type_and_complete(session: ServerSession, uri: str, after_line: str,
                            typed: str) -> Any:
    """A new line typed after the line starting with `after_line`, then a completion."""
    at = offset_after(session.text(uri), after_line)
    session.edit(uri, at, at, "\n" + typed)
    return await complete_at(session, uri, at + 1 + len(typed))


def run_cli(*args: str, env: dict[str, str]) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def files_under(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        yield from (p for p in folder.rglob("*") if p.is_file())


@pytest.mark.asyncio
async def test_no_canary_reaches_any_log_or_output(
    workspace: Path, tmp_path: Path, default_model_path: Path
) -> None:
    data, index = tmp_path / "data", tmp_path / "index"
    env = {"TACTFUL_DATA_DIR": str(data), "TACTFUL_INDEX_DIR": str(index)}
    session = debug_session(workspace, env)
    status = await session.start()
    assert status["state"] == "ready", status
    shown: list[str] = []
    try:
        app = (workspace / "app.py").resolve().as_uri()
        secrets = (workspace / "service_secrets.py").resolve().as_uri()
        session.open(app, APP_MODULE)
        item = await complete_at(session, app, len(APP_MODULE))
        assert item is not None, "the ordinary module gets its completion"
        await session.accept(item)
        shown.append(item_text(item))

        session.open(secrets, SECRETS_MODULE)
        for after, typed in [("GITHUB_TOKEN =", 'GITHUB_TOKEN_OLD = "'),
                             ("AWS_ACCESS_KEY_ID =", 'AWS_ACCESS_KEY_ID_2 = "'),
                             ("DB_PASSWORD =", 'DB_PASSWORD_OLD = "'),
                             ("DATABASE_URL =", 'REPLICA_URL = "postgres://admin:'),
                             (PEM_BODY[1], "")]:
            item = await type_and_complete(session, secrets, after, typed)
            if item is not None:
                shown.append(item_text(item))
                await session.accept(item)
        # Typed (automatic) requests beside the secrets too, and one with no edit at all.
        text = session.text(secrets)
        await complete_at(session, secrets, offset_after(text, "DB_PASSWORD ="), False)
        await complete_at(session, secrets, offset_after(text, PEM_BODY[0]), False)

        # Credential files opened in the editor: no completion, whoever asks.
        for name, text, language in ((".env", DOTENV, "dotenv"), ("id_rsa", ID_RSA, "plaintext")):
            uri = (workspace / name).resolve().as_uri()
            session.open(uri, text, language)
            for line_start in text.split("\n")[:3]:
                if line_start:
                    offset = offset_after(text, line_start)
                    assert await complete_at(session, uri, offset) is None
                    assert await complete_at(session, uri, offset, invoked=False) is None
            session.edit(uri, len(text), len(text), "SECRET_KEY=")
            assert await complete_at(session, uri, len(session.text(uri))) is None
        explained = await session.client.protocol.send_request_async(
            "tactful/explain", {"limit": 200})
    finally:
        await session.stop()
    assert session.stderr_path is not None
    server_log = tmp_path / "server.log"  # kept beside the rest, for a look after a failure
    shutil.move(session.stderr_path, server_log)
    log = server_log.read_text(errors="replace")

    # The probe's findings, each checked where it showed.
    assert "Sending data: <" in log, "pygls's message bodies are sized and hashed"
    refused = [json.loads(line.split("completion ", 1)[1]) for line in log.splitlines()
               if " completion {" in line and '"secret_file"' in line]
    assert {r["document"].rsplit("/", 1)[-1] for r in refused} == {".env", "id_rsa"}
    assert all(r["generated_tokens"] == 0 and r["prompt_tokens"] == 0 for r in refused)
    reasons = {d.uri.rsplit("/", 1)[-1]: d.reason for d in explained.decisions}
    assert reasons.get(".env") == reasons.get("id_rsa") == "secret_file"

    feedback = data / "feedback.sqlite3"
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    cli_env = {**env, "TACTFUL_DATA_DIR": str(data)}
    exported = run_cli("export", "--log", str(feedback), env=cli_env).output
    assert exported.strip(), "the log has rows"
    rows = [json.loads(line) for line in exported.splitlines() if line.startswith("{")]
    assert any(r["suggestion_text"] for r in rows), "logCode was on: code is logged"
    assert not any(r["document"] and r["reason"] == "secret_file" for r in rows)
    (outputs / "export.jsonl").write_text(exported)
    (outputs / "explain.txt").write_text(
        run_cli("explain", "--log", str(feedback), "--limit", "500", env=cli_env).output
        + run_cli("explain", str(workspace / "service_secrets.py"), "--log", str(feedback),
                  env=cli_env).output)
    run_cli("stats", "--log", str(feedback), "--html", str(outputs / "stats.html"),
            env=cli_env)
    secrets_text = (workspace / "service_secrets.py").read_text()
    contexts = [
        f"{workspace / 'app.py'}:9:11",
        f"{workspace / 'service_secrets.py'}:6:1",
        f"{workspace / 'service_secrets.py'}:{secrets_text.count(chr(10)) + 1}:1",
    ]
    (outputs / "context.txt").write_text("".join(
        run_cli("context", where, "--workspace", str(workspace), env=cli_env).output
        for where in contexts))

    written = [*files_under(data, index, outputs), server_log]
    assert any(p.name == "index.db" for p in written) and feedback in written
    found = set()
    for path in written:
        content = path.read_bytes()
        found |= {(piece, canary, str(path)) for piece, canary in PIECES.items()
                  if piece.encode() in content}
    assert not found, f"canaries in files Tactful wrote: {sorted(found)}"
    # What the user was shown is theirs; whatever it echoed of a secret was not logged.
    assert shown
