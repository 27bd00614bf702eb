"""Secret detection: credential files by name, secret lines by shape, and their redaction."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from context.secrets import SECRET_REASON, is_secret_path, redact, redact_parts

# Built from pieces so that this file does not itself look like it holds secrets.
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
PEM = "\n".join([
    "-----BEGIN RSA " + "PRIVATE KEY-----",
    "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2Y6mJzXcDdOD9bJ5CNHakx6dK5iY",
    "Kq0mJ2H5q3Jz8f0Cq9fZb7Ytq9sGmT3q5qWv8NVz2S1Hy4xGmE0ZxzXNqzdJcKbp",
    "-----END RSA " + "PRIVATE KEY-----",
])


def test_reason_constant() -> None:
    assert SECRET_REASON == "secret"


@pytest.mark.parametrize("path", [
    ".env", ".env.local", ".env.production", "app/.envrc", "config/.ENV",
    "certs/server.pem", "tls/server.key", "store.p12", "store.pfx", "app.keystore",
    "release.jks", "vault.kdbx", "id_rsa", "home/.ssh/id_rsa.pub", "id_dsa", "id_ecdsa",
    "id_ed25519", ".npmrc", "sub/.pypirc", ".netrc", ".git-credentials", "credentials",
    "credentials.json", "gcp-credentials-prod.json", "Credentials.JSON", "secrets.yaml",
    "deploy/secrets.yml", "secrets.json", "secrets.toml", ".aws/credentials",
    "home/user/.aws/credentials", "service-account.json", "service-account-prod.json",
    "win\\dir\\.env",
])
def test_secret_paths(path: str) -> None:
    assert is_secret_path(path)


@pytest.mark.parametrize("path", [
    "context/secrets.py", "secrets.md", "env.py", "src/environment.ts", "key_utils.py",
    "keys.py", "tokens.json", "credentials_test.py", "credentials.py", "monkey.py",
    "README.md", "id.py", "aws/config", "account.json", "service.json", "pem.go",
])
def test_ordinary_paths(path: str) -> None:
    assert not is_secret_path(path)


@pytest.mark.parametrize("line", [
    "-----BEGIN RSA " + "PRIVATE KEY-----",
    "-----BEGIN OPENSSH " + "PRIVATE KEY-----",
    "-----BEGIN " + "PRIVATE KEY-----",
    "-----BEGIN PGP " + "PRIVATE KEY BLOCK-----",
    f'aws_access_key_id = "{AWS_KEY_ID}"',
    f"    client = make({AWS_KEY_ID!r})",
    f"token: {GITHUB_TOKEN}",
    "GH=" + "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    'slack = "' + "xoxb-" + '123456789012-abcdefghijkl"',
    'OPENAI = "' + "sk-" + 'abcdefghijklmnopqrstuvwxyz123456"',
    'key = "' + "AIza" + 'SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"',
    'auth = "' + "eyJ" + "hbGciOiJIUzI1NiJ9." + "eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0."
    'dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"',
    'stripe.key = "' + "sk_" + 'live_4eC39HqLyjWDarjtT1zdp7dc"',
    "rk_" + "live_4eC39HqLyjWDarjtT1zdp7dc",
    'API_KEY = "3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"',
    'const apiKey = "Zx9Qm2Lp8Rt4Vw7Ky1Nb3Hc6";',
    'db_password: "hunter2-Zx9Qm2Lp8Rt4Vw7K"',
    "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    'SECRET_KEY = "django-insecure-9x#k2!m@p7q&w3e$r5t^y8u*i0o"',
    '#define API_KEY "a8F3kL9pQ2mX7vB4nR6tY1wZ"',
    "client_secret: 8f14e45fceea167a5a36dedd4bea2543",
    'headers = {"X-Api-Key": "9b2Fq7Lx3Mz8Kp1Rv6Tn4Wc0"}',
    'password := "Pa55w0rd!Zx9Qm2Lp8Rt"',
    'self.authToken = "Q2xpZW50SWQ6U2VjcmV0VmFsdWUx"',
])
def test_secret_lines(line: str) -> None:
    assert redact(line) == ""  # the whole line is blanked


# Ordinary code that mentions secrets without holding one.
FALSE_POSITIVES = [
    "def get_token(self):",
    "token = tokens[0]",
    'PASSWORD_FIELD = "password"',
    "password = get_password()",
    'token = ""',
    'SECRET_KEY_SETTING = "SECRET_KEY"',
    'password = "changeme"',
    'password = "password"',
    'token_type = "bearer"',
    "max_tokens = 4096",
    'tokenizer_path = "models/tokenizer-v2/tokenizer.json"',
    'TOKEN_URL = "https://oauth2.googleapis.com/token"',
    'api_key = os.environ["OPENAI_API_KEY"]',
    "apiKey: process.env.API_KEY,",
    'API_KEY_ENV_VAR = "MY_SERVICE_API_KEY_VALUE"',
    'secret_name = "projects/my-project/secrets/db"',
    'TOKEN_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"',
    'token = "${GITHUB_TOKEN_FROM_ENVIRONMENT}"',
    "password: <your-password-goes-here>",
    "token = self.next_token_value",
    "secret = compute_secret_v2_fallback",
    "private_key = load_private_key_from_file(path)",
    "password_hash = bcrypt.hashpw(password, salt)",
    "if token.type == TokenType.IDENTIFIER:",
    "return self.tokenizer.decode(token_ids, skip_special_tokens=True)",
    "import secrets",
    "nonce = secrets.token_hex(32)",
    "# The access key is read from the environment at startup time",
    'mask = "sk-" + "*" * 20',
    "task-abcdefghijklmnopqrstuvwxyz",
    'print("-----BEGIN PUBLIC KEY-----")',
    'png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAA"',
    'integrity = "sha512-AKIA' + 'IOSFODNN7EXAMPLEabcdef"',
    'blob = "QkFTRTY0AKIA' + 'IOSFODNN7EXAMPLE"',
    'blob = "c2VjcmV0ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"',
    "",
]


@pytest.mark.parametrize("line", FALSE_POSITIVES)
def test_ordinary_lines(line: str) -> None:
    assert redact(line) == line


def test_redact_keeps_clean_text() -> None:
    text = "\n".join(FALSE_POSITIVES) + "\n"
    assert redact(text) == text


def test_redact_blanks_secret_lines_and_keeps_positions() -> None:
    text = f'a = 1\nkey = "{AWS_KEY_ID}"\nb = 2\nTOKEN = "{GITHUB_TOKEN}"\nc = 3'
    out = redact(text)
    assert out == "a = 1\n\nb = 2\n\nc = 3"
    assert AWS_KEY_ID not in out and GITHUB_TOKEN not in out


def test_redact_blanks_a_whole_pem_block() -> None:
    text = f"before = 1\nKEY = '''\n{PEM}\n'''\nafter = 2\n"
    out = redact(text)
    lines = out.split("\n")
    assert len(lines) == len(text.split("\n"))
    assert lines == ["before = 1", "KEY = '''", "", "", "", "", "'''", "after = 2", ""]


def test_redact_pem_without_end_stops_at_the_body() -> None:
    body = PEM.split("\n")[:3]
    text = "x = 1\n" + "\n".join(body) + "\ndef f():\n    return 2\n"
    out = redact(text)
    assert out == "x = 1\n\n\n\ndef f():\n    return 2\n"


def test_redact_pem_in_one_escaped_string() -> None:
    one_line = PEM.replace("\n", "\\n")
    text = f'KEY = "{one_line}"\nnext_line = 1\n'
    assert redact(text) == "\nnext_line = 1\n"


def test_redact_keeps_crlf_line_breaks() -> None:
    text = f"a = 1\r\nt = '{GITHUB_TOKEN}'\r\nb = 2\r\n"
    assert redact(text) == "a = 1\r\n\r\nb = 2\r\n"


def test_redact_handles_non_ascii_case_folding() -> None:
    # "İ".lower() is two characters: offsets must still line up.
    text = 'İİİ = 1\npassword = "Zx9Qm2Lp8Rt4Vw7Ky1Nb"\nok = "İ"\n'
    assert redact(text) == "İİİ = 1\n\nok = \"İ\"\n"


def test_redact_is_fast_on_a_megabyte() -> None:
    chunk = (
        "def handler(request, token=None):\n"
        "    tokens = tokenize(request.body)  # password handling below\n"
        '    secret_name = "projects/p/secrets/s"\n'
        f'    api_key = "{"3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"}"\n'
        "    return [t for t in tokens if t.kind != 'ws']\n\n"
    )
    text = chunk * (1_000_000 // len(chunk))
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        out = redact(text)
        best = min(best, time.perf_counter() - started)
    assert out.count("\n") == text.count("\n")
    assert "3f9a8b7c6d5e4f3a" not in out
    # 15 to 130 ms on 2-core machines; a pattern that backtracks without bound takes
    # seconds to minutes on a megabyte, which this still catches on a busy machine.
    assert best < 1.0


# Short and plain secrets: blanked where only a secret is written so.
@pytest.mark.parametrize("line", [
    "DB_PASSWORD=hunter22",
    "export API_TOKEN=abc123xyz",
    "STRIPE_SECRET_KEY=abcdef12",
    "  POSTGRES_PASSWORD: hunter22",
    'password = "hunter22"',
    "db_pass = 'Tr0ub4dor'",
    '"db_password": "s3cr3t!x",',
    "conn = connect(host, password='hunter22')",
    "$db_pwd => 'hunter22',",
    'DATABASE_URL = "postgres://admin:Pa55w0rd@db:5432/app"',
    "https://user:pass@host",
    "-----END RSA " + "PRIVATE KEY-----",
])
def test_short_secret_lines(line: str) -> None:
    assert redact(line) == ""  # the whole line is blanked


@pytest.mark.parametrize("line", [
    'password = request.form["password"]',
    "token = next_token()",
    "PASSWORD: str",
    'password: str = ""',
    'if token == "return":',
    "connect(password=pw)",
    "DB_PASSWORD=${DB_PASSWORD}",
    'API_KEY = "your-api-key"',
    "TOKEN_EXPIRY=3600",
    "    pass",
    "url = 'https://example.com/a@b'",
    "git@github.com:org/repo.git",
    "http://localhost:8080/@x",
    "postgres://user:${PW}@db",
    "sort_key = 'name'",
    'CACHE_KEY = "users:all"',
    'passthrough = "enabled"',
    'password_hint = "the dog"',
    "bypass = 'always1'",
    'password = "********"',
])
def test_code_about_secrets_is_kept(line: str) -> None:
    assert redact(line) == line


def test_a_pem_body_cut_from_its_begin_line_is_blanked_up_to_its_end() -> None:
    body = PEM.split("\n")[1:]
    text = "x = 1\n" + "\n".join(body) + "\ny = 2\n"
    assert redact(text) == "x = 1\n\n\n\ny = 2\n"


def test_parts_are_redacted_as_the_text_they_make() -> None:
    # The suggestion alone looks like nothing; after the prefix it finishes a password.
    prefix, suggestion, suffix = 'a = 1\nDB_PASSWORD = "', 'hunter22"', "\nb = 2"
    assert redact_parts(prefix, suggestion, suffix) == ["a = 1\n", "", "\nb = 2"]
    key = PEM.split("\n")
    assert redact_parts(key[0] + "\n", key[1], "\n" + key[2]) == ["\n", "", "\n"]
    assert redact_parts("a = 1\n", "b = 2", "\n") == ["a = 1\n", "b = 2", "\n"]


def test_a_part_keeps_its_piece_of_a_line_that_holds_no_secret() -> None:
    # The token is the suggestion's own: the comment before the cursor stays.
    parts = redact_parts("a = 1\n# cursor:", f"x = '{AWS_KEY_ID}'\ny = 1", "\n")
    assert parts == ["a = 1\n# cursor:", "\ny = 1", "\n"]


# --- credentials files open in the editor ---------------------------------------------------


class _NoModel:
    """A back end the engine must not touch."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the model was asked for {name!r}")


@pytest.mark.parametrize("path", [".env", "config/.env.local", "id_rsa", "certs/server.pem"])
@pytest.mark.parametrize("trigger", ["typed", "invoked"])
async def test_a_credentials_file_gets_no_completion_and_no_model_call(
    path: str, trigger: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from completion import rules
    from completion.engine import CompletionEngine
    from completion.request import CompletionRequest
    from completion.scheduler import ModelJobs

    text = "APP_NAME=demo\nDATABASE_PASSWORD="
    request = CompletionRequest(text, len(text), "plaintext", path, trigger,  # type: ignore[arg-type]
                                document_id=f"file:///ws/{path}")
    engine = CompletionEngine(_NoModel())  # type: ignore[arg-type]
    assert rules.skip_reason(request) == rules.SECRET_FILE
    assert engine.complete(request).reason == rules.SECRET_FILE
    assert engine.prepare(request) == 0

    def no_run(*_: object) -> object:
        raise AssertionError("a model call was started")

    with ThreadPoolExecutor(1) as executor:
        jobs = ModelJobs(executor, run=no_run)  # type: ignore[arg-type]
        jobs.requested(engine, request)  # no idle work is planned for it either
        result = await jobs.complete(engine, request)
    assert result.reason == rules.SECRET_FILE and not result.suggestions
    assert result.prompt_tokens == 0


def test_ordinary_files_are_not_refused() -> None:
    from completion import rules
    from completion.request import CompletionRequest

    for path in ("app.py", "env.py", "", "secrets.py"):
        request = CompletionRequest("x = ", 4, "python", path, "invoked")
        assert rules.skip_reason(request) is None


# --- the server's log -----------------------------------------------------------------------


def test_the_log_writes_no_document_text_and_no_secret() -> None:
    import io
    import json
    import logging
    import sys

    from lsp.cli import _SafeRecords

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(_SafeRecords())
    document = "def private_algorithm(values):\n    return sorted(values)[::-1]\n"
    body = json.dumps({"method": "textDocument/didOpen", "params": {"text": document}})

    def emit(name: str, level: int, msg: str, *args: object, exc: bool = False) -> None:
        handler.handle(logging.LogRecord(name, level, __file__, 1, msg, args,
                                         sys.exc_info() if exc else None))

    emit("pygls.protocol.json_rpc", logging.INFO, "Sending data: %s", body)
    emit("pygls.protocol.json_rpc", logging.DEBUG, "Request %r received", "initialize")
    emit("lsp.handlers", logging.WARNING, "edit in %s: %s", "a.py", 'password = "hunter22"')
    try:
        raise ValueError(f"bad token {GITHUB_TOKEN}")
    except ValueError:
        emit("completion.scheduler", logging.ERROR, "failed", exc=True)
    out = stream.getvalue()
    assert "private_algorithm" not in out and "sorted(values)" not in out
    assert f"Sending data: <{len(body)} chars, sha256 " in out
    assert "Request 'initialize' received" in out  # method names and ids stay
    assert "hunter22" not in out and GITHUB_TOKEN not in out
    assert "Traceback" in out and "lines that look like secrets removed" in out


def test_the_feedback_log_keeps_no_code_of_a_credentials_file(tmp_path: Path) -> None:
    from feedback.record import CompletionRecord
    from feedback.store import FeedbackStore

    with FeedbackStore(tmp_path / "f.sqlite3", log_code=True) as store:
        for id, document in (("env", "/ws/.env"), ("py", "/ws/settings.py")):
            store.record(CompletionRecord(
                id=id, language="plaintext", trigger="invoked", document=document,
                prefix_text="APP_NAME=demo\nDB_PASSWORD=", suffix_text="\n",
                suggestion_text="hunter22"))
        env, py = store.get("env"), store.get("py")
    assert env is not None and py is not None
    assert (env["prefix_text"], env["suffix_text"], env["suggestion_text"]) == (None,) * 3
    # Elsewhere the code is kept, but the password the suggestion finishes is not.
    assert py["prefix_text"] == "APP_NAME=demo\n" and py["suggestion_text"] == ""


def test_retrieval_is_never_shown_the_secrets_after_the_cursor() -> None:
    from completion.engine import EngineSettings, context_query
    from completion.request import CompletionRequest

    text = f"x = 1\n\nKEY = '''\n{PEM}\n'''\ny = 2\n"
    request = CompletionRequest(text, 6, "python", "a.py")
    query = context_query(request, EngineSettings(), lambda s: max(1, len(s) // 4))
    assert query.suffix.count("\n") == request.suffix.count("\n")  # lines stay in place
    assert "MIIE" not in query.suffix and "y = 2" in query.suffix


@pytest.mark.parametrize("word", ["token", "password", "api_key", "secret", "pwd"])
def test_a_long_word_of_keywords_is_scanned_in_linear_time(word: str) -> None:
    # The cause of the fuzzer's hang: the name's tail was unbounded, so each keyword in one
    # long word rescanned the rest of it (100 KB of "token": 84 s, holding the GIL, so the
    # whole server stopped reading). Bounded, 0.15 s; 20 s tells the two apart on any
    # machine.
    text = word * (100_000 // len(word))
    done = threading.Event()
    worker = threading.Thread(target=lambda: (redact(text), done.set()), daemon=True)
    worker.start()
    assert done.wait(20), "redact() of one long word of keywords took over 20 s"
