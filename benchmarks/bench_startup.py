"""Start-up, each in a fresh interpreter: ``import openai`` + ``AsyncOpenAI(...)`` (the raw SDK)
against building the container from the environment (one openai provider) and its first
``llm()``; plus ``import llmport.composition`` alone. Wall time of the child process (interpreter
start-up included on both sides), its CPU time (user + system: what other processes on a shared
machine cannot inflate) and its peak RSS, interleaved repeats.

Both sides run from compiled bytecode, as installed packages do (pip compiles modules at install
time): the children share a private bytecode cache filled by one untimed warm-up run of each
snippet. Without it, an editable checkout under ``PYTHONDONTWRITEBYTECODE`` recompiles every
llmport module in every child (~90 ms) while the SDK's come precompiled from its wheel."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

from benchmarks.harness import FAMILIES, stack_env
from benchmarks.stats import Result, Stat, ratios, rounds

# VmHWM, not ru_maxrss: the latter keeps the forking parent's high-water mark across exec.
_REPORT = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0])"
RAW = ("import openai\n"
       "client = openai.AsyncOpenAI(api_key='sk-bench-key', base_url='http://127.0.0.1:9/v1')\n" + _REPORT)
STACK = ("import asyncio\n"
         "from llmport.composition.container import Container\n"
         "async def main():\n"
         "    container = Container()\n"
         "    await container.init_resources()\n"
         "    container.llm()\n"
         "asyncio.run(main())\n" + _REPORT)
IMPORT = "import llmport.composition\n" + _REPORT


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child(code: str, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS bytes) of one fresh interpreter running ``code``."""
    cpu = _cpu_of_children()
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    return wall, _cpu_of_children() - cpu, float(out.stdout.strip().splitlines()[-1]) * 1024


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="bench-pyc-") as cache:
        return _run(cache)


def _run(cache: str) -> list[Result]:
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("LLMPORT_") and k != "PYTHONDONTWRITEBYTECODE"}
    base_env["PYTHONPYCACHEPREFIX"] = cache
    stack = base_env | stack_env(FAMILIES[0], "http://127.0.0.1:9")
    samples: dict[str, list[tuple[float, float, float]]] = {"raw": [], "stack": [], "import": []}
    order = [("raw", RAW, base_env), ("stack", STACK, stack), ("import", IMPORT, base_env)]
    for _, code, env in order:  # fills the bytecode cache
        _child(code, env)
    for r in range(rounds(5, 3)):
        for name, code, env in order if r % 2 == 0 else reversed(order):
            samples[name].append(_child(code, env))
    raw = list(zip(*samples["raw"], strict=True))
    out = []
    for name, label in (("stack", "container build + first llm()"), ("import", "import llmport.composition")):
        ours = list(zip(*samples[name], strict=True))
        target = 1.0 if name == "stack" else None
        for i, (what, unit) in enumerate((("wall", "ms"), ("CPU", "ms"), ("peak RSS", "MiB"))):
            out.append(Result("startup", f"{label}: {what}", unit, Stat.of(ours[i]), Stat.of(raw[i]),
                              ratios(raw[i], ours[i]), target))
    return out
