"""The Storage contract, run against every implementation: they must agree exactly."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_support import NOW, account, binding, message

from parley.services.storage import QuotaExceeded, Storage
from parley.services.storage.memory import MemoryStorage
from parley.services.storage.sqlite import SqliteStorage


def make_storage(kind: str, tmp_path: Path) -> Storage:
    if kind == "memory":
        return MemoryStorage()
    return SqliteStorage(tmp_path / "parley.db")


@pytest.fixture(params=["memory", "sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    store = make_storage(request.param, tmp_path)
    await store.open()
    yield store
    await store.close()


# -- accounts ----------------------------------------------------------------------------


async def test_account_round_trips(storage: Storage) -> None:
    alice = account(ha1_md5="a" * 32, ha1_sha256="b" * 64, created=NOW + 0.25)
    await storage.add_account(alice)
    assert await storage.get_account("alice@example.com") == alice


async def test_unknown_account_is_none(storage: Storage) -> None:
    assert await storage.get_account("nobody@example.com") is None


async def test_add_account_replaces(storage: Storage) -> None:
    await storage.add_account(account(ha1_md5="a" * 32))
    await storage.add_account(account(ha1_md5="c" * 32))
    assert (await storage.get_account("alice@example.com")) == account(ha1_md5="c" * 32)
    assert len(await storage.list_accounts()) == 1


async def test_delete_account_says_whether_it_existed(storage: Storage) -> None:
    await storage.add_account(account())
    assert await storage.delete_account("alice@example.com") is True
    assert await storage.get_account("alice@example.com") is None
    assert await storage.delete_account("alice@example.com") is False


async def test_list_accounts_sorted_and_by_domain(storage: Storage) -> None:
    for aor in ("zed@example.com", "bob@example.org", "alice@example.com"):
        await storage.add_account(account(aor))
    everyone = [a.aor for a in await storage.list_accounts()]
    assert everyone == ["alice@example.com", "bob@example.org", "zed@example.com"]
    in_com = [a.aor for a in await storage.list_accounts("EXAMPLE.com")]
    assert in_com == ["alice@example.com", "zed@example.com"]
    assert await storage.list_accounts("nowhere.test") == []


async def test_add_accounts_in_bulk(storage: Storage) -> None:
    await storage.add_account(account("u1@example.com", ha1_md5="a" * 32))
    batch = [account(f"u{i}@example.com") for i in range(500)]
    assert await storage.add_accounts(batch) == 500
    assert await storage.list_accounts() == sorted(batch, key=lambda a: a.aor)
    assert await storage.add_accounts([]) == 0


# -- bindings ------------------------------------------------------------------------------


async def test_binding_round_trips_every_field(storage: Storage) -> None:
    full = binding(
        q=0.5,
        call_id="abc@host",
        cseq=42,
        instance='"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"',
        reg_id=1,
        path=("<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr;ob>"),
        flow="tcp:192.0.2.1:40000#7",
        source="tcp:192.0.2.1:40000",
        user_agent="Parley/0.1",
        node="node-a",
    )
    await storage.put_binding(full)
    assert await storage.get_bindings("alice@example.com", NOW) == [full]


async def test_binding_defaults_round_trip(storage: Storage) -> None:
    plain = binding()
    await storage.put_binding(plain)
    [got] = await storage.get_bindings("alice@example.com", NOW)
    assert got == plain
    assert got.instance is None and got.reg_id is None and got.path == ()


async def test_put_binding_replaces_same_contact(storage: Storage) -> None:
    await storage.put_binding(binding(cseq=1))
    await storage.put_binding(binding(cseq=2, expires_at=NOW + 60))
    assert await storage.get_bindings("alice@example.com", NOW) == [
        binding(cseq=2, expires_at=NOW + 60)
    ]


async def test_bindings_highest_q_first_then_contact(storage: Storage) -> None:
    for contact, q in (("sip:c@h", 0.5), ("sip:a@h", 0.5), ("sip:b@h", 1.0), ("sip:d@h", 0.1)):
        await storage.put_binding(binding(contact=contact, q=q))
    got = await storage.get_bindings("alice@example.com", NOW)
    assert [b.contact for b in got] == ["sip:b@h", "sip:a@h", "sip:c@h", "sip:d@h"]


async def test_expired_bindings_are_not_live(storage: Storage) -> None:
    await storage.put_binding(binding(contact="sip:gone@h", expires_at=NOW))
    await storage.put_binding(binding(contact="sip:live@h", expires_at=NOW + 0.001))
    live = await storage.get_bindings("alice@example.com", NOW)
    assert [b.contact for b in live] == ["sip:live@h"]
    assert [b.contact for b in await storage.all_bindings(NOW)] == ["sip:live@h"]


async def test_bindings_are_per_aor(storage: Storage) -> None:
    await storage.put_binding(binding("alice@example.com", "sip:x@h"))
    await storage.put_binding(binding("bob@example.com", "sip:x@h"))
    await storage.remove_binding("alice@example.com", "sip:x@h")
    assert await storage.get_bindings("alice@example.com", NOW) == []
    assert await storage.get_bindings("bob@example.com", NOW) == [
        binding("bob@example.com", "sip:x@h")
    ]


async def test_remove_binding_of_unknown_contact_is_harmless(storage: Storage) -> None:
    await storage.remove_binding("alice@example.com", "sip:nobody@h")
    await storage.remove_bindings("nobody@example.com")


async def test_remove_bindings_drops_the_whole_aor(storage: Storage) -> None:
    await storage.put_binding(binding(contact="sip:1@h"))
    await storage.put_binding(binding(contact="sip:2@h"))
    await storage.put_binding(binding("bob@example.com"))
    await storage.remove_bindings("alice@example.com")
    assert await storage.get_bindings("alice@example.com", NOW) == []
    assert len(await storage.get_bindings("bob@example.com", NOW)) == 1


async def test_remove_flow_bindings_returns_what_it_dropped(storage: Storage) -> None:
    flow = "tcp:192.0.2.1:40000#7"
    on_flow = [
        binding("alice@example.com", "sip:a@h", flow=flow),
        binding("bob@example.com", "sip:b@h", flow=flow, expires_at=NOW - 1),
    ]
    other = binding("alice@example.com", "sip:other@h", flow="tcp:192.0.2.1:40001#8")
    udp = binding("carol@example.com", "sip:c@h")
    for b in [*on_flow, other, udp]:
        await storage.put_binding(b)
    assert await storage.remove_flow_bindings(flow) == on_flow
    assert await storage.all_bindings(NOW) == [other, udp]
    assert await storage.remove_flow_bindings(flow) == []


async def test_empty_flow_is_no_flow(storage: Storage) -> None:
    # UDP bindings carry flow="": closing "no connection" must not unregister them all.
    await storage.put_binding(binding())
    assert await storage.remove_flow_bindings("") == []
    assert await storage.get_bindings("alice@example.com", NOW) == [binding()]


async def test_expire_bindings(storage: Storage) -> None:
    old = binding("bob@example.com", "sip:old@h", expires_at=NOW - 10)
    due = binding("alice@example.com", "sip:due@h", expires_at=NOW)
    live = binding("alice@example.com", "sip:live@h", expires_at=NOW + 10)
    for b in (old, due, live):
        await storage.put_binding(b)
    assert await storage.expire_bindings(NOW) == [due, old]
    assert await storage.expire_bindings(NOW) == []
    assert await storage.all_bindings(NOW - 100) == [live]


async def test_all_bindings_ordered_by_aor_then_q(storage: Storage) -> None:
    wanted = [
        binding("alice@example.com", "sip:2@h", q=0.9),
        binding("alice@example.com", "sip:1@h", q=0.1),
        binding("bob@example.com", "sip:1@h"),
    ]
    for b in reversed(wanted):
        await storage.put_binding(b)
    assert await storage.all_bindings(NOW) == wanted


# -- stored messages -----------------------------------------------------------------------


async def test_message_round_trips(storage: Storage) -> None:
    original = message(
        id=999,  # ignored: the store assigns ids
        body=bytes(range(256)),
        content_type="message/cpim",
        headers=(("NS", "imdn <urn:ietf:params:imdn>"), ("imdn.Message-ID", "34jk324j")),
    )
    new_id = await storage.store_message(original, quota=10)
    [got] = await storage.pending_messages("alice@example.com", NOW)
    assert got.id == new_id != 999
    assert got == dataclasses.replace(original, id=new_id)


async def test_empty_body_round_trips(storage: Storage) -> None:
    await storage.store_message(message(body=b""), quota=10)
    [got] = await storage.pending_messages("alice@example.com", NOW)
    assert got.body == b"" and got.headers == ()


async def test_ids_grow_and_give_arrival_order(storage: Storage) -> None:
    ids = [await storage.store_message(message(body=str(i).encode()), quota=100) for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5 and ids[0] >= 1
    pending = await storage.pending_messages("alice@example.com", NOW)
    assert [m.id for m in pending] == ids
    assert [m.body for m in pending] == [b"0", b"1", b"2", b"3", b"4"]


async def test_ids_are_not_reused_after_delete(storage: Storage) -> None:
    first = await storage.store_message(message(), quota=10)
    second = await storage.store_message(message(), quota=10)
    await storage.delete_message(second)
    third = await storage.store_message(message(), quota=10)
    assert first < second < third


async def test_pending_is_per_recipient_and_unexpired(storage: Storage) -> None:
    await storage.store_message(message("bob@example.com"), quota=10)
    await storage.store_message(message(expires_at=NOW + 5), quota=10)
    keep = await storage.store_message(message(expires_at=NOW + 50), quota=10)
    assert [m.id for m in await storage.pending_messages("alice@example.com", NOW + 5)] == [keep]
    assert await storage.pending_messages("carol@example.com", NOW) == []


async def test_delete_message(storage: Storage) -> None:
    gone = await storage.store_message(message(), quota=10)
    kept = await storage.store_message(message(), quota=10)
    await storage.delete_message(gone)
    await storage.delete_message(gone)  # deleting twice is harmless
    await storage.delete_message(123456)
    assert [m.id for m in await storage.pending_messages("alice@example.com", NOW)] == [kept]
    assert await storage.count_messages() == 1


async def test_expire_messages(storage: Storage) -> None:
    await storage.store_message(message(expires_at=NOW - 1), quota=10)
    await storage.store_message(message("bob@example.com", expires_at=NOW), quota=10)
    await storage.store_message(message(expires_at=NOW + 1), quota=10)
    assert await storage.count_messages() == 3  # expired ones count until swept
    assert await storage.expire_messages(NOW) == 2
    assert await storage.expire_messages(NOW) == 0
    assert await storage.count_messages() == 1


async def test_quota_is_per_recipient(storage: Storage) -> None:
    for _ in range(3):
        await storage.store_message(message(), quota=3)
    with pytest.raises(QuotaExceeded):
        await storage.store_message(message(), quota=3)
    await storage.store_message(message("bob@example.com"), quota=3)
    assert len(await storage.pending_messages("alice@example.com", NOW)) == 3
    assert await storage.count_messages() == 4


async def test_quota_frees_up_after_delivery(storage: Storage) -> None:
    first = await storage.store_message(message(), quota=1)
    with pytest.raises(QuotaExceeded):
        await storage.store_message(message(), quota=1)
    await storage.delete_message(first)
    await storage.store_message(message(), quota=1)


async def test_expired_messages_do_not_hold_quota(storage: Storage) -> None:
    await storage.store_message(message(expires_at=NOW + 10), quota=1)
    with pytest.raises(QuotaExceeded):
        await storage.store_message(message(received=NOW + 9), quota=1)
    await storage.store_message(message(received=NOW + 10, expires_at=NOW + 100), quota=1)


async def test_zero_quota_stores_nothing(storage: Storage) -> None:
    with pytest.raises(QuotaExceeded):
        await storage.store_message(message(), quota=0)
    assert await storage.count_messages() == 0


async def test_concurrent_stores_respect_the_quota(storage: Storage) -> None:
    results = await asyncio.gather(
        *(storage.store_message(message(), quota=10) for _ in range(40)), return_exceptions=True
    )
    stored = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(stored) == 10 and len(refused) == 30
    assert len(await storage.pending_messages("alice@example.com", NOW)) == 10


async def test_one_instance_may_bind_one_contact_over_two_flows(storage: Storage) -> None:
    # RFC 5626 §6: (instance, reg-id) names a flow's binding, not its Contact URI.
    for reg_id in (1, 2):
        await storage.put_binding(
            binding(contact="sip:a@h;ob", instance="<urn:uuid:1>", reg_id=reg_id, flow=f"f{reg_id}")
        )
    found = await storage.get_bindings("alice@example.com", NOW)
    assert sorted(b.reg_id or 0 for b in found) == [1, 2]
    await storage.remove_binding("alice@example.com", found[0].key)
    assert len(await storage.get_bindings("alice@example.com", NOW)) == 1
