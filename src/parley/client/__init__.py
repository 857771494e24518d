"""Parley's Python SDK: an account that registers, chats, shows its status and watches
others', with or without a server.

::

    async with Account("alice@example.com", "secret", server=("127.0.0.1", 5060)) as account:
        await account.register()                  # refreshed, kept alive, recovered
        result = await account.send_message("bob@example.com", "Hi There!")
        print(result.delivered, result.stored, result.status, result.reason)
        await account.set_status(True, "away", "in a meeting")
        async for change in account.watch("bob@example.com"):
            print(change.aor, change.basic, change.activities, change.note)

Peer to peer (the seed): ``Account("poisson@probability.org", server=None,
transport="tcp", routes={"academy.ru": ("127.0.0.1", 5070)})`` answers SUBSCRIBEs for its
own address and takes MESSAGEs directly.

Public API:

* :class:`Account`: ``start``/``close`` (or ``async with``), ``register``/``unregister``,
  ``send_message`` -> :class:`SendResult`, ``messages`` (queue) / ``iter_messages()`` of
  :class:`IncomingMessage`, ``send_typing`` and ``typing`` / ``iter_typing()`` of
  :class:`TypingEvent`, ``set_status`` / ``publish_status``, ``watch`` -> :class:`Watch` of
  :class:`PresenceChange`, ``watchers`` -> :class:`Watch` of :class:`WatcherChange`,
  ``state`` (:class:`ConnectionState`) and ``connectivity.listeners``, ``notifier``
  (:class:`PeerNotifier` in peer mode), ``request`` for anything else.
* :class:`ReconnectPolicy`: the backoff after a lost connection.
"""

from parley.client.account import Account, IncomingMessage, SendResult
from parley.client.composing import TypingEvent
from parley.client.connectivity import ConnectionState, ReconnectPolicy
from parley.client.notifier import PeerNotifier
from parley.client.presence import PresenceChange, Watch, WatcherChange, WatcherEntry

__all__ = [
    "Account",
    "ConnectionState",
    "IncomingMessage",
    "PeerNotifier",
    "PresenceChange",
    "ReconnectPolicy",
    "SendResult",
    "TypingEvent",
    "Watch",
    "WatcherChange",
    "WatcherEntry",
]
