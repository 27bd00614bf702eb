"""Secret detection: keep credentials out of the index, the prompts and the logs.

Two layers: `is_secret_path` keeps whole files (keys, .env, credential stores) from ever
being read, and `redact` blanks single lines that look like a token or a private key in
any text that does get read. Redaction keeps the line count, so positions stay valid.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections import Counter

SECRET_REASON = "secret"

# --- paths -------------------------------------------------------------------------------

_SECRET_NAMES = frozenset({
    ".env", ".envrc", ".npmrc", ".pypirc", ".netrc", ".git-credentials",
    "credentials", "credentials.json",
})
_SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".keystore", ".jks", ".kdbx")
_SECRET_PREFIXES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".env.")
# `secrets.py` is code, not a secret store: only data formats count.
_SECRETS_FILES = frozenset({"secrets.yaml", "secrets.yml", "secrets.json", "secrets.toml"})


def is_secret_path(relpath: str) -> bool:
    """True for files that hold credentials by their nature; matched on the base name."""
    path = relpath.replace("\\", "/").lower()
    name = posixpath.basename(path)
    if (
        name in _SECRET_NAMES
        or name in _SECRETS_FILES
        or name.endswith(_SECRET_SUFFIXES)
        or name.startswith(_SECRET_PREFIXES)
    ):
        return True
    if name.endswith(".json") and (
        "credentials" in name or name.startswith("service-account")
    ):
        return True
    return path == ".aws/credentials" or path.endswith("/.aws/credentials")


# --- lines -------------------------------------------------------------------------------

# Every alternative starts with a literal character, so the regex engine skips ahead
# instead of trying each alternative at each position (that is ten times faster). Word
# boundaries are checked on the hits in Python for the same reason.
_TOKENS = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY"
    r"|A(?:KIA|SIA)[0-9A-Z]{16}(?![0-9A-Za-z])"
    r"|g(?:h[pousr]_[A-Za-z0-9]{36}|ithub_pat_[A-Za-z0-9_]{22})"
    r"|xox[baprs]-[A-Za-z0-9-]{10}"
    r"|sk(?:-(?:proj-|ant-)?[A-Za-z0-9_-]{20}|_live_[A-Za-z0-9]{16})"
    r"|rk_live_[A-Za-z0-9]{16}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8}"
)
# Run on the lower-cased text: a name with a secret-ish word, an assignment-like operator
# (or the blank of a `#define`), then a literal of 16+ non-blank characters. The name's
# prefix and the literal are judged in Python, on the original text.
_ASSIGN = re.compile(
    r"(?:password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key|access[_-]?key)"
    r"(?P<tail>[\w$-]*)[\"'\]]?"
    r"(?:[ \t]*(?::=|=>|==|!=|[:=])[ \t]*|[ \t]+)"
    r"[rbuf]{0,2}(?P<q>[\"'`]?)(?P<val>[^\s\"'`]{16,})(?P=q)"
)
# Every keyword of _ASSIGN contains one of these: a C-speed check before the regex.
_ASSIGN_WORDS = ("pass", "secret", "token", "key")
_PEM_END = re.compile(r"-----END[A-Z0-9 ]{0,40} PRIVATE KEY")
# The body of a PEM block whose END line is missing: base64, maybe inside a string literal.
_PEM_BODY = re.compile(r"[\s\"'`]*[A-Za-z0-9+/=]{16,}(?:\\n)?[\s\"'`,+;\\]*")
_UNQUOTED_SECRET = re.compile(r"[A-Za-z0-9+/=_-]+")
_NOT_NEWLINE = re.compile(r"[^\r\n]+")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Only ASCII matters for the keywords; this keeps every offset when lower() would not.
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}

_PEM_MAX_CHARS = 20_000
_MIN_LITERAL = 16
_MIN_ENTROPY = 3.5
# A word of the name that ends with one of these makes it a secret's name.
_KEY_WORD_ENDINGS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "privatekey",
    "accesskey", "secretkey",
)
_KEY_PAIR_FIRSTS = frozenset({"api", "private", "access", "secret", "signing"})
# `TOKEN_URL = "https://..."`, `PASSWORD_FIELD = ...`: the value describes the secret.
_DESCRIPTOR_WORDS = frozenset({
    "url", "uri", "endpoint", "path", "file", "filename", "dir", "name", "field", "env",
    "var", "header", "prefix", "suffix", "type", "kind", "id", "len", "length", "count",
    "pattern", "regex", "format", "label", "param", "setting", "settings",
})


def _entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _secret_name(name: str) -> bool:
    words = [w.lower() for w in _WORDS.findall(name)]
    if not words or words[-1] in _DESCRIPTOR_WORDS:
        return False
    for i, word in enumerate(words):
        if word.endswith(_KEY_WORD_ENDINGS):
            return True
        if word == "key" and i > 0 and words[i - 1] in _KEY_PAIR_FIRSTS:
            return True
    return False


def _secret_literal(value: str, quoted: bool) -> bool:
    if not quoted:
        value = value.rstrip(",;")
    if len(value) < _MIN_LITERAL or "://" in value or value[0] in "/.~$<{%":
        return False
    if not quoted and (
        # Unquoted (.env, YAML, shell): code has identifiers and calls here, secrets do not.
        _UNQUOTED_SECRET.fullmatch(value) is None
        or (value.isidentifier() and "_" in value)
        or not any(c.isdigit() for c in value)
        or not any(c.isalpha() for c in value)
    ):
        return False
    return _entropy(value) >= _MIN_ENTROPY


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char in "_$-"


def _assignment_is_secret(text: str, match: re.Match[str]) -> bool:
    # The keyword may sit in the middle of the name (`db_password`): walk back to its start.
    start = match.start()
    while start > 0 and _is_name_char(text[start - 1]):
        start -= 1
    name = text[start : match.end("tail")]
    value = text[match.start("val") : match.end("val")]
    return _secret_name(name) and _secret_literal(value, bool(match.group("q")))


def _token_is_secret(text: str, match: re.Match[str]) -> bool:
    # Inside a longer word (base64 data, a hash) a token prefix is a coincidence.
    start = match.start()
    return start == 0 or not text[start - 1].isalnum()


def _secret_hits(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is a PEM block start) of every secret in the text, in order."""
    hits = [
        (m.start(), m.end(), text.startswith("-", m.start()))
        for m in _TOKENS.finditer(text)
        if _token_is_secret(text, m)
    ]
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = text.translate(_ASCII_LOWER)
    if any(word in lowered for word in _ASSIGN_WORDS):
        hits.extend(
            (m.start(), m.end(), False)
            for m in _ASSIGN.finditer(lowered)
            if _assignment_is_secret(text, m)
        )
    hits.sort()
    return hits


def looks_secret(line: str) -> bool:
    """True if the line holds something that looks like a token, key or password."""
    return bool(_secret_hits(line))


def _line_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of the whole lines covering text[start:end], without the last newline."""
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", end)
    return first, len(text) if last < 0 else last


def _pem_block_end(text: str, begin: int, begin_line_end: int) -> int:
    """Where the block that starts here ends: its END line, else the end of its base64 body."""
    # Bounded: a key is a few KB, and an END far away belongs to something else.
    end = _PEM_END.search(text, begin, begin + _PEM_MAX_CHARS)
    if end is not None:
        return _line_bounds(text, end.start(), end.end())[1]
    pos = begin_line_end
    while pos < len(text):
        line_end = text.find("\n", pos + 1)
        line_end = len(text) if line_end < 0 else line_end
        if _PEM_BODY.fullmatch(text, pos + 1, line_end) is None:
            break
        pos = line_end
    return pos


def redact(text: str) -> str:
    """The text with every secret line blanked; line count and line breaks are kept."""
    hits = _secret_hits(text)
    if not hits:
        return text
    parts: list[str] = []
    done = 0
    for start, end, pem in hits:
        if start < done:
            continue  # on a line already blanked
        first, last = _line_bounds(text, start, end)
        if pem:
            last = _pem_block_end(text, end, last)
        parts.append(text[done:first])
        # A block keeps its line breaks (and their \r); only the content goes.
        parts.append(_NOT_NEWLINE.sub("", text[first:last]))
        done = last
    parts.append(text[done:])
    return "".join(parts)
