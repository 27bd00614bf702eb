"""Secret detection: keep credentials out of the index, the prompts and the logs.

Two layers: `is_secret_path` keeps whole files (keys, .env, credential stores) from ever
being read (the index skips them, the server gives them no completion), and `redact`
blanks the lines that hold a secret in any text that does get read: a token by its shape,
a private key's block, a password in a URL, a written-out value assigned to a name that
says password, secret, token or API key. Redaction keeps the line count, so positions stay
valid.
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
    r"-----(?:BEGIN|END)[A-Z0-9 ]{0,40} PRIVATE KEY"
    r"|A(?:KIA|SIA)[0-9A-Z]{16}(?![0-9A-Za-z])"
    r"|g(?:h[pousr]_[A-Za-z0-9]{36}|ithub_pat_[A-Za-z0-9_]{22})"
    r"|xox[baprs]-[A-Za-z0-9-]{10}"
    r"|sk(?:-(?:proj-|ant-)?[A-Za-z0-9_-]{20}|_live_[A-Za-z0-9]{16})"
    r"|rk_live_[A-Za-z0-9]{16}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8}"
)
# Run on the lower-cased text: a name with a secret-ish word, an assignment-like operator
# (or the blank of a `#define`), then a literal of 6+ non-blank characters. The name's
# prefix and the literal are judged in Python, on the original text.
_ASSIGN = re.compile(
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key)"
    # The rest of the name, bounded: unbounded, a long word of keywords ("tokentoken…",
    # a minified file) took quadratic time, holding the GIL and stalling the server.
    r"(?P<tail>[\w$-]{0,64})[\"'\]]?"
    r"(?:[ \t]*(?P<op>:=|=>|==|!=|[:=])[ \t]*|[ \t]+)"
    r"[rbuf]{0,2}(?P<q>[\"'`]?)(?P<val>[^\s\"'`]{6,})(?P=q)"
)
# Every keyword of _ASSIGN contains one of these: a C-speed check before the regex.
_ASSIGN_WORDS = ("pass", "pwd", "secret", "token", "key")
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
_MIN_PLAIN = 6  # a written-out password or token this short is still one
# `user:password@` in a URL; the password is what matters.
_URL_CREDENTIALS = re.compile(r"://[^\s/@:\"'`]*:(?P<pw>[^\s/@\"'`]+)@")
# An unquoted `.env` value: one word, no call, index or interpolation.
_ENV_VALUE = re.compile(r"[^\s()\[\]{}<>$`\\]+")
# Templates and references: `${VAR}`, `<your-token>`, `{token}`, `%s`, paths.
_NOT_A_VALUE_START = "$<{%/.~*"
# Values that say they are no real secret.
_PLACEHOLDER_WORDS = (
    "changeme", "change_me", "change-me", "password", "passwd", "secret", "token",
    "example", "placeholder", "dummy", "your", "xxx", "redacted", "todo", "fixme",
    "none", "null", "undefined",
)
_SHORT_SECRET_WORDS = frozenset({"pass", "pwd"})
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
    quoted = bool(match.group("q"))
    if _secret_name(name) and _secret_literal(value, quoted):
        return True
    # A short or plain value counts too, where nothing but a secret is written like this:
    # a string literal assigned to a name that ends in the secret's word (`password =
    # "hunter22"`, `"db_password": "..."`), or a `.env` line (`DB_PASSWORD=hunter22`).
    op = match.group("op")
    if op not in ("=", ":", ":=", "=>") or not (_secret_name(name) or _pass_name(name)):
        return False
    if quoted:
        return _plain_secret(value)
    line_start = text.rfind("\n", 0, start) + 1
    head = text[line_start:start].strip()
    if head not in ("", "export", "-") or not name.isupper():
        return False  # code: a call's argument, a variable, an annotation
    value = value.rstrip(",;")
    return (_plain_secret(value) and _ENV_VALUE.fullmatch(value) is not None
            and not value.isdigit()  # a limit, a port, a lifetime
            and (op == "=" or (any(c.isdigit() for c in value)
                               and any(c.isalpha() for c in value))))


def _pass_name(name: str) -> bool:
    """`DB_PASS`, `smtp_pwd`: a short word for a password ends the name."""
    words = [w.lower() for w in _WORDS.findall(name) if not w.isdigit()]
    return bool(words) and words[-1] in _SHORT_SECRET_WORDS


def _plain_secret(value: str) -> bool:
    """A short value that is no placeholder, reference or template."""
    lowered = value.lower()
    return (
        len(value) >= _MIN_PLAIN
        and value[0] not in _NOT_A_VALUE_START
        and "://" not in value
        and len(set(value)) > 2  # `******`, `xxxxxx`
        and not any(word in lowered for word in _PLACEHOLDER_WORDS)
    )


def _url_password_hits(text: str) -> list[tuple[int, int, str]]:
    """`scheme://user:password@host`, where the password is written out."""
    if "://" not in text or "@" not in text:
        return []
    return [
        (m.start(), m.end(), "")
        for m in _URL_CREDENTIALS.finditer(text)
        if m.group("pw")[0] not in _NOT_A_VALUE_START and len(set(m.group("pw"))) > 1
    ]


def _token_is_secret(text: str, match: re.Match[str]) -> bool:
    # Inside a longer word (base64 data, a hash) a token prefix is a coincidence.
    start = match.start()
    return start == 0 or not text[start - 1].isalnum()


def _pem_kind(text: str, start: int) -> str:
    if not text.startswith("-----", start):
        return ""
    return "END" if text.startswith("-----END", start) else "BEGIN"


def _secret_hits(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every secret in the text, in order; the kind is "BEGIN" or
    "END" for a PEM block's first or last line, else ""."""
    hits = [
        (m.start(), m.end(), _pem_kind(text, m.start()))
        for m in _TOKENS.finditer(text)
        if _token_is_secret(text, m)
    ]
    hits.extend(_url_password_hits(text))
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = text.translate(_ASCII_LOWER)
    if any(word in lowered for word in _ASSIGN_WORDS):
        hits.extend(
            (m.start(), m.end(), "")
            for m in _ASSIGN.finditer(lowered)
            if _assignment_is_secret(text, m)
        )
    hits.sort()
    return hits


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


def _pem_block_start(text: str, end_line_start: int, floor: int) -> int:
    """Where the block that ends here starts, when its BEGIN line is not in the text (it
    was cut off): the start of the base64 body above the END line."""
    floor = max(floor, end_line_start - _PEM_MAX_CHARS)
    pos = end_line_start
    while pos > floor:
        line_start = text.rfind("\n", floor, pos - 1) + 1
        line_start = max(line_start, floor)
        if _PEM_BODY.fullmatch(text, line_start, pos - 1) is None:
            break
        pos = line_start
    return pos


def _secret_regions(text: str) -> list[tuple[int, int, int, int]]:
    """(first, last, start, end) of each secret: the lines to blank, text[first:last]
    (a PEM block's lines, or the secret's), and the secret itself, text[start:end]. In
    order; regions of secrets on one line overlap."""
    regions = []
    done = 0
    for start, end, pem in _secret_hits(text):
        first, last = _line_bounds(text, start, end)
        if pem == "BEGIN" and start >= done:
            last = _pem_block_end(text, end, last)
            start, end = first, last  # the whole block is the secret
        elif pem == "END" and start >= done:
            first = _pem_block_start(text, first, done)
            start, end = first, last
        regions.append((first, last, start, end))
        done = max(done, last)
    return regions


def redact(text: str) -> str:
    """The text with every secret line blanked; line count and line breaks are kept."""
    regions = _secret_regions(text)
    if not regions:
        return text
    parts: list[str] = []
    done = 0
    for first, last, _, _ in regions:
        if first < done:
            continue  # on a line already blanked
        parts.append(text[done:first])
        # A block keeps its line breaks (and their \r); only the content goes.
        parts.append(_NOT_NEWLINE.sub("", text[first:last]))
        done = last
    parts.append(text[done:])
    return "".join(parts)


def redact_parts(*parts: str) -> list[str]:
    """Each part redacted as a piece of the text they make together (the text before the
    cursor, a suggestion, the text after it): a secret that only the whole shows
    (`password = "` before the cursor, `hunter22"` suggested) is blanked in every part
    that holds some of it, on the lines `redact` would blank."""
    text = "".join(parts)
    regions = _secret_regions(text)
    if not regions:
        return list(parts)
    out = []
    offset = 0
    for part in parts:
        pieces = []
        for piece in part.split("\n"):
            a, b = offset, offset + len(piece)
            secret = any(first <= a and b <= last and start < b and a < end
                         for first, last, start, end in regions)
            pieces.append(_NOT_NEWLINE.sub("", piece) if secret else piece)
            offset = b + 1
        offset -= 1
        out.append("\n".join(pieces))
    return out
