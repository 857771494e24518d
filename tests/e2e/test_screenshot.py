"""The README's picture of the browser client (docs/web-client.png), taken from a real
session: friends with statuses and notes, a friend request, a chat with delivery states and
a typing buddy. Run with ``PARLEY_SCREENSHOT=docs/web-client.png`` to write it there; without
it the picture goes to a temporary directory and only the scene is checked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from .chat_page import ChatPage
from .conftest import DOMAIN, WAIT_MS, RunningServer

pytestmark = pytest.mark.browser

ALICE, BOB, CAROL, DAVE = (f"{user}@{DOMAIN}" for user in ("alice", "bob", "carol", "dave"))


async def befriend(asker: ChatPage, other: ChatPage) -> None:
    await asker.add_buddy(other.aor)
    await other.page.get_by_role("button", name=f"Allow {asker.aor}").click()
    await asker.expect_status(other.aor, "Available")


async def test_screenshot_of_a_conversation(
    running: RunningServer, browser: Any, tmp_path: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 680})
    page = await context.new_page()
    await page.goto(running.url)
    alice = ChatPage(page, "alice")
    await alice.sign_in()
    bob = await ChatPage.open(browser, running.url, "bob")
    carol = await ChatPage.open(browser, running.url, "carol")
    dave = await ChatPage.open(browser, running.url, "dave")
    await befriend(alice, bob)
    await befriend(alice, carol)
    await dave.add_buddy(ALICE)  # a friend request Alice has not answered yet
    await bob.set_status("Away", "Lunch, back at two")
    await carol.set_status("Busy", "Reviewing RFC 3856")
    await alice.set_status("Available", "Trying the new web client")
    await alice.expect_status(BOB, "Away")
    await alice.expect_status(CAROL, "Busy")

    await bob.open_chat(ALICE)
    await bob.send("Did you see the new presence server?")
    await alice.open_chat(BOB)
    await expect(alice.messages()).to_have_count(1, timeout=WAIT_MS)
    await alice.send("Yes! Status changes show up at once.")
    await expect(alice.messages().last).to_have_attribute(
        "data-delivery", "delivered", timeout=WAIT_MS
    )
    await carol.open_chat(ALICE)
    await carol.send("Meeting moved to 3pm")
    await expect(alice.buddy(CAROL).locator(".badge")).to_have_text("1", timeout=WAIT_MS)
    await bob.page.get_by_label("Message", exact=True).press_sequentially("Let's try it")
    await expect(page.get_by_text(f"{BOB} is typing")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator(f'li.request[data-aor="{DAVE}"]')).to_be_visible(timeout=WAIT_MS)

    picture = tmp_path / "web-client.png"
    await page.screenshot(path=str(picture))
    assert picture.stat().st_size > 10_000
    target = os.environ.get("PARLEY_SCREENSHOT")
    if target:
        shutil.copyfile(picture, target)
