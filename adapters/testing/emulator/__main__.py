"""``llmport-emulator`` / ``python -m llmport.adapters.testing.emulator``: run the emulator standalone."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="llmport-emulator",
        description="Serve the OpenAI, Anthropic, Google and Bedrock wire protocols on loopback "
                    "with default answers, until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port to bind, 0 for any free one (default: %(default)s)")
    args = parser.parse_args(argv)

    from . import VendorEmulator

    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with VendorEmulator(host=args.host, port=args.port) as emu:
        vendors = ", ".join(p.vendor for p in emu.protocols) or "none"
        print(f"llmport emulator listening on {emu.url} (vendors: {vendors}); Ctrl-C to stop", flush=True)
        while not done.wait(0.5):
            pass
    print("llmport emulator stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
