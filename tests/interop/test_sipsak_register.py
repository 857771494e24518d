"""sipsak (Debian package) registers with Digest at Parley's registrar over UDP.

Two sipsak 0.9.8.1 quirks shape the command line and the server set-up:

* in usrloc mode it derives the digest username from the -s URI as "alice@", so the user
  is given again with ``-u alice`` (``--auth-username``);
* it answers only the topmost WWW-Authenticate and gives up ("unsupported authentication
  algorithm") when that is SHA-256, instead of skipping challenges it does not understand
  (RFC 8760 §2.4). The authenticator here therefore offers MD5 first, then SHA-256: the
  extra challenge must not disturb an MD5-only client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import require_tool

from parley.runtime.endpoint import Endpoint
from parley.runtime.transports import Listener, ListenSpec
from parley.services.auth import DigestAuthenticator, make_account
from parley.services.registrar import Registrar
from parley.services.storage.sqlite import SqliteStorage
from parley.sip.core.uas import UasPolicy

pytestmark = pytest.mark.interop

DOMAIN = "localhost"
PASSWORD = "wonderland"
#: sipsak retransmits and gives up on its own; this only stops a wedged run.
WAIT = 60.0


@contextlib.asynccontextmanager
async def registrar(tmp_path: Path) -> AsyncIterator[tuple[Listener, SqliteStorage]]:
    storage = SqliteStorage(tmp_path / "parley.db")
    await storage.open()
    await storage.add_account(make_account(f"alice@{DOMAIN}", PASSWORD))
    authenticator = DigestAuthenticator(storage, algorithms=("MD5", "SHA-256"))
    service = Registrar(storage, authenticator, [DOMAIN])
    policy = UasPolicy(allow=frozenset({"REGISTER", "ACK", "CANCEL"}))
    endpoint = Endpoint(service.handle, policy=policy)
    try:
        (listener,) = await endpoint.start([ListenSpec("udp", "127.0.0.1", 0)])
        yield listener, storage
    finally:
        await endpoint.close()
        await storage.close()


async def sipsak_register(listener: Listener, password: str) -> tuple[int, str]:
    sipsak = require_tool("sipsak")
    process = await asyncio.create_subprocess_exec(
        sipsak,
        "-U",  # usrloc mode: REGISTER only (no -I/-M probing)
        "-s",
        f"sip:alice@{DOMAIN}",
        "-r",
        str(listener.port),
        "-u",
        "alice",
        "-a",
        password,
        "-x",
        "600",  # sipsak's default of 15 s is below our Min-Expires and would earn 423
        "-i",  # no warning about the Via it leaves out in usrloc mode
        "-vv",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), WAIT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode("utf-8", "replace")


async def test_sipsak_registers_with_digest(tmp_path: Path) -> None:
    async with registrar(tmp_path) as (listener, storage):
        returncode, output = await sipsak_register(listener, PASSWORD)
        assert returncode == 0, output
        (binding,) = await storage.get_bindings(f"alice@{DOMAIN}", 0.0)
        assert binding.contact.startswith("sip:alice@127.0.0.1:")
        assert binding.user_agent.startswith("sipsak")


async def test_sipsak_with_a_wrong_password_is_refused(tmp_path: Path) -> None:
    async with registrar(tmp_path) as (listener, storage):
        returncode, output = await sipsak_register(listener, "not-" + PASSWORD)
        assert returncode != 0, output
        assert "authorization failed" in output
        assert await storage.get_bindings(f"alice@{DOMAIN}", 0.0) == []
