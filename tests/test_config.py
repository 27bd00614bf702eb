"""The typed configuration: defaults, wrapping, and bad values replaced by defaults."""

from __future__ import annotations

import json

from lsp.config import CONTEXT_MARGIN, SETTINGS, Config, changed, context_window, parse


def test_defaults_and_section_wrapping() -> None:
    config, errors = parse(None)
    assert config == Config() and errors == []
    config, errors = parse({"tactful": {"maxTokens": 32, "model": "smollm2-135m"}})
    assert (config.max_tokens, config.model) == (32, "smollm2-135m")
    assert errors == []


def test_bad_values_get_a_message_and_the_default() -> None:
    base = Config(max_tokens=99)
    config, errors = parse(
        {"maxTokens": "many", "threads": -3, "enabled": 1, "logLevel": "loud", "nGpuLayers": True},
        base,
    )
    assert config.max_tokens == Config().max_tokens  # the default, not the previous value
    assert config.threads == 0 and config.enabled is True and config.log_level == "info"
    assert config.n_gpu_layers == 0  # a bool is not an integer here
    assert len(errors) == 5
    assert any("tactful.maxTokens" in e and "expected an integer" in e for e in errors)
    assert any("below the minimum" in e for e in errors)


def test_unknown_keys_and_wrong_shapes_are_reported() -> None:
    config, errors = parse({"modle": "x"})
    assert config == Config()
    assert errors and "tactful.modle is not a setting" in errors[0]
    config, errors = parse(["not", "an", "object"])
    assert config == Config() and "must be an object" in errors[0]


def test_round_trip_through_client_keys() -> None:
    config = Config(max_lines=3, time_budget_ms=500)
    # As a client sends it: camelCase keys, JSON values (a tuple goes as a list).
    client = {s.key: json.loads(json.dumps(getattr(config, name))) for name, s in SETTINGS.items()}
    assert parse(client) == (config, [])


def test_context_window_holds_the_budgets_unless_set() -> None:
    c = Config()
    # Prefix-only: the prefix budget and the generation; with FIM the suffix too.
    assert context_window(c, has_fim=False) == 1280
    assert context_window(c, has_fim=True) == 1536
    for has_fim in (False, True):
        window = context_window(c, has_fim)
        needed = c.prefix_tokens + c.max_tokens + CONTEXT_MARGIN
        assert window % 256 == 0 and window >= needed + (c.suffix_tokens if has_fim else 0)
    bigger, _ = parse({"prefixTokens": 4000})
    assert context_window(bigger, has_fim=False) == 4352
    fixed, problems = parse({"contextSize": 2048})
    assert not problems and context_window(fixed, has_fim=True) == 2048


def test_changed_names_the_settings_that_differ() -> None:
    old = Config()
    new, _ = parse({"maxTokens": 8, "model": old.model, "indexExclude": ["*.log"]}, old)
    assert changed(old, new) == ["max_tokens", "index_exclude"]
    assert changed(new, new) == []
