"""Bounded retries with exponential backoff, and the delivery key of the send in progress."""

from __future__ import annotations

from contextvars import ContextVar

import attrs

#: While the relay delivers a journal entry, ``"<login id>:<entry id>"``: the same value every
#: time that entry is retried, also after a restart. An adapter whose remote side de-duplicates
#: sends by a client-chosen id (Matrix ``PUT /send/{eventType}/{txnId}``) uses it as that id,
#: which makes a send repeated after a crash land only once. ``None`` outside deliveries.
delivery_key: ContextVar[str | None] = ContextVar("chatbridge_delivery_key", default=None)


@attrs.frozen
class RetryPolicy:
    """How often and how patiently a journal entry is retried.

    ``attempts`` counts every try including the first; after that many failures the entry
    fails and the origin chat gets a notice. The wait after failure ``n`` (1-based) is
    ``first_delay_s * factor ** (n - 1)`` seconds, at most ``max_delay_s``. The defaults
    keep trying for about 5 minutes (2 + 4 + … + 32 s, then every 60 s): a homeserver restart
    or a short network outage must not turn the messages waiting for it into failures.
    """

    attempts: int = 10
    first_delay_s: float = 2.0
    factor: float = 2.0
    max_delay_s: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed attempt."""
        return float(min(self.max_delay_s, self.first_delay_s * self.factor ** (failures - 1)))
