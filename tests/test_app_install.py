"""Tactful installed as an application, as the README's Install section says: `pipx
install` or `uv tool install` from this checkout, into temporary folders. The `tactful` it
puts on PATH must pull the default model into an empty model folder, serve it to `tactful
demo`'s editor-like client, and pass `tactful doctor`.

It uses whichever of the two tools this machine has (pipx first: with its pip back end,
pip's wheel cache holds the llama.cpp build, so it is compiled once per machine; uv keeps
a build cache of its own). .ci/run installs pipx where neither is found."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT_S = 1500  # a first uv build of llama.cpp: about 6 minutes on 2 cores


def find_tool(name: str) -> str | None:
    """`name` on PATH, or beside this interpreter (a venv's bin)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))


def install_command(source: Path, home: Path) -> tuple[list[str], dict[str, str]]:
    """The command that installs `source` as an application under `home`, and its env."""
    bin_dir = str(home / "bin")
    if pipx := find_tool("pipx"):
        return [pipx, "install", str(source)], {
            "PIPX_HOME": str(home / "pipx"), "PIPX_BIN_DIR": bin_dir,
            "PIPX_MAN_DIR": str(home / "man"), "PIPX_DEFAULT_BACKEND": "pip"}
    if uv := find_tool("uv"):
        return [uv, "tool", "install", str(source)], {
            "UV_TOOL_DIR": str(home / "uv-tools"), "UV_TOOL_BIN_DIR": bin_dir}
    pytest.skip("neither pipx nor uv is installed (pip install pipx)")


def checkout_copy(dest: Path) -> Path:
    """The files git tracks or would track, as they are now: the install builds there, not
    in this checkout (setuptools writes build/ and egg-info beside the sources)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.mark.model
def test_an_application_install_pulls_serves_and_passes_doctor(tmp_path: Path) -> None:
    source = checkout_copy(tmp_path / "source")
    command, tool_env = install_command(source, tmp_path / "apps")
    installed = subprocess.run(command, env={**os.environ, **tool_env}, capture_output=True,
                               text=True, timeout=INSTALL_TIMEOUT_S, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tactful = tmp_path / "apps" / "bin" / "tactful"
    assert tactful.is_file(), installed.stdout + installed.stderr

    # Run from elsewhere, with nothing of this checkout's on its path, and every per-user
    # folder empty: the model is pulled by the installed tactful's own pip.
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV") and not key.startswith("TACTFUL_")}
    env.update({
        "PATH": f"{tactful.parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "TACTFUL_MODEL_DIR": str(tmp_path / "models"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    })
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tactful", *args], env=env, cwd=elsewhere, capture_output=True,
                              text=True, timeout=600)

    version = run("--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout, version.stderr
    demo = run("demo", "--positions", "3")
    assert demo.returncode == 0, demo.stderr
    assert "3 completions" in demo.stdout, demo.stdout
    assert (tmp_path / "models").is_dir() and any((tmp_path / "models").glob("*.gguf"))
    doctor = run("doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "problems: none" in doctor.stdout, doctor.stdout
    # The application's own interpreter ran it, not this checkout's venv.
    shebang = tactful.read_text().splitlines()[0]
    assert shebang.startswith(f"#!{tmp_path / 'apps'}"), shebang
