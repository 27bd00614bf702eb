"""The `tactful` configuration section: typed, every field defaulted, bad values reported.

Clients send it as `initializationOptions` and in `workspace/didChangeConfiguration`,
either as the section itself or wrapped as {"tactful": {...}}. A value of the wrong type or
out of range is reported and replaced by its default; it never stops the server.

Each setting is defined once, as a field of `Config` made by `_setting`: its Python name,
type and default are the field's; its client key, constraints, how a change applies and its
description ride in the field's metadata (`SETTINGS`). Parsing, the README's table and the
VS Code manifest all follow from that (tests/test_settings_definition.py checks the last two).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar, get_origin, get_type_hints

import cattrs

from completion.predictor.gate import AGGRESSIVENESS
from context.retrieval import SOURCES
from models.registry import DEFAULT_MODEL
from models.remote import parse_engine

# How a change of a setting takes effect while the server runs (see Setting.applies).
LIVE = "live"  # the next request uses the new value
RELOAD = "reload"  # the model back end is loaded anew, and the old one closed
REINDEX = "reindex"  # each folder's index is built again (incrementally) with it
RESTART = "restart"  # only a restart of the server applies it: the user is told so
APPLIES = (LIVE, RELOAD, REINDEX, RESTART)

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class Setting:
    key: str  # the camelCase name clients use
    doc: str
    applies: str  # one of APPLIES: required, so that no setting is added without saying
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()  # of the value, or of each item of a list or object
    # For a value no plain type describes: what is wrong with it, or None.
    check: Callable[[Any], str | None] | None = None


_T = TypeVar("_T")


def _setting(default: _T, key: str, applies: str, doc: str, *, minimum: int | None = None,
             maximum: int | None = None, choices: tuple[str, ...] = (),
             check: Callable[[Any], str | None] | None = None) -> _T:
    """A field of Config: its default, and its Setting as metadata."""
    meta = {"setting": Setting(key, doc, applies, minimum, maximum, choices, check)}
    if isinstance(default, dict):  # a dataclass refuses a mutable default: each gets a copy
        return field(default_factory=lambda: dict(default), metadata=meta)  # type: ignore[return-value]
    return field(default=default, metadata=meta)


def _check_engine(value: Any) -> str | None:
    try:
        parse_engine(value)
    except ValueError as exc:
        return str(exc)
    return None


# Every default is `_setting(...)`, a dataclasses.field(): ruff's RUF009 cannot tell, hence
# its two noqa below (dict defaults are copied per instance).
@dataclass(frozen=True)
class Config:
    enabled: bool = _setting(True, "enabled", LIVE, "Show inline completions at all.")
    engine: str | dict[str, Any] = _setting(  # noqa: RUF009
        "embedded", "engine", RELOAD, "Where the model runs: \"embedded\" (on this machine, in a "
        "process of its own), or a server as {\"kind\": \"llama.cpp\" or \"openai\", \"url\": "
        "..., \"model\": ..., \"fim\", \"apiKeyEnv\", \"caBundle\", \"timeoutMs\"}.",
        check=_check_engine)
    model: str = _setting(
        DEFAULT_MODEL, "model", RELOAD,
        "Model name from `tactful models list`, a path to a .gguf file, or hf:ORG/REPO/FILE.gguf.")
    n_gpu_layers: int = _setting(
        0, "nGpuLayers", RELOAD, "Layers to offload to the GPU (needs a GPU build of llama.cpp); "
        "0 keeps everything on the CPU, -1 offloads all.", minimum=-1, maximum=1000)
    threads: int = _setting(
        0, "threads", RELOAD, "CPU threads for llama.cpp; 0 chooses: prompts on every free core, "
        "decoding on one unless more are measurably faster.", minimum=0, maximum=256)
    context_size: int = _setting(
        0, "contextSize", RELOAD, "The model's context window in tokens; 0 sizes it to hold "
        "prefixTokens, suffixTokens and maxTokens (llama.cpp's KV cache takes memory for every "
        "token of the window, used or not).", minimum=0, maximum=131072)
    max_tokens: int = _setting(64, "maxTokens", LIVE, "Most tokens generated for one suggestion.",
                               minimum=1, maximum=1024)
    max_lines: int = _setting(8, "maxLines", LIVE, "Most lines in a multi-line suggestion.",
                              minimum=1, maximum=100)
    prefix_tokens: int = _setting(1024, "prefixTokens", LIVE,
                                  "Token budget for the code before the cursor.",
                                  minimum=16, maximum=65536)
    suffix_tokens: int = _setting(256, "suffixTokens", LIVE,
                                  "Token budget for the code after the cursor (FIM models).",
                                  minimum=0, maximum=65536)
    time_budget_ms: int = _setting(3000, "timeBudgetMs", LIVE, "Generation stops after this long.",
                                   minimum=50, maximum=60000)
    kv_cache_reuse: bool = _setting(True, "kvCacheReuse", RELOAD, "Reuse llama.cpp's KV cache "
                                    "across requests (off only to measure what it saves).")
    model_watchdog_s: int = _setting(
        20, "modelWatchdogSeconds", RELOAD, "The model process is taken for hung, stopped and "
        "started anew when it shows no sign of life for this long while it works on a request.",
        minimum=2, maximum=3600)
    debounce_ms: int = _setting(
        -1, "debounceMs", LIVE, "Wait this long after a keystroke before calling the model; -1 "
        "adapts it to your typing rhythm and the model's speed (no wait when the model keeps up).",
        minimum=-1, maximum=5000)
    prewarm: bool = _setting(
        True, "prewarm", LIVE, "While you pause, refresh the repository context and evaluate the "
        "prompt; after an accept, compute the next suggestion before it is asked for.")
    context_tokens: int = _setting(
        384, "contextTokens", LIVE,
        "Of prefixTokens, the most for repository context; 0 turns it off.",
        minimum=0, maximum=65536)
    context_sources: tuple[str, ...] = _setting(
        SOURCES, "contextSources", LIVE, "Which retrieval sources may fill the context.",
        choices=SOURCES)
    index_enabled: bool = _setting(True, "indexEnabled", REINDEX,
                                   "Index the workspace with tree-sitter for repository context.")
    index_exclude: tuple[str, ...] = _setting(
        (), "indexExclude", REINDEX,
        "Gitignore-style patterns the index leaves out, besides .gitignore and "
        ".git/info/exclude.")
    index_max_file_bytes: int = _setting(1_000_000, "indexMaxFileBytes", REINDEX,
                                         "Larger files are not indexed.",
                                         minimum=1, maximum=1_000_000_000)
    acceptance_gate: bool = _setting(
        True, "acceptanceGate", LIVE, "Let the acceptance predictor skip unlikely requests and "
        "hide suggestions not worth reading (a manual request always gets one).")
    aggressiveness: str = _setting(
        "balanced", "aggressiveness", LIVE, "How readily suggestions are shown: quiet shows "
        "fewer and surer ones, eager more.", choices=AGGRESSIVENESS)
    aggressiveness_by_language: dict[str, str] = _setting(  # noqa: RUF009
        {}, "aggressivenessByLanguage", LIVE, "Per-language aggressiveness, e.g. {\"markdown\": "
        "\"quiet\"}, by LSP languageId.", choices=AGGRESSIVENESS)
    suggest_in_comments: bool = _setting(True, "suggestInComments", LIVE,
                                         "Suggest inside comments and strings.")
    exploration_percent: int = _setting(
        5, "explorationPercent", LIVE, "Of the suggestions the predictor would hide, this "
        "percentage is shown anyway (and marked) so that it keeps learning.",
        minimum=0, maximum=50)
    personalize: bool = _setting(True, "personalize", LIVE, "Retrain the predictor on your own "
                                 "accepts and rejects, in the background, on this machine.")
    log_code: bool = _setting(
        False, "logCode", LIVE, "Store the code around each suggestion in the feedback log "
        "(off: only numbers are stored), e.g. to build evaluation sets.")
    log_level: str = _setting("info", "logLevel", LIVE,
                              "Server log level (to stderr / the client's log).",
                              choices=LOG_LEVELS)


# Each setting by its Config field name. A dict, not derived at each use, so that a test can
# swap one Setting (monkeypatch.setitem) and the server sees it.
SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in fields(Config)}
_BY_KEY = {s.key: name for name, s in SETTINGS.items()}
_TYPES: dict[str, Any] = get_type_hints(Config)

# The types a setting may have (one with a `check` aside), as the error messages name them.
_EXPECTED: dict[Any, str] = {
    bool: "bool", int: "an integer", str: "str",
    tuple[str, ...]: "a list of strings", dict[str, str]: "an object of strings",
}
# What JSON sends for a container: cattrs alone would take "ab" as a tuple ("a", "b").
_SHAPES: dict[Any, type] = {tuple: list, dict: dict}
_unsupported = [n for n, s in SETTINGS.items() if s.check is None and _TYPES[n] not in _EXPECTED]
if _unsupported:
    raise TypeError(f"settings of a type parse() cannot check: {_unsupported}")


def _exactly(kind: type) -> Callable[[Any, Any], Any]:
    """A cattrs hook that takes only a value of `kind` itself: cattrs' own hooks convert
    ("5" -> 5, 1 -> True), and bool is an int in Python, while a setting is one or the other."""
    def structure(value: Any, _: Any) -> Any:
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise TypeError(value)
        return value
    return structure


_converter = cattrs.Converter()
for _kind in (bool, int, str):
    _converter.register_structure_hook(_kind, _exactly(_kind))


# Room beyond the budgets: BOS, FIM markers, and parts that tokenize a little longer apart
# than the prompt builder counted them.
CONTEXT_MARGIN = 64


def context_window(c: Config, has_fim: bool) -> int:
    """contextSize, or (0) the smallest multiple of 256 tokens that holds a whole prompt and
    its generation: llama.cpp sizes the KV cache by the window, so a window that no prompt
    fills is memory for nothing (17 MB for the embedded model at 2,048 tokens)."""
    if c.context_size:
        return c.context_size
    needed = c.prefix_tokens + c.max_tokens + CONTEXT_MARGIN + (c.suffix_tokens if has_fim else 0)
    return -(-needed // 256) * 256


def parse(raw: Any, base: Config | None = None) -> tuple[Config, list[str]]:
    """A Config from client options over `base`, and a message for each rejected value."""
    base = base or Config()
    if raw is None:
        return base, []
    if isinstance(raw, dict) and isinstance(raw.get("tactful"), dict):
        raw = raw["tactful"]
    if not isinstance(raw, dict):
        return base, [f"tactful settings must be an object, got {type(raw).__name__}"]
    defaults = Config()
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in raw.items():
        name = _BY_KEY.get(key)
        if name is None:
            errors.append(f"tactful.{key} is not a setting (known: {', '.join(_BY_KEY)})")
            continue
        try:
            changes[name] = _structure(value, _TYPES[name], SETTINGS[name])
        except ValueError as exc:
            default = getattr(defaults, name)
            errors.append(f"tactful.{key}: {exc}; using the default {default!r}")
            changes[name] = default
    return replace(base, **changes), errors


def _structure(value: Any, kind: Any, setting: Setting) -> Any:
    """The value as the Config field holds it; ValueError says what is wrong with it."""
    if setting.check is not None:
        problem = setting.check(value)
        if problem:
            raise ValueError(problem)
        return value
    shape = _SHAPES.get(get_origin(kind))
    try:
        if shape is not None and not isinstance(value, shape):
            raise TypeError
        value = _converter.structure(value, kind)
    except (TypeError, cattrs.BaseValidationError) as exc:
        raise ValueError(f"expected {_EXPECTED[kind]}, got {value!r}") from exc
    problem = _violation(value, setting)
    if problem:
        raise ValueError(problem)
    return value


def _violation(value: Any, setting: Setting) -> str | None:
    """What breaks the setting's range or choices, of a value of the right type."""
    if isinstance(value, tuple | dict):
        items = value.values() if isinstance(value, dict) else value
        unknown = [v for v in items if setting.choices and v not in setting.choices]
        return f"{', '.join(unknown)} not among {', '.join(setting.choices)}" if unknown else None
    if setting.minimum is not None and value < setting.minimum:
        return f"{value} is below the minimum {setting.minimum}"
    if setting.maximum is not None and value > setting.maximum:
        return f"{value} is above the maximum {setting.maximum}"
    if setting.choices and value not in setting.choices:
        return f"{value!r} is not one of {', '.join(setting.choices)}"
    if isinstance(value, str) and not value.strip():
        return "must not be empty"
    return None


def changed(old: Config, new: Config) -> list[str]:
    """The settings (by field name) whose values differ between two configurations."""
    return [f.name for f in fields(Config) if getattr(old, f.name) != getattr(new, f.name)]
