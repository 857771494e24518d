"""The presence agent's policy and timing, as one frozen value injected at start.

Durations are seconds. The RFC defaults are the defaults here: RFC 3856 §6.4 suggests an hour
for presence subscriptions, §6.12 one NOTIFY per 5 s per watcher, RFC 3903 §4 an hour for
publications. Tests inject small values rather than sleeping through the real ones.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from parley.sip.core.subscription import PRESENCE, PRESENCE_WINFO, EventPackage


class Policy(enum.Enum):
    """What happens to a watcher the presentity's pres-rules say nothing about.

    ``ASK``: the subscription stays pending (RFC 5025 §3.2.1 ``confirm``) and shows in the
    presentity's watcher information: a friend request. ``OPEN``: anyone may watch
    (``allow``); explicit rules (a block, a polite block) still apply.
    """

    ASK = "ask"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class PresenceConfig:
    """Policy and timing of the presence agent.

    ``policy``: see :class:`Policy`. ``notifier_202``: answer SUBSCRIBE 202 as RFC 3265
    notifiers did (and the seed shows) instead of RFC 6665's 200 (§8.3.1).
    ``min_notify_interval``: at most one NOTIFY per subscription per this many seconds
    (RFC 3856 §6.12; changes in between are coalesced, the last state is never dropped).
    ``min_expires``/``default_expires``/``max_expires``: subscription durations (423 below
    the minimum, RFC 6665 §4.2.1.1). ``publish_min_expires``/``publish_default_expires``/
    ``publish_max_expires``: the same for PUBLISH (RFC 3903 §6 step 5, 423 too).
    ``publication_sweep``: how often publications found in storage are checked for expiry
    (those this process accepted expire on their own timer). ``persist_delay``: how long
    subscription changes are batched before they are written (a crash loses at most that
    much; restored dialogs then skip ``cseq_margin`` CSeq numbers so that no NOTIFY is sent
    with a number already used, RFC 3261 §12.2.1.1 only requires them to grow).
    ``waiting_seconds``: how long a friend request whose subscription ended unanswered is
    still shown to the presentity as a ``waiting`` watcher (RFC 3857 §4.4.3 "waiting").
    """

    policy: Policy = Policy.ASK
    notifier_202: bool = False
    min_notify_interval: float = 5.0
    min_expires: int = 60
    default_expires: int = 3600
    max_expires: int = 86400
    publish_min_expires: int = 60
    publish_default_expires: int = 3600
    publish_max_expires: int = 86400
    publication_sweep: float = 30.0
    persist_delay: float = 0.5
    cseq_margin: int = 100
    waiting_seconds: float = 7 * 86400.0

    def __post_init__(self) -> None:
        if not 0 < self.publish_min_expires <= self.publish_default_expires:
            raise ValueError("need 0 < publish_min_expires <= publish_default_expires")
        if self.publish_default_expires > self.publish_max_expires:
            raise ValueError("need publish_default_expires <= publish_max_expires")
        if self.publication_sweep <= 0 or self.persist_delay < 0 or self.cseq_margin < 0:
            raise ValueError("publication_sweep must be positive, the others not negative")

    def packages(self) -> tuple[EventPackage, EventPackage]:
        """``presence`` (RFC 3856) and ``presence.winfo`` (RFC 3857) with these timings.
        EventPackage checks ``0 < min <= default <= max``."""
        return self._timed(PRESENCE), self._timed(PRESENCE_WINFO)

    def _timed(self, package: EventPackage) -> EventPackage:
        return replace(
            package,
            min_expires=self.min_expires,
            default_expires=self.default_expires,
            max_expires=self.max_expires,
            min_notify_interval=self.min_notify_interval,
        )


__all__ = ["Policy", "PresenceConfig"]
