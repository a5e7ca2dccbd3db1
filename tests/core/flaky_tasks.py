"""A task that fails a set number of times, to exercise retries on the real worker."""

from swabline.core.tasks import retrying_task

failures_left = 0
done: list[str] = []


@retrying_task(max_attempts=5)
def flaky(payload: str) -> str:
    global failures_left
    if failures_left > 0:
        failures_left -= 1
        raise OSError("gateway down")
    done.append(payload)
    return payload
