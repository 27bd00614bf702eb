"""`tactful doctor`: what a bug report needs, and each problem found with its fix.

It never loads llama.cpp into its own process: the build's information comes from a
throwaway worker (`python -m models.worker --system-info`), and the configuration from
the first-run probe's verdict (running the probe if this machine has none yet).
"""

from __future__ import annotations

import importlib.metadata
import platform
import sqlite3
import sys
from pathlib import Path
from typing import Any

from context.index import index_dir
from feedback.paths import data_dir, default_feedback_path
from feedback.store import folder_problem
from models import probe, registry, store
from models.children import one_answer, start_worker
from models.embedded import fallback_ladder
from models.errors import ModelError
from models.settings import LlamaSettings

SYSTEM_INFO_TIMEOUT_S = 60.0
# CPU features that decide which llama.cpp kernels run.
CPU_FEATURES = {
    "avx2": ("avx2",),
    "avx512": ("avx512f",),
    "avx512_vnni": ("avx512_vnni",),
    "amx": ("amx_tile", "amx_int8", "amx_bf16"),
    "neon": ("neon", "asimd"),
}
REINSTALL = ("reinstall llama.cpp's bindings for this machine: pip install --force-reinstall "
             "--no-cache-dir llama-cpp-python (it compiles for the CPU it runs on)")


def diagnose(model: str | None = None) -> dict[str, Any]:
    """Everything the report holds, as plain data (`--json` prints it as is)."""
    problems: list[dict[str, str]] = []
    report: dict[str, Any] = {
        "tactful": _version("tactful"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_report(),
        "llama_cpp": llama_report(problems),
    }
    report["gpu_offload"] = report["llama_cpp"].get("gpu_offload")
    report["models"] = models_report(model or registry.DEFAULT_MODEL, problems)
    report["probe"] = probe_report(report["models"], problems)
    report["index"] = _folder_report(index_dir())
    report["feedback"] = feedback_report(problems)
    report["predictor"] = predictor_report(problems)
    report["problems"] = problems
    return report


def cpu_report() -> dict[str, Any]:
    flags = set(probe.cpu_flags())
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    return {"model": model, "machine": platform.machine(),
            **{name: any(f in flags for f in names) for name, names in CPU_FEATURES.items()}}


def llama_report(problems: list[dict[str, str]]) -> dict[str, Any]:
    frame, failure = one_answer(start_worker("--system-info"), SYSTEM_INFO_TIMEOUT_S)
    if frame is None:
        error = f"llama.cpp could not be loaded: the process {failure}"
        problems.append({"problem": error, "fix": REINSTALL})
        return {"error": error}
    return frame


def models_report(chosen: str, problems: list[dict[str, str]]) -> dict[str, Any]:
    installed = []
    for spec in registry.known_models():
        if store.is_installed(spec):
            path = store.installed_path(spec)
            installed.append({"name": spec.name, "path": str(path),
                              "bytes": path.stat().st_size})
    report: dict[str, Any] = {"dir": str(store.model_dir()), "installed": installed,
                              "chosen": chosen}
    try:
        report["chosen_path"] = str(store.resolve(chosen).path)
    except ModelError as exc:
        problems.append({"problem": str(exc), "fix": f"tactful models pull {chosen}"})
    return report


def probe_report(models: dict[str, Any], problems: list[dict[str, str]]) -> dict[str, Any]:
    """The verdict for the chosen model with the default settings, and the configurations
    the server would fall back to."""
    if "chosen_path" not in models:
        return {"error": "no model to probe"}
    path = Path(models["chosen_path"])
    settings = LlamaSettings()
    cached = probe.cached_verdict(path, settings) is not None
    try:
        verdict = probe.verdict_for(path, settings)
    except ModelError as exc:
        problems.append({"problem": f"the model cannot be loaded: {exc}",
                         "fix": f"pull it again: tactful models pull --force {models['chosen']}"})
        return {"error": str(exc)}
    if verdict.config == probe.SAFE:
        problems.append({
            "problem": f"llama.cpp's fast configuration fails on this machine: {verdict.reason}",
            "fix": "none needed: Tactful runs the safe one (no extra buffer types, CPU only); "
                   "include this report in a bug report to llama.cpp",
        })
    first = verdict.apply(settings)
    return {
        "config": verdict.config, "reason": verdict.reason, "seconds": round(verdict.seconds, 2),
        "checked_at": verdict.checked_at, "cached": cached,
        "cache": str(probe.probe_dir()),
        "in_use": {k: v for k, v in first.__dict__.items()},
        "fallbacks": [rung.label for rung in fallback_ladder(first, verdict.config)[1:]],
    }


def feedback_report(problems: list[dict[str, str]]) -> dict[str, Any]:
    path = default_feedback_path()
    report: dict[str, Any] = {"path": str(path), "exists": path.is_file(),
                              "bytes": path.stat().st_size if path.is_file() else 0}
    unwritable = folder_problem(path.parent, create=False)
    report["writable"] = unwritable is None
    if unwritable is not None:
        problems.append({
            "problem": f"{unwritable}: the server completes, but logs no decision and "
                       "does not personalize its predictor",
            "fix": f"make {path.parent} writable, or set TACTFUL_DATA_DIR to a folder "
                   "that is",
        })
    if path.is_file():
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                report["check"] = db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.Error as exc:
            report["check"] = str(exc)
        if report["check"] != "ok":
            problems.append({"problem": f"the feedback log is damaged ({report['check']})",
                             "fix": f"move it aside (mv {path} {path}.bak); the server starts "
                                    "a new one"})
    return report


def predictor_report(problems: list[dict[str, str]]) -> dict[str, Any]:
    """Whether the acceptance predictor's models load: the prior that ships in the package,
    and the user's own, where there are any. The server falls back from a damaged one."""
    from completion.predictor.model import AcceptanceModel, ModelFileError
    from completion.predictor.train import PRIOR_DIR

    report: dict[str, Any] = {}
    personal_dir = data_dir() / "predictor"
    for name, folder, prefix in (("prior", PRIOR_DIR, ""), ("personal", personal_dir,
                                                             "personal-")):
        paths = [folder / f"{prefix}{stage}.onnx" for stage in ("pre", "post")]
        if name == "personal" and not any(p.exists() for p in paths):
            report[name] = "none yet"
            continue
        try:
            for path in paths:
                AcceptanceModel.load(path)
            report[name] = "ok"
        except ModelFileError as exc:
            report[name] = str(exc)
            fix = ("reinstall Tactful: pip install --force-reinstall tactful" if name == "prior"
                   else f"delete {folder}: it is refitted from the feedback log")
            fallback = ("every suggestion is shown" if name == "prior"
                        else "the prior decides")
            problems.append({"problem": f"the {name} acceptance model is damaged ({exc}); "
                                        f"until it is replaced, {fallback}", "fix": fix})
    return report


def _folder_report(folder: Path) -> dict[str, Any]:
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return {"dir": str(folder), "workspaces": len({p.parent for p in files}),
            "bytes": sum(p.stat().st_size for p in files)}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def format_report(report: dict[str, Any]) -> str:
    cpu = report["cpu"]
    features = ", ".join(f"{name} {'yes' if cpu[name] else 'no'}" for name in CPU_FEATURES)
    llama = report["llama_cpp"]
    models = report["models"]
    verdict = report["probe"]
    lines = [
        f"tactful {report['tactful']}, Python {report['python']}, {report['platform']}",
        f"CPU: {cpu['model'] or cpu['machine']}",
        f"  {features}",
        f"llama.cpp: llama-cpp-python {llama.get('llama_cpp_python', '?')}",
        f"  {llama.get('system_info', llama.get('error', ''))}",
        f"GPU offload: {_yes_no(report['gpu_offload'])}",
        f"models in {models['dir']}:",
        *(f"  {m['name']} ({m['bytes'] / 2**20:.0f} MiB)" for m in models["installed"]),
        f"  chosen: {models['chosen']}" + (f" ({models['chosen_path']})"
                                           if "chosen_path" in models else " (not installed)"),
    ]
    if "error" in verdict:
        lines.append(f"probe: {verdict['error']}")
    else:
        lines += [
            f"probe: {verdict['config']} configuration ({verdict['reason']}), "
            f"{verdict['seconds']} s, {'cached' if verdict['cached'] else 'run now'} "
            f"({verdict['checked_at']}, {verdict['cache']})",
            "  in use: " + ", ".join(f"{k}={v}" for k, v in verdict["in_use"].items()),
            "  after repeated crashes: " + " → ".join(verdict["fallbacks"]),
        ]
    index, feedback = report["index"], report["feedback"]
    lines += [
        f"index: {index['dir']} ({index['workspaces']} workspaces, "
        f"{index['bytes'] / 2**20:.1f} MiB)",
        f"feedback log: {feedback['path']} "
        + (f"({feedback['bytes'] / 2**20:.1f} MiB, check: {feedback.get('check')})"
           if feedback["exists"] else "(none yet)")
        + ("" if feedback.get("writable", True) else ", not writable: nothing is logged"),
    ]
    if "predictor" in report:
        predictor = report["predictor"]
        lines.append(f"acceptance predictor: prior {predictor['prior']}, "
                     f"personal {predictor['personal']}")
    problems = report["problems"]
    lines.append("problems: none" if not problems else "problems:")
    for problem in problems:
        lines += [f"  - {problem['problem']}", f"    fix: {problem['fix']}"]
    return "\n".join(lines)


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")
