"""The storage interface of the server and the records it holds."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Account:
    """A local user. Only digest HA1 hashes are kept (RFC 7616 §3.4.2): ``ha1_md5`` is
    MD5(user:realm:password), ``ha1_sha256`` its SHA-256 twin; ``realm`` is the domain."""

    aor: str  # "alice@example.com", lowercase domain
    realm: str
    ha1_md5: str
    ha1_sha256: str
    created: float


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of an address of record (RFC 3261 §10.3).

    ``contact`` is the Contact value's URI as sent (with its URI parameters), ``params`` the
    header parameters worth keeping (q, +sip.instance, reg-id, expires is ``expires_at``).
    ``path`` is the Path vector (RFC 3327). ``flow`` names the connection the REGISTER came
    over (``transport:host:port#conn_id``) for connection-oriented transports, or "" for UDP;
    requests to the user go back over it, and the binding ends when it closes.
    ``node`` is the server node that owns the flow (one node today).
    """

    aor: str
    contact: str
    expires_at: float
    q: float = 1.0
    call_id: str = ""
    cseq: int = 0
    instance: str | None = None
    reg_id: int | None = None
    path: tuple[str, ...] = ()
    flow: str = ""
    source: str = ""  # transport:host:port the REGISTER came from (for UDP NAT)
    user_agent: str = ""
    node: str = ""

    @property
    def key(self) -> str:
        """What tells this binding from the AOR's others: its instance and reg-id for an
        RFC 5626 flow (one instance may register one Contact over two flows, §6), else
        its Contact URI (RFC 3261 §10.3)."""
        if self.instance is not None and self.reg_id is not None:
            return f"{self.instance};reg-id={self.reg_id}"
        return self.contact


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A MESSAGE accepted for a user with no device online (RFC 3428 store-and-forward).

    ``id`` grows with arrival, which gives delivery order. ``received`` is when we accepted
    it (it becomes the Date header on delivery); ``expires_at`` when it is dropped unsent.
    """

    id: int
    recipient: str  # AOR
    sender: str  # the From header value as received
    content_type: str
    body: bytes
    received: float
    expires_at: float
    headers: tuple[tuple[str, str], ...] = ()  # extra headers to replay, e.g. CPIM/IMDN bits


class QuotaExceeded(Exception):
    """The recipient's message store is full."""


class Storage(Protocol):
    """The server's persistent state. Writes are durable when the coroutine returns:
    a MESSAGE is answered 202 only after ``store_message`` has committed."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # -- accounts ----------------------------------------------------------------------

    async def add_account(self, account: Account) -> None:
        """Create or replace an account."""

    async def get_account(self, aor: str) -> Account | None: ...

    async def delete_account(self, aor: str) -> bool: ...

    async def list_accounts(self, domain: str | None = None) -> list[Account]: ...

    async def add_accounts(self, accounts: list[Account]) -> int:
        """Create or replace many accounts in one transaction; returns how many."""

    # -- bindings ------------------------------------------------------------------------

    async def get_bindings(self, aor: str, now: float) -> list[Binding]:
        """Live (unexpired) bindings of ``aor``, highest q first."""

    async def put_binding(self, binding: Binding) -> None:
        """Insert or replace the binding of (aor, contact)."""

    async def remove_binding(self, aor: str, key: str) -> None:
        """Remove the binding of ``aor`` whose :attr:`Binding.key` is ``key``."""

    async def remove_bindings(self, aor: str) -> None: ...

    async def remove_flow_bindings(self, flow: str) -> list[Binding]:
        """Drop every binding that rides connection ``flow``; returns what was dropped."""

    async def expire_bindings(self, now: float) -> list[Binding]:
        """Drop expired bindings; returns them."""

    async def all_bindings(self, now: float) -> list[Binding]: ...

    # -- stored messages -------------------------------------------------------------------

    async def store_message(self, message: StoredMessage, quota: int) -> int:
        """Commit ``message`` (its ``id`` is ignored) and return its new id; raises
        QuotaExceeded when the recipient already has ``quota`` messages waiting."""

    async def pending_messages(self, recipient: str, now: float) -> list[StoredMessage]:
        """Unexpired messages for ``recipient`` in arrival order."""

    async def delete_message(self, message_id: int) -> None: ...

    async def expire_messages(self, now: float) -> int: ...

    async def count_messages(self) -> int: ...


# -- presence state (RFC 3903 publications, RFC 6665 subscriptions, XCAP documents) --------


@dataclass(frozen=True, slots=True)
class Publication:
    """One piece of event state published with PUBLISH (RFC 3903 §6): ``etag`` names it;
    ``document`` is the body as published; ``published`` orders publications of one
    presentity (the most recent person element wins in composition, RFC 4479)."""

    aor: str
    event: str
    etag: str
    content_type: str
    document: bytes
    published: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """A notifier-side subscription as the presence agent saves it, so that watchers keep
    getting NOTIFYs after a restart: ``state`` is the subscription's own serialised form
    (dialog, CSeq, version, expiry), opaque to storage."""

    id: str
    presentity: str
    watcher: str
    event: str
    expires_at: float
    state: str


@dataclass(frozen=True, slots=True)
class Document:
    """An XCAP document (RFC 4825): ``auid`` is the application usage
    (``resource-lists``, ``pres-rules``), ``name`` the document name (``index``)."""

    aor: str
    auid: str
    name: str
    content_type: str
    content: bytes
    etag: str


class PresenceStorage(Protocol):
    """Presence state, kept beside accounts and bindings (the same backends implement it)."""

    async def put_publication(self, publication: Publication) -> None:
        """Insert or replace the publication of (aor, event, etag)."""

    async def get_publications(self, aor: str, event: str, now: float) -> list[Publication]:
        """Live publications of ``aor`` for ``event``, oldest first."""

    async def remove_publication(self, aor: str, event: str, etag: str) -> bool: ...

    async def expire_publications(self, now: float) -> list[Publication]: ...

    async def put_subscription(self, record: SubscriptionRecord) -> None: ...

    async def remove_subscription(self, subscription_id: str) -> None: ...

    async def load_subscriptions(self, now: float) -> list[SubscriptionRecord]:
        """Every subscription not yet expired at ``now``."""

    async def get_document(self, aor: str, auid: str, name: str) -> Document | None: ...

    async def put_document(self, document: Document) -> None: ...

    async def delete_document(self, aor: str, auid: str, name: str) -> bool: ...

    async def list_documents(self, auid: str) -> list[Document]:
        """Every document of an application usage (e.g. all pres-rules at start-up)."""

    def document_lock(self, aor: str, auid: str, name: str) -> AbstractAsyncContextManager[None]:
        """Held around a read-modify-write of one document, by everyone who writes it."""
