"""Corpora of real code: pure-Python packages from PyPI, each one a repository.

A corpus file lists `name==version` lines (`#` comments allowed). Wheels are fetched with
`pip download --no-deps --only-binary :all:` (so the user's index configuration applies),
cached, and unpacked once; a wheel holds the package's source.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from models.store import user_cache_dir


class CorpusError(Exception):
    pass


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    root: Path  # the unpacked wheel: the package's "repository"

    @property
    def label(self) -> str:
        return f"{self.name}=={self.version}"

    def python_files(self) -> list[Path]:
        """Its Python sources, sorted, without tests' fixtures or generated stubs."""
        return sorted(
            p for p in self.root.rglob("*.py")
            if ".dist-info" not in p.parts and p.stat().st_size > 0
        )


def cache_dir() -> Path:
    return user_cache_dir("corpora", "TACTFUL_CORPUS_DIR")


def read_corpus(path: Path) -> list[tuple[str, str]]:
    pins = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise CorpusError(f"{path}:{number}: expected name==version, got {raw!r}")
        pins.append((name.strip(), version.strip()))
    if not pins:
        raise CorpusError(f"{path} lists no packages")
    return pins


def fetch(name: str, version: str) -> Package:
    """The unpacked wheel of name==version, downloading it on first use."""
    base = cache_dir()
    root = base / "src" / f"{_normalize(name)}-{version}"
    if (root / ".complete").exists():
        return Package(name, version, root)
    wheels = base / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    wheel = _find_wheel(wheels, name, version) or _download(name, version, wheels)
    tmp = root.with_name(root.name + ".partial")
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            target = (tmp / info.filename).resolve()
            if not str(target).startswith(str(tmp.resolve()) + os.sep):
                raise CorpusError(f"{wheel.name} has an entry outside its root: {info.filename}")
        zf.extractall(tmp)
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    (root / ".complete").touch()
    return Package(name, version, root)


def load_corpus(path: Path) -> list[Package]:
    return [fetch(name, version) for name, version in read_corpus(path)]


def _normalize(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _find_wheel(folder: Path, name: str, version: str) -> Path | None:
    prefix = f"{_normalize(name)}-{version}-"
    for wheel in folder.glob("*.whl"):
        if wheel.name.lower().startswith(prefix):
            return wheel
    return None


def _download(name: str, version: str, dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--disable-pip-version-check", "-q", "-d", str(dest), f"{name}=={version}",
    ]
    result = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, check=False)
    wheel = _find_wheel(dest, name, version)
    if result.returncode != 0 or wheel is None:
        raise CorpusError(f"could not download a wheel of {name}=={version} from the package index")
    return wheel
