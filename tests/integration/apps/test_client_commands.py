"""The ``parley`` client commands as a user runs them (real processes) against a real
server on loopback: ``watch``, ``status WORD``, ``buddies``, ``requests``, ``login`` and
``logout``, the client config file, and the errors and exit codes scripts rely on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from parley.apps.config import build_config
from parley.apps.server import Server, start_server
from parley.apps.users import add_user
from parley.client import Account
from parley.client.presence import PresenceChange, Watch
from parley.services.presence import PresenceConfig

PARLEY = [sys.executable, "-m", "parley.apps.cli"]
DOMAIN = "example.com"
ALICE, BOB, CAROL = (f"{user}@{DOMAIN}" for user in ("alice", "bob", "carol"))
#: The bound of every wait: only a broken run waits this long.
WAIT = 30.0
#: RFC 3856 §6.12's 5 s between NOTIFYs would make every test sleep.
TIMINGS = PresenceConfig(min_notify_interval=0.05, persist_delay=0.05)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    config = build_config(
        {},
        {
            "domain": [DOMAIN],
            "listen": ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
            "http": "127.0.0.1:0",
            "data-dir": str(tmp_path / "data"),
        },
    )
    running = await start_server(config, presence=TIMINGS)
    for aor in (ALICE, BOB, CAROL):
        await add_user(running.storage, aor, password_of(aor))
    yield running
    await running.close()


def password_of(aor: str) -> str:
    return f"{aor.partition('@')[0]}-password"


def sip_port(server: Server, transport: str = "udp") -> int:
    return next(item.port for item in server.listeners if item.transport == transport)


def xcap_url(server: Server) -> str:
    assert server.http is not None
    return f"http://127.0.0.1:{server.http.port}/xcap-root"


def as_user(server: Server, aor: str) -> list[str]:
    """The account flags of ``aor`` on ``server``."""
    return [
        "--account", aor, "--server", f"127.0.0.1:{sip_port(server)}",
        "--xcap", xcap_url(server),
    ]  # fmt: skip


def environment(tmp_path: Path, password: str | None, **extra: str) -> dict[str, str]:
    """A user's environment with no client config file and no usable keyring of the
    machine's (the keyring test chooses its own backend)."""
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        **extra,
    }
    env.pop("PARLEY_PASSWORD", None)
    if password is not None:
        env["PARLEY_PASSWORD"] = password
    return env


async def parley(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``parley ARGS`` to its end: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *PARLEY, *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), WAIT * 2)
    finally:
        if process.returncode is None:  # timed out: leave no process behind
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def start_parley(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *PARLEY, *args, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def next_line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT)
    if not line:
        assert process.stderr is not None
        raise AssertionError(f"parley ended: {(await process.stderr.read()).decode()}")
    return line.decode().rstrip("\n")


async def finish(process: asyncio.subprocess.Process) -> int:
    try:
        return await asyncio.wait_for(process.wait(), WAIT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def account(server: Server, aor: str) -> Account:
    return Account(aor, password_of(aor), server=("127.0.0.1", sip_port(server)))


async def change_until(
    watch: Watch[PresenceChange], wanted: tuple[str | None, tuple[str, ...], str | None]
) -> PresenceChange:
    """Changes of ``watch`` until one reads ``(basic, activities, note)``."""
    while True:
        change = await watch.next(WAIT)
        if (change.basic, change.activities, change.note) == wanted:
            return change


# -- parley watch ------------------------------------------------------------------------------


async def test_watch_prints_each_change_until_ctrl_c(server: Server, tmp_path: Path) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account(server, BOB) as bob:
        assert (await bob.register()).status == 200
        watching = await start_parley(
            "watch", BOB, *as_user(server, ALICE), env=environment(tmp_path, "alice-password")
        )
        try:
            assert await next_line(watching) == "bob@example.com open"
            await bob.publish_status(True, "away", "in a meeting")
            assert await next_line(watching) == "bob@example.com open away in a meeting"
            watching.send_signal(signal.SIGINT)
            assert await finish(watching) == 0
        finally:
            await finish(watching)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_watch_json_lines_and_count(server: Server, tmp_path: Path, transport: str) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account(server, BOB) as bob:
        assert (await bob.register()).status == 200
        watching = await start_parley(
            "watch", BOB, "--json", "--count", "2", "--transport", transport,
            "--account", ALICE, "--server", f"127.0.0.1:{sip_port(server, transport)}",
            env=environment(tmp_path, "alice-password"),
        )  # fmt: skip
        try:
            first = json.loads(await next_line(watching))
            assert (first["aor"], first["basic"], first["state"]) == (BOB, "open", "active")
            assert first["activities"] == [] and first["note"] is None
            await bob.publish_status(True, "away", "in a meeting")
            second = json.loads(await next_line(watching))
            assert (second["basic"], second["activities"], second["note"]) == (
                "open", ["away"], "in a meeting",
            )  # fmt: skip
            assert await finish(watching) == 0
        finally:
            await finish(watching)


async def test_watch_several_one_of_whom_has_not_accepted_yet(
    server: Server, tmp_path: Path
) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    async with account(server, BOB) as bob:
        assert (await bob.register()).status == 200
        code, out, _ = await parley(
            "watch", BOB, f"sip:{CAROL}", "--count", "2", *as_user(server, ALICE),
            env=environment(tmp_path, "alice-password"),
        )  # fmt: skip
    assert code == 0
    assert sorted(out.splitlines()) == ["bob@example.com open", "carol@example.com pending"]


# -- parley status WORD [NOTE] -------------------------------------------------------------


async def test_status_publishes_until_interrupted_and_once(server: Server, tmp_path: Path) -> None:
    await server.presence.set_rule(BOB, ALICE, "allow")
    env = environment(tmp_path, "bob-password")
    async with account(server, ALICE) as alice:
        watch = alice.watch(BOB)
        publishing = await start_parley(
            "status", "away", "in a meeting", *as_user(server, BOB), env=env
        )
        try:
            assert (await next_line(publishing)).startswith("published: open away in a meeting")
            await change_until(watch, ("open", ("away",), "in a meeting"))
            publishing.send_signal(signal.SIGINT)
            assert await finish(publishing) == 0
        finally:
            await finish(publishing)
        # Ctrl-C withdrew the publication; bob has no device registered either.
        await change_until(watch, ("closed", (), None))
        code, out, _ = await parley(
            "status", "busy", "--once", "--json", *as_user(server, BOB), env=env
        )
        assert code == 0 and json.loads(out)["activity"] == "busy"
        # --once leaves the status in place after the command is gone.
        await change_until(watch, ("open", ("busy",), None))


async def test_status_word_is_checked_and_server_summary_still_works(
    server: Server, tmp_path: Path
) -> None:
    env = environment(tmp_path, "bob-password")
    code, _, err = await parley("status", "dancing", *as_user(server, BOB), env=env)
    assert code == 2 and err.startswith("parley: unknown status 'dancing'")
    data_dir = str(server.config.data_dir)
    code, out, _ = await parley("status", "--json", "--data-dir", data_dir, env=env)
    assert code == 0 and json.loads(out)["accounts"] == 3


# -- parley buddies --------------------------------------------------------------------------


async def test_buddies_add_list_remove(server: Server, tmp_path: Path) -> None:
    env = environment(tmp_path, "alice-password")
    me = as_user(server, ALICE)
    assert (await parley("buddies", "list", *me, env=env))[1] == "no buddies yet: " + (
        "parley buddies add user@domain\n"
    )
    code, out, _ = await parley("buddies", "add", BOB, "--name", "Bob", *me, env=env)
    assert (code, out) == (0, "added bob@example.com\n")
    assert (await parley("buddies", "add", f"sip:{CAROL}", *me, env=env))[0] == 0
    code, out, _ = await parley("buddies", "list", "--json", *me, env=env)
    assert json.loads(out)["buddies"] == [
        {"uri": f"sip:{BOB}", "address": BOB, "name": "Bob"},
        {"uri": f"sip:{CAROL}", "address": CAROL, "name": None},
    ]
    assert (await parley("buddies", "remove", CAROL, *me, env=env))[0] == 0
    code, out, _ = await parley("buddies", *me, env=env)
    assert (code, out) == (0, "bob@example.com  Bob\n")
    # Adding bob allowed him to see alice (the server's buddy-list rule).
    assert await server.presence.authorizer.handling(ALICE, BOB) == "allow"
    code, _, err = await parley("buddies", "add", *me, env=env)
    assert code == 2 and "needs an ADDRESS" in err


# -- parley requests ---------------------------------------------------------------------------


async def test_requests_allow_and_block(server: Server, tmp_path: Path) -> None:
    env = environment(tmp_path, "alice-password")
    me = as_user(server, ALICE)
    async with account(server, CAROL) as carol, account(server, BOB) as bob:
        carol_watch = carol.watch(ALICE)
        assert (await carol_watch.next(WAIT)).state == "pending"
        bob_watch = bob.watch(ALICE)
        assert (await bob_watch.next(WAIT)).state == "pending"
        code, out, _ = await parley("requests", *me, env=env)
        assert code == 0 and sorted(out.split()) == [BOB, CAROL]
        code, out, _ = await parley("requests", "allow", CAROL, *me, env=env)
        assert (code, out) == (0, "allowed carol@example.com to see your presence\n")
        allowed = await carol_watch.next(WAIT)
        assert (allowed.state, allowed.basic) == ("active", "closed")
        code, out, _ = await parley("requests", "block", f"sip:{BOB}", *me, env=env)
        assert code == 0 and out.startswith("blocked bob@example.com")
        # A polite block: bob is not told; he sees alice offline, as anyone would.
        blocked = await bob_watch.next(WAIT)
        assert (blocked.state, blocked.basic) == ("active", "closed")
        code, out, _ = await parley("requests", "--json", *me, env=env)
        answer = json.loads(out)
        assert code == 0 and answer["requests"] == []
        assert {w["address"]: w["status"] for w in answer["watchers"]}[CAROL] == "active"


# -- errors and exit codes -------------------------------------------------------------------


def closed_tcp_port() -> socket.socket:
    """A loopback port bound but never listening: connections to it are refused."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    return holder


async def test_wrong_password_unreachable_and_unknown_user(server: Server, tmp_path: Path) -> None:
    wrong = environment(tmp_path, "not-it")
    me = as_user(server, ALICE)
    code, _, err = await parley("watch", BOB, *me, env=wrong)
    assert code == 4
    assert err == f"parley: sign-in refused: wrong password for {ALICE} (or no such account)\n"
    code, _, err = await parley("buddies", "list", *me, env=wrong)
    assert code == 4
    assert err == f"parley: sign-in refused: wrong password for {ALICE} (or no such account)\n"
    right = environment(tmp_path, "alice-password")
    code, out, err = await parley("watch", "nobody@example.com", "--json", *me, env=right)
    assert code == 1 and err == "parley: no such user: nobody@example.com\n"
    with closed_tcp_port() as holder:
        port = holder.getsockname()[1]
        code, _, err = await parley(
            "watch", BOB, "--account", ALICE, "--server", f"127.0.0.1:{port}",
            "--transport", "tcp", env=right,
        )  # fmt: skip
        assert code == 3 and err.startswith("parley: server unreachable")
        code, out, err = await parley(
            "buddies", "--json", "--account", ALICE, "--xcap",
            f"http://127.0.0.1:{port}/xcap-root", env=right,
        )  # fmt: skip
        assert code == 3 and err.startswith("parley: XCAP server unreachable")
        assert json.loads(out) == {"ok": False, "error": err[8:-1], "exit": 3}


async def test_no_password_anywhere_is_one_clear_line(server: Server, tmp_path: Path) -> None:
    code, _, err = await parley("buddies", *as_user(server, ALICE), env=environment(tmp_path, None))
    assert code == 4
    assert err == (
        f"parley: no password for {ALICE}: set PARLEY_PASSWORD, run `parley login`, "
        "or run in a terminal\n"
    )


# -- settings and credentials ------------------------------------------------------------------


async def test_client_config_file_and_flags_over_it(server: Server, tmp_path: Path) -> None:
    env = environment(tmp_path, "bob-password")
    config = tmp_path / "config" / "parley" / "client.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'account = "{BOB}"\nserver = "127.0.0.1:{sip_port(server)}"\n'
        f'xcap = "{xcap_url(server)}"\ntransport = "tcp"\n'
    )
    assert await parley("buddies", "add", CAROL, env=env) == (0, f"added {CAROL}\n", "")
    other = tmp_path / "alice.toml"
    other.write_text(f'account = "{ALICE}"\nxcap = "{xcap_url(server)}"\n')
    alice_env = environment(tmp_path, "alice-password")
    code, out, _ = await parley("buddies", "--client-config", str(other), env=alice_env)
    assert (code, out) == (0, "no buddies yet: parley buddies add user@domain\n")
    code, out, _ = await parley("buddies", "--account", ALICE, env=alice_env)
    assert (code, out) == (0, "no buddies yet: parley buddies add user@domain\n")
    other.write_text('acount = "typo@example.com"\n')
    code, _, err = await parley("buddies", "--client-config", str(other), env=env)
    assert code == 2 and "unknown setting 'acount'" in err


KEYRING_BACKEND = '''
"""A keyring backend in one JSON file, for tests (PYTHON_KEYRING_BACKEND selects it)."""
import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1

    def _path(self):
        return Path(os.environ["TEST_KEYRING_FILE"])

    def _load(self):
        path = self._path()
        return json.loads(path.read_text()) if path.exists() else {}

    def get_password(self, service, username):
        return self._load().get(f"{service} {username}")

    def set_password(self, service, username, password):
        data = self._load()
        data[f"{service} {username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service, username):
        data = self._load()
        if data.pop(f"{service} {username}", None) is None:
            raise PasswordDeleteError(username)
        self._path().write_text(json.dumps(data))
'''


async def test_login_keeps_the_password_in_the_keyring(server: Server, tmp_path: Path) -> None:
    (tmp_path / "test_keyring_backend.py").write_text(KEYRING_BACKEND)
    store = tmp_path / "keyring.json"
    keyring = {
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "PYTHON_KEYRING_BACKEND": "test_keyring_backend.FileKeyring",
        "TEST_KEYRING_FILE": str(store),
    }
    me = as_user(server, ALICE)
    code, _, err = await parley("login", *me, env=environment(tmp_path, "wrong", **keyring))
    assert code == 4 and "wrong password" in err and not store.exists()
    code, out, _ = await parley(
        "login", *me, env=environment(tmp_path, "alice-password", **keyring)
    )
    assert (code, out) == (0, f"password of {ALICE} stored in the system keyring\n")
    assert "alice-password" in store.read_text()
    # No PARLEY_PASSWORD, no terminal: the keyring's password signs in.
    no_env = environment(tmp_path, None, **keyring)
    assert (await parley("buddies", "add", BOB, *me, env=no_env))[0] == 0
    assert (await parley("watch", CAROL, "--count", "1", *me, env=no_env))[0] == 0
    code, out, _ = await parley("logout", *me, env=no_env)
    assert (code, out) == (0, f"password of {ALICE} removed from the system keyring\n")
    code, out, _ = await parley("logout", *me, env=no_env)
    assert (code, out) == (0, f"no stored password for {ALICE}\n")
    code, _, err = await parley("buddies", *me, env=no_env)
    assert code == 4 and "no password" in err


async def test_login_without_a_keyring_says_so(server: Server, tmp_path: Path) -> None:
    code, _, err = await parley(
        "login", *as_user(server, ALICE), env=environment(tmp_path, "alice-password")
    )
    assert code == 1 and err.startswith("parley: the system keyring could not store")
    assert err.count("\n") == 1


async def test_send_over_tls_with_the_servers_ca(tmp_path: Path) -> None:
    config = build_config(
        {},
        {
            "domain": [DOMAIN],
            "listen": ["udp:127.0.0.1:0", "tls:127.0.0.1:0"],
            "data-dir": str(tmp_path / "data"),
        },
    )
    running = await start_server(config, presence=TIMINGS)
    try:
        for aor in (ALICE, BOB):
            await add_user(running.storage, aor, password_of(aor))
        ca = tmp_path / "data" / "tls" / "parley-dev-cert.pem"
        tls = ["--account", ALICE, "--server", f"127.0.0.1:{sip_port(running, 'tls')}"]
        async with Account(BOB, password_of(BOB), server=("127.0.0.1", sip_port(running))) as bob:
            await bob.register()
            code, _, err = await parley(
                "send", *tls, "--transport", "tls", "--tls-ca", str(ca), BOB, "secret",
                env=environment(tmp_path, password_of(ALICE)),
            )  # fmt: skip
            assert code == 0, err
            assert (await asyncio.wait_for(bob.messages.get(), WAIT)).text == "secret"
        # Without the server's CA the certificate is not trusted: the server is not reached.
        code, _, err = await parley(
            "send", *tls, "--transport", "tls", BOB, "secret",
            env=environment(tmp_path, password_of(ALICE)),
        )  # fmt: skip
        assert code == 3, err
    finally:
        await running.close()
