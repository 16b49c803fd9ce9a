"""``llmport-emulator`` / ``python -m llmport.adapters.testing.emulator``: run the emulator standalone."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

_CONTROL_HELP = """\
control API (same port, JSON; vendor/model/tag/endpoint select calls like the Python API):
  POST /_emulator/script     {"steps": [STEP, ...], "then": STEP, "tag": "primary"}
  POST /_emulator/fail_rate  {"rate": 0.2, "seed": 7, "fault": FAULT, "mix": [FAULT, ...]}
  POST /_emulator/reset      forget scripts, fault rates and the journal
  GET  /_emulator/pending    queued steps not consumed yet
  GET  /_emulator/journal    every request (filters: ?vendor=&model=&tag=&endpoint=)
  POST /_emulator/wait_disconnected  {"seq": 3, "timeout": 5}
  STEP = {"reply": {"text": "hi", "chunk_delay": 0.01}} or {"fault": FAULT}
  FAULT = {"kind": "http", "status": 503} (kinds: http hang reset cut malformed stream_error raw)
  A provider tag is a base URL prefix: http://HOST:PORT/x/primary/v1 is tag "primary".
example:
  curl -X POST localhost:8765/_emulator/script -d '{"tag": "primary", "then": {"fault": {"status": 503}}}'
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="llmport-emulator",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve the OpenAI, Anthropic, Google and Bedrock wire protocols on loopback "
                    "with default answers, until Ctrl-C.",
        epilog=_CONTROL_HELP)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port to bind, 0 for any free one (default: %(default)s)")
    parser.add_argument("--journal-limit", type=int, default=10_000,
                        help="requests kept in the journal, newest first out last (default: %(default)s)")
    args = parser.parse_args(argv)

    from . import VendorEmulator

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with VendorEmulator(host=args.host, port=args.port, journal_limit=args.journal_limit) as emu:
        vendors = ", ".join(p.vendor for p in emu.protocols) or "none"
        print(f"llmport emulator listening on {emu.url} (vendors: {vendors}); Ctrl-C to stop", flush=True)
        while not done.wait(0.5):
            pass
    print("llmport emulator stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
