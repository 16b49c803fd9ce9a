"""The demo's pipeline part: team guidance from a Markdown directory added to every request, and the
response cache answering a repeated question without an upstream call."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

from llmport.adapters.testing.emulator import VendorEmulator
from llmport.domain import CompletionRequest
from llmport.ports import LLMPort

GUIDANCE = "Team guideline: answer in one short paragraph and never promise a delivery date."


def pipeline_environment() -> dict[str, str]:
    """The variables a deployment sets for guidance and caching (the alias ``smart`` is cached)."""
    directory = Path(tempfile.mkdtemp(prefix="llmport-demo-guidance-"))
    atexit.register(shutil.rmtree, directory, True)
    (directory / "style.md").write_text(f"---\npriority: 5\n---\n{GUIDANCE}\n", encoding="utf-8")
    return {"LLMPORT_CONTEXT__DIRECTORY": str(directory), "LLMPORT_CACHE__ALIASES__SMART__TTL": "300"}


async def show_pipeline(llm: LLMPort, emu: VendorEmulator, request: CompletionRequest, backup: str) -> None:
    """Ask ``request`` again (a cache hit), and show that the guidance reached the backup's request."""
    before = len(emu.journal.entries())
    again = await llm.complete(request)
    upstream = len(emu.journal.entries()) - before
    how = "from the response cache" if again.cached else "upstream"
    print(f"\nsame question again: answered {how} ({upstream} upstream calls, cost {again.cost})")
    sent = [e for e in emu.journal.entries(tag=backup) if e.body is not None]
    carried = bool(sent) and GUIDANCE in json.dumps(sent[0].body)
    print(f"the team guidance (style.md) was in the request {backup!r} received: {'yes' if carried else 'no'}")
