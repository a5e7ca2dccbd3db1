"""Questions the sampling engine asks apps that come after it.

Dependencies point one way (DESIGN §9: sampling → labs → results), so the results
app answers these by registering functions in its `AppConfig.ready`. Without it,
nobody is on a recall or recollection list.
"""

from __future__ import annotations

from collections.abc import Callable

PersonCheck = Callable[[int, int], bool]  # (person id, campaign id) → listed?


def _nobody(person_id: int, campaign_id: int) -> bool:
    return False


_recall: PersonCheck = _nobody
_recollect: PersonCheck = _nobody


def register(*, recall: PersonCheck, recollect: PersonCheck) -> None:
    global _recall, _recollect
    _recall, _recollect = recall, recollect


def recall_pending(person_id: int, campaign_id: int) -> bool:
    """On the recall list (pool positive) and not yet resampled individually."""
    return _recall(person_id, campaign_id)


def recollect_pending(person_id: int, campaign_id: int) -> bool:
    """To be swabbed again (invalid result, rejected tube) and not yet resampled."""
    return _recollect(person_id, campaign_id)
