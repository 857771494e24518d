"""RFC 6665 SIP-specific event notification, sans-I/O: the one import for its users.

The machinery is split by role, as RFC 6665 §4 splits it:

* ``subscription_headers``: Event, Allow-Events and Subscription-State (§8.2, §8.4).
* ``subscription_package``: event packages as registered data (§7) and Accept negotiation;
  ``PRESENCE`` (RFC 3856) and ``PRESENCE_WINFO`` (RFC 3857) are predefined.
* ``subscription_notifier``: one subscription at its notifier (§4.2), as a state table.
* ``subscription_table``: the notifier's subscriptions by dialog id, with one deadline heap.
* ``subscription_subscriber``: the subscriber's side (§4.1), forks and all (§4.1.4).

Like pjsip-simple's evsub, none of it knows what a package's documents say: bodies are
opaque bytes that the caller builds (``parley.payloads``) and hands in.
"""

from parley.sip.core.subscription_headers import (
    EventHeader,
    Reason,
    SubscriptionState,
    SubState,
    format_allow_events,
    parse_allow_events,
)
from parley.sip.core.subscription_notifier import (
    TRANSITIONS,
    Authorization,
    LocalEndpoint,
    NotifierInput,
    NotifierState,
    NotifierSubscription,
    NotifyAction,
)
from parley.sip.core.subscription_package import (
    EVENTLIST,
    PRESENCE,
    PRESENCE_WINFO,
    EventPackage,
    PackageRegistry,
)
from parley.sip.core.subscription_subscriber import (
    NotifyReceived,
    Subscriber,
    SubscriberConfig,
    SubscriberEvent,
    SubscriberState,
    SubscriptionAccepted,
    SubscriptionRejected,
    SubscriptionTerminated,
    reject_notify,
    retry_delay,
)
from parley.sip.core.subscription_table import (
    NotifierConfig,
    SubscribeOutcome,
    SubscriptionTable,
    package_of,
)

__all__ = [
    "EVENTLIST",
    "PRESENCE",
    "PRESENCE_WINFO",
    "TRANSITIONS",
    "Authorization",
    "EventHeader",
    "EventPackage",
    "LocalEndpoint",
    "NotifierConfig",
    "NotifierInput",
    "NotifierState",
    "NotifierSubscription",
    "NotifyAction",
    "NotifyReceived",
    "PackageRegistry",
    "Reason",
    "SubState",
    "SubscribeOutcome",
    "Subscriber",
    "SubscriberConfig",
    "SubscriberEvent",
    "SubscriberState",
    "SubscriptionAccepted",
    "SubscriptionRejected",
    "SubscriptionState",
    "SubscriptionTable",
    "SubscriptionTerminated",
    "format_allow_events",
    "package_of",
    "parse_allow_events",
    "reject_notify",
    "retry_delay",
]
