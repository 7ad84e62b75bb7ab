"""One way to wait: an expectation polled until it holds, fails, or time runs out.

An expectation is a small function returning (State, message), as in Argo CD's own e2e
fixture; the message says what was wanted and what was seen, so a timeout can quote
the last thing seen instead of a bare "timed out".
"""

import enum
import logging
import time
from collections.abc import Callable

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
)

from images import progress

log = logging.getLogger(__name__)


class State(enum.Enum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


Outcome = tuple[State, str]
Expectation = Callable[[], Outcome]


class WaitFailed(AssertionError):
    """An expectation failed outright, or never held before its timeout."""


def succeeded(message: str) -> Outcome:
    return State.SUCCEEDED, message


def pending(message: str) -> Outcome:
    return State.PENDING, message


def failed(message: str) -> Outcome:
    return State.FAILED, message


def _transient(err: BaseException) -> bool:
    """API hiccups worth another poll: 5xx, 429, dropped connections."""
    if isinstance(err, ApiException):
        return err.status is None or err.status >= 500 or err.status == 429
    return isinstance(err, urllib3.exceptions.HTTPError | ConnectionError)


def _last_seen(state: RetryCallState) -> str:
    outcome = state.outcome
    if outcome is None:
        return "nothing yet"
    return f"error: {outcome.exception()}" if outcome.failed else outcome.result()[1]


def _say_when_long(what: str) -> Callable[[RetryCallState], None]:
    """A line every HEARTBEAT_S while a wait goes on: what it waits for, what it saw."""
    said = [0.0]

    def before_sleep(state: RetryCallState) -> None:
        log.debug("waiting for %s: %s", what, _last_seen(state))
        since = state.seconds_since_start or 0.0
        if since - said[0] >= progress.HEARTBEAT_S:
            said[0] = since
            progress.waiting(what, since, _last_seen(state))

    return before_sleep


def wait_until(expectation: Expectation, timeout: float, what: str) -> str:
    """Poll `expectation` until it succeeds; returns its message, raises WaitFailed else.
    A wait that takes longer than about half a minute says so as it goes."""
    retrying = Retrying(
        retry=retry_if_result(lambda outcome: outcome[0] is State.PENDING)
        | retry_if_exception(_transient),
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=0.1, max=2),
        before_sleep=_say_when_long(what),
    )
    try:
        state, message = retrying(expectation)
    except RetryError as err:
        attempt = err.last_attempt
        last = f"error: {attempt.exception()}" if attempt.failed else attempt.result()[1]
        raise WaitFailed(
            f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last}"
        ) from None
    if state is State.FAILED:
        raise WaitFailed(f"gave up waiting for {what}: {message}")
    return message


def all_of(*expectations: Expectation) -> Expectation:
    """Holds when every expectation holds; fails as soon as one fails."""

    def check() -> Outcome:
        messages = []
        for expectation in expectations:
            state, message = expectation()
            if state is not State.SUCCEEDED:
                return state, message
            messages.append(message)
        return succeeded("; ".join(messages))

    return check


def stays_true(expectation: Expectation, duration: float, what: str, interval: float = 1.0) -> None:
    """Checks that `expectation` holds at every poll for `duration` seconds."""
    deadline = time.monotonic() + duration
    polls = 0
    while True:
        state, message = expectation()
        polls += 1
        if state is not State.SUCCEEDED:
            raise WaitFailed(f"{what} stopped holding after {polls} checks: {message}")
        if time.monotonic() >= deadline:
            return
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def holds(outcome: Outcome) -> bool:
    """For one-off checks: did the expectation hold just now?"""
    return outcome[0] is State.SUCCEEDED
