"""One replica of the fleet test: its own container, configured only by environment variables.

Protocol on stdin/stdout (one JSON line each): prints ``{"ready": true}`` once its container is up and
it hears the other replicas; then for each ``{"requests": n, "gap": seconds}`` line it sends ``n``
requests one after another (``gap`` seconds apart) and prints what it got; ``{"stop": true}``
ends it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from llmport.composition import Container
from llmport.domain import CompletionRequest, LLMError, Message


def say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main() -> None:
    container = Container()
    await container.init_resources()
    try:
        llm = container.llm()
        state = container.policy().state
        await state.start()  # type: ignore[attr-defined]
        say({"ready": True})
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            command = json.loads(line or '{"stop": true}')
            if command.get("stop"):
                return
            answered = failed = 0
            errors: list[str] = []
            providers: list[str | None] = []
            for _ in range(int(command["requests"])):
                try:
                    completion = await llm.complete(CompletionRequest("smart", [Message.user("hello fleet")]))
                    providers.append(completion.provider)
                    answered += 1
                except LLMError as exc:
                    failed += 1
                    errors.append(type(exc).__name__)
                await asyncio.sleep(float(command.get("gap", 0.0)))
            now = time.monotonic()
            say({"answered": answered, "failed": failed, "errors": errors[:5], "providers": providers,
                 "primary": state.breaker_state("primary/gpt-test", now)})
    finally:
        await container.shutdown_resources()


if __name__ == "__main__":
    asyncio.run(main())
