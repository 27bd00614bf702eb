"""The `tactful` configuration section: typed, every field defaulted, bad values reported.

Clients send it as `initializationOptions` and in `workspace/didChangeConfiguration`,
either as the section itself or wrapped as {"tactful": {...}}. A value of the wrong type or
out of range is reported and replaced by its default; it never stops the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

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


@dataclass(frozen=True)
class Setting:
    key: str  # the camelCase name clients use
    doc: str
    applies: str  # one of APPLIES: required, so that no setting is added without saying
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    # For a value no plain type describes: what is wrong with it, or None.
    check: Callable[[Any], str | None] | None = None


def _check_engine(value: Any) -> str | None:
    try:
        parse_engine(value)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Config:
    enabled: bool = True
    # "embedded", or a server: {"kind": "llama.cpp" | "openai", "url": ..., ...}
    engine: str | dict[str, Any] = "embedded"
    model: str = DEFAULT_MODEL
    n_gpu_layers: int = 0
    threads: int = 0
    context_size: int = 0  # 0: sized to the budgets, see context_window
    max_tokens: int = 64
    max_lines: int = 8
    prefix_tokens: int = 1024
    suffix_tokens: int = 256
    time_budget_ms: int = 3000
    kv_cache_reuse: bool = True
    model_watchdog_s: int = 20
    debounce_ms: int = -1
    prewarm: bool = True
    context_tokens: int = 384
    context_sources: tuple[str, ...] = SOURCES
    index_enabled: bool = True
    index_exclude: tuple[str, ...] = ()
    index_max_file_bytes: int = 1_000_000
    acceptance_gate: bool = True
    aggressiveness: str = "balanced"
    aggressiveness_by_language: dict[str, str] = field(default_factory=dict)
    suggest_in_comments: bool = True
    exploration_percent: int = 5
    personalize: bool = True
    log_code: bool = False
    log_level: str = "info"


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


SETTINGS: dict[str, Setting] = {
    "enabled": Setting("enabled", "Show inline completions at all.", LIVE),
    "engine": Setting(
        "engine", "Where the model runs: \"embedded\" (on this machine, in a process of "
        "its own), or a server as {\"kind\": \"llama.cpp\" or \"openai\", \"url\": ..., "
        "\"model\": ..., \"fim\", \"apiKeyEnv\", \"caBundle\", \"timeoutMs\"}.", RELOAD,
        check=_check_engine,
    ),
    "model": Setting(
        "model",
        "Model name from `tactful models list`, a path to a .gguf file, or hf:ORG/REPO/FILE.gguf.",
        RELOAD,
    ),
    "n_gpu_layers": Setting(
        "nGpuLayers", "Layers to offload to the GPU (needs a GPU build of llama.cpp); "
        "0 keeps everything on the CPU, -1 offloads all.", RELOAD, minimum=-1, maximum=1000,
    ),
    "threads": Setting(
        "threads", "CPU threads for llama.cpp; 0 chooses: prompts on every free core, "
        "decoding on one unless more are measurably faster.", RELOAD, minimum=0, maximum=256,
    ),
    "context_size": Setting(
        "contextSize", "The model's context window in tokens; 0 sizes it to hold "
        "prefixTokens, suffixTokens and maxTokens (llama.cpp's KV cache takes memory for "
        "every token of the window, used or not).", RELOAD, minimum=0, maximum=131072,
    ),
    "max_tokens": Setting("maxTokens", "Most tokens generated for one suggestion.", LIVE,
                          minimum=1, maximum=1024),
    "max_lines": Setting("maxLines", "Most lines in a multi-line suggestion.", LIVE,
                         minimum=1, maximum=100),
    "prefix_tokens": Setting("prefixTokens", "Token budget for the code before the cursor.", LIVE,
                             minimum=16, maximum=65536),
    "suffix_tokens": Setting("suffixTokens",
                             "Token budget for the code after the cursor (FIM models).", LIVE,
                             minimum=0, maximum=65536),
    "time_budget_ms": Setting("timeBudgetMs", "Generation stops after this long.", LIVE,
                              minimum=50, maximum=60000),
    "kv_cache_reuse": Setting("kvCacheReuse",
                              "Reuse llama.cpp's KV cache across requests (off only to "
                              "measure what it saves).", RELOAD),
    "model_watchdog_s": Setting(
        "modelWatchdogSeconds", "The model process is taken for hung, stopped and started "
        "anew when it shows no sign of life for this long while it works on a request.", RELOAD,
        minimum=2, maximum=3600,
    ),
    "debounce_ms": Setting(
        "debounceMs", "Wait this long after a keystroke before calling the model; -1 adapts "
        "it to your typing rhythm and the model's speed (no wait when the model keeps up).", LIVE,
        minimum=-1, maximum=5000,
    ),
    "prewarm": Setting(
        "prewarm", "While you pause, refresh the repository context and evaluate the prompt; "
        "after an accept, compute the next suggestion before it is asked for.", LIVE,
    ),
    "context_tokens": Setting(
        "contextTokens", "Of prefixTokens, the most for repository context; 0 turns it off.", LIVE,
        minimum=0, maximum=65536,
    ),
    "context_sources": Setting(
        "contextSources", "Which retrieval sources may fill the context.", LIVE, choices=SOURCES,
    ),
    "index_enabled": Setting("indexEnabled",
                             "Index the workspace with tree-sitter for repository context.",
                             REINDEX),
    "index_exclude": Setting("indexExclude",
                             "Gitignore-style patterns the index leaves out, besides "
                             ".gitignore itself.", REINDEX),
    "index_max_file_bytes": Setting("indexMaxFileBytes", "Larger files are not indexed.", REINDEX,
                                    minimum=1, maximum=1_000_000_000),
    "acceptance_gate": Setting(
        "acceptanceGate", "Let the acceptance predictor skip unlikely requests and hide "
        "suggestions not worth reading (a manual request always gets one).", LIVE,
    ),
    "aggressiveness": Setting(
        "aggressiveness", "How readily suggestions are shown: quiet shows fewer and surer "
        "ones, eager more.", LIVE, choices=AGGRESSIVENESS,
    ),
    "aggressiveness_by_language": Setting(
        "aggressivenessByLanguage", "Per-language aggressiveness, e.g. {\"markdown\": "
        "\"quiet\"}, by LSP languageId.", LIVE, choices=AGGRESSIVENESS,
    ),
    "suggest_in_comments": Setting("suggestInComments",
                                   "Suggest inside comments and strings.", LIVE),
    "exploration_percent": Setting(
        "explorationPercent", "Of the suggestions the predictor would hide, this percentage "
        "is shown anyway (and marked) so that it keeps learning.", LIVE, minimum=0, maximum=50,
    ),
    "personalize": Setting("personalize", "Retrain the predictor on your own accepts and "
                           "rejects, in the background, on this machine.", LIVE),
    "log_code": Setting("logCode", "Store the code around each suggestion in the feedback "
                        "log (off: only numbers are stored), e.g. to build evaluation sets.", LIVE),
    "log_level": Setting("logLevel", "Server log level (to stderr / the client's log).", LIVE,
                         choices=("debug", "info", "warning", "error")),
}

_BY_KEY = {s.key: name for name, s in SETTINGS.items()}


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
    types = {f.name: type(getattr(defaults, f.name)) for f in fields(Config)}
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in raw.items():
        name = _BY_KEY.get(key)
        if name is None:
            errors.append(f"tactful.{key} is not a setting (known: {', '.join(_BY_KEY)})")
            continue
        setting = SETTINGS[name]
        default = getattr(defaults, name)
        problem = (setting.check(value) if setting.check is not None
                   else _check(value, types[name], setting))
        if problem:
            errors.append(f"tactful.{key}: {problem}; using the default {default!r}")
            changes[name] = default
        else:
            changes[name] = tuple(value) if isinstance(value, list) else value
    return replace(base, **changes), errors


def _check(value: Any, expected: type, setting: Setting) -> str | None:
    if expected is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return f"expected an object of strings, got {value!r}"
        unknown = [v for v in value.values() if setting.choices and v not in setting.choices]
        if unknown:
            return f"{', '.join(unknown)} not among {', '.join(setting.choices)}"
        return None
    if expected is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"expected a list of strings, got {value!r}"
        unknown = [v for v in value if setting.choices and v not in setting.choices]
        if unknown:
            return f"{', '.join(unknown)} not among {', '.join(setting.choices)}"
        return None
    # bool is an int in Python; a setting is one or the other.
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expected an integer, got {value!r}"
    if expected is not int and not isinstance(value, expected):
        return f"expected {expected.__name__}, got {value!r}"
    if setting.minimum is not None and value < setting.minimum:
        return f"{value} is below the minimum {setting.minimum}"
    if setting.maximum is not None and value > setting.maximum:
        return f"{value} is above the maximum {setting.maximum}"
    if setting.choices and value not in setting.choices:
        return f"{value!r} is not one of {', '.join(setting.choices)}"
    if expected is str and not value.strip():
        return "must not be empty"
    return None


def changed(old: Config, new: Config) -> list[str]:
    """The settings (by field name) whose values differ between two configurations."""
    return [f.name for f in fields(Config) if getattr(old, f.name) != getattr(new, f.name)]


def to_client(config: Config) -> dict[str, Any]:
    """The config in the client's camelCase keys."""
    return {SETTINGS[f.name].key: _plain(getattr(config, f.name)) for f in fields(Config)}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    return list(value) if isinstance(value, tuple) else value
