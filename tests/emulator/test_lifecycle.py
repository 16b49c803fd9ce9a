"""Starting and stopping the emulator, its CLI, and what importing it does (and must not do)."""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpx2
import pytest

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.adapters.testing.emulator.runner import WIRE_MODULES

from .echo_wire import EchoWire


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_with_starts_on_a_free_port_and_stops_cleanly() -> None:
    threads_before = set(threading.enumerate())
    started = time.perf_counter()
    with VendorEmulator(protocols=[EchoWire()]) as emu:
        up = time.perf_counter() - started
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.url)
        assert httpx2.post(f"{emu.url}/v1/echo", json={"model": "m", "input": "x"}).status_code == 200
        port = emu.port
        stopping = time.perf_counter()
    down = time.perf_counter() - stopping
    print(f"emulator start {up * 1000:.1f} ms, stop {down * 1000:.1f} ms")
    assert not emu.running
    assert _refused(port)
    assert set(threading.enumerate()) <= threads_before


def test_two_emulators_get_different_ports_and_url_needs_a_start() -> None:
    emu = VendorEmulator(protocols=[EchoWire()])
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.url
    with emu, VendorEmulator(protocols=[EchoWire()]) as other:
        assert emu.port != other.port


def test_restart_keeps_scripts_and_journal() -> None:
    from llmport.adapters.testing.emulator import Reply

    emu = VendorEmulator(protocols=[EchoWire()])
    emu.script(Reply(text="one"), Reply(text="two"))
    for expected in ("one", "two"):
        with emu:
            assert httpx2.post(f"{emu.url}/v1/echo", json={"model": "m"}).json()["text"] == expected
    assert len(emu.journal) == 2


async def test_async_with_does_not_block_the_loop() -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    import asyncio

    ticker = asyncio.create_task(tick())
    async with VendorEmulator(protocols=[EchoWire()]) as emu, httpx2.AsyncClient(base_url=emu.url) as c:
        r = await c.post("/v1/echo", json={"model": "m", "input": "x"})
        assert r.status_code == 200
    ticker.cancel()
    assert ticks > 1
    assert not emu.running


def test_default_protocols_are_the_wire_modules_that_exist() -> None:
    emu = VendorEmulator()
    present = [m for m in WIRE_MODULES
               if importlib.util.find_spec(f"llmport.adapters.testing.emulator.{m}") is not None]
    assert len(emu.protocols) == len(present) >= 1
    assert len({p.vendor for p in emu.protocols}) == len(emu.protocols)


def test_a_wire_module_failing_inside_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmport.adapters.testing.emulator import runner

    monkeypatch.setattr(runner, "WIRE_MODULES", ("_wire_that_imports_nothing_real",))
    assert runner.default_protocols() == []  # the module itself is missing: skipped
    broken = "llmport.adapters.testing.emulator._broken_wire"

    class BrokenWire(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
            return importlib.util.spec_from_loader(name, self) if name == broken else None

        def exec_module(self, module: ModuleType) -> None:
            import _a_dependency_nobody_installed  # type: ignore[import-not-found]  # noqa: F401

    monkeypatch.setattr(sys, "meta_path", [BrokenWire(), *sys.meta_path])
    monkeypatch.setattr(runner, "WIRE_MODULES", ("_broken_wire",))
    with pytest.raises(ModuleNotFoundError, match="_a_dependency_nobody_installed"):
        runner.default_protocols()
    sys.modules.pop(broken, None)


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def test_importing_the_library_imports_no_server_library() -> None:
    out = _python("import sys, llmport.adapters, llmport.adapters.testing; "
                  "print(sorted(m for m in sys.modules if m.split('.')[0] in ('uvicorn', 'starlette', 'aiohttp')))")
    assert out.strip() == "[]"


def test_the_emulator_does_not_bring_aiohttp() -> None:
    """google-genai switches its async transport to aiohttp whenever aiohttp is importable."""
    out = _python("import sys; from llmport.adapters.testing.emulator import VendorEmulator\n"
                  "with VendorEmulator() as emu: pass\n"
                  "print('aiohttp' in sys.modules)")
    assert out.strip() == "False"
    requires = [*(importlib.metadata.requires("uvicorn") or []), *(importlib.metadata.requires("starlette") or [])]
    hard = [r for r in requires if "extra ==" not in r]
    assert not [r for r in hard if r.lower().startswith("aiohttp")]


def test_cli_serves_until_interrupted() -> None:
    with subprocess.Popen([sys.executable, "-m", "llmport.adapters.testing.emulator", "--port", "0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            assert match, line
            r = httpx2.post(f"{match.group(0)}/v1/chat/completions",
                            json={"model": "demo", "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code in (200, 404)  # 404 only while no OpenAI wire exists
            os.kill(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=10)
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
