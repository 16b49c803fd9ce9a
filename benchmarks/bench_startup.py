"""Start-up, each in a fresh interpreter: ``import openai`` + ``AsyncOpenAI(...)`` (the raw SDK)
against building the container from the environment (one openai provider) and its first
``llm()``; plus ``import llmport.composition`` alone; plus the time to the first answer: the raw
SDK's first ``chat.completions.create`` against the container's first ``llm().complete(...)``, both
from a fresh interpreter to the answer (and the client closed), against the same emulator (a child
process of this one). What either side loads on first use shows in that pair. Wall time of the
child process (interpreter start-up included on both sides), its CPU time (user + system: what
other processes on a shared machine cannot inflate) and its peak RSS, interleaved repeats.

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

from benchmarks.harness import FAMILIES, PROMPT, SHORT, SHORT_TEXT, emulator, stack_env
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
# The first answer: the same prompt, model and token limit on both sides; the SDK's retries off, as llmport's.
RAW_FIRST = ("import asyncio\n"
             "import openai\n"
             "async def main():\n"
             "    client = openai.AsyncOpenAI(api_key='sk-bench-key', base_url=URL + '/v1', max_retries=0)\n"
             "    reply = await client.chat.completions.create(\n"
             "        model=MODEL, messages=[{'role': 'user', 'content': PROMPT}], max_tokens=256)\n"
             "    assert reply.choices[0].message.content == TEXT\n"
             "    await client.close()\n"
             "asyncio.run(main())\n" + _REPORT)
STACK_FIRST = ("import asyncio\n"
               "from llmport.composition.container import Container\n"
               "from llmport.domain import CompletionRequest, Message\n"
               "async def main():\n"
               "    container = Container()\n"
               "    await container.init_resources()\n"
               "    llm = container.llm()\n"
               "    reply = await llm.complete(CompletionRequest(\n"
               "        model='short', messages=[Message.user(PROMPT)], max_tokens=256))\n"
               "    assert reply.text == TEXT\n"
               "    await container.shutdown_resources()\n"
               "asyncio.run(main())\n" + _REPORT)


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
    with tempfile.TemporaryDirectory(prefix="bench-pyc-") as cache, emulator() as url:
        return _run(cache, url)


def _constants(url: str) -> str:
    return f"URL, MODEL, PROMPT, TEXT = {url!r}, {SHORT!r}, {PROMPT!r}, {SHORT_TEXT!r}\n"


def _run(cache: str, url: str) -> list[Result]:
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("LLMPORT_") and k != "PYTHONDONTWRITEBYTECODE"}
    base_env["PYTHONPYCACHEPREFIX"] = cache
    stack = base_env | stack_env(FAMILIES[0], "http://127.0.0.1:9")
    served = base_env | stack_env(FAMILIES[0], url)
    constants = _constants(url)
    snippets = {"raw": (RAW, base_env), "stack": (STACK, stack), "import": (IMPORT, base_env),
                "raw first": (constants + RAW_FIRST, base_env), "stack first": (constants + STACK_FIRST, served)}
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in snippets}
    order = list(snippets)
    for name in order:  # fills the bytecode cache
        _child(*snippets[name])
    for r in range(rounds(5, 3)):
        for name in order if r % 2 == 0 else reversed(order):
            samples[name].append(_child(*snippets[name]))
    out = []
    rows = (("stack", "raw", "container build + first llm()", 1.0),
            ("import", "raw", "import llmport.composition", None),
            ("stack first", "raw first", "to the first answer (llm().complete vs create)", None))
    for name, baseline, label, target in rows:
        ours, raw = list(zip(*samples[name], strict=True)), list(zip(*samples[baseline], strict=True))
        for i, (what, unit) in enumerate((("wall", "ms"), ("CPU", "ms"), ("peak RSS", "MiB"))):
            out.append(Result("startup", f"{label}: {what}", unit, Stat.of(ours[i]), Stat.of(raw[i]),
                              ratios(raw[i], ours[i]), target))
    return out
