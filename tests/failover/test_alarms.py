"""``Alarms``: the attempts' time limits on one loop timer. An alarm that falls due cancels its
task and says so (``expired``); a cleared one never fires; someone else's cancellation is never
taken for a timeout; the loop timer follows the earliest live limit."""

from __future__ import annotations

import asyncio

import pytest

from llmport.adapters.testing.fake import FakeLLM
from llmport.domain import AllProvidersFailed, Timeout
from llmport.ports import RecordingObserver
from llmport.ports.alarms import Alarms

from .conftest import ask, make_policy


async def _limited(alarms: Alarms, delay: float, work: float) -> str:
    """Sleeps ``work`` seconds under an alarm of ``delay``: "done", "expired" or cancelled."""
    alarm = alarms.set(delay, asyncio.current_task())  # type: ignore[arg-type]
    try:
        await asyncio.sleep(work)
    except asyncio.CancelledError:
        if alarm.expired():
            return "expired"
        raise
    finally:
        alarm.clear()
    return "done"


async def test_an_alarm_that_falls_due_cancels_its_await_and_says_so() -> None:
    alarms = Alarms(asyncio.get_running_loop())
    assert await _limited(alarms, 0.01, 10) == "expired"
    assert len(alarms) == 0
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the cancellation was undone


async def test_a_cleared_alarm_never_fires() -> None:
    alarms = Alarms(asyncio.get_running_loop())
    assert await _limited(alarms, 0.02, 0) == "done"
    assert len(alarms) == 0
    await asyncio.sleep(0.04)  # past the limit: nothing is cancelled
    assert await _limited(alarms, 10, 0.001) == "done"


async def test_someone_elses_cancellation_is_not_a_timeout() -> None:
    alarms = Alarms(asyncio.get_running_loop())
    task = asyncio.create_task(_limited(alarms, 10, 10))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(alarms) == 0


async def test_a_cancellation_on_top_of_a_fired_alarm_still_propagates() -> None:
    alarms = Alarms(asyncio.get_running_loop())

    async def doomed() -> str:
        alarm = alarms.set(0.01, asyncio.current_task())  # type: ignore[arg-type]
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            asyncio.current_task().cancel()  # type: ignore[union-attr] - the caller gives up as well
            if alarm.expired():
                return "expired"
            raise
        finally:
            alarm.clear()
        return "done"

    task = asyncio.create_task(doomed())
    await asyncio.sleep(0.05)
    assert task.done()
    with pytest.raises(asyncio.CancelledError):
        await task  # the other cancellation is still owed: delivered at the next await


async def test_the_loop_timer_follows_the_earliest_live_limit() -> None:
    alarms = Alarms(asyncio.get_running_loop())
    slow = asyncio.create_task(_limited(alarms, 0.2, 10))
    await asyncio.sleep(0)
    fast = asyncio.create_task(_limited(alarms, 0.02, 10))  # earlier than the armed timer: re-armed
    middle = asyncio.create_task(_limited(alarms, 0.05, 10))
    assert await fast == "expired"
    assert not slow.done() and not middle.done()
    assert await middle == "expired"
    assert not slow.done()
    assert await slow == "expired"
    assert len(alarms) == 0


async def test_several_due_at_once_all_fire() -> None:
    alarms = Alarms(asyncio.get_running_loop())
    tasks = [asyncio.create_task(_limited(alarms, 0.01, 10)) for _ in range(5)]
    assert await asyncio.gather(*tasks) == ["expired"] * 5


async def test_an_alarm_on_a_finished_task_does_nothing() -> None:
    alarms = Alarms(asyncio.get_running_loop())
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    alarm = alarms.set(0.0, task)
    await asyncio.sleep(0.01)
    assert not alarm.fired and not alarm.expired()
    alarm.clear()
    alarm.clear()  # idempotent
    assert len(alarms) == 0


async def test_cleared_alarms_do_not_pile_up() -> None:
    alarms = Alarms(asyncio.get_running_loop())
    task = asyncio.current_task()
    assert task is not None
    for _ in range(1000):
        alarms.set(3600, task).clear()
    assert len(alarms) == 0
    assert len(alarms._heap) <= 2 * 64 + 2  # rebuilt once most of it is cleared
    live = [alarms.set(3600, task) for _ in range(100)]
    for alarm in live[:50]:
        alarm.clear()
    assert len(alarms) == 50
    for alarm in live[50:]:
        alarm.clear()
    assert len(alarms) == 0


async def test_the_policys_attempt_limit_is_a_timeout_and_the_next_route_answers() -> None:
    observer = RecordingObserver()
    policy = make_policy(_Hang(), FakeLLM("from b", name="b"), observer=observer, attempt_timeout=0.02)
    answer = await policy.complete(ask())
    assert answer.text == "from b"
    first = observer.attempts[0]
    assert (first.outcome, first.error) == ("error", "Timeout")


async def test_the_request_deadline_ends_a_hanging_attempt() -> None:
    policy = make_policy(_Hang(), timeout=0.03)
    with pytest.raises(AllProvidersFailed) as info:
        await policy.complete(ask())
    assert info.value.attempts[0].error == Timeout.__name__
    assert "(request deadline)" in info.value.attempts[0].message
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_the_policy_keeps_one_alarm_set_per_loop() -> None:
    policy = make_policy(FakeLLM("ok"), timeout=5)
    await policy.complete(ask())
    first = policy._alarm_set
    await policy.complete(ask())
    assert policy._alarm_set is first and first is not None and len(first) == 0
    await asyncio.to_thread(asyncio.run, policy.complete(ask()))  # another loop: its own alarms
    assert policy._alarm_set is not first


class _Hang(FakeLLM):
    """Never answers (until cancelled)."""

    def __init__(self) -> None:
        super().__init__(name="hang")

    async def _complete(self, request):  # type: ignore[no-untyped-def]
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")
