"""The browser client end to end (issue 6): real pages in headless Chromium against a real
server, every status and message going over SIP over WebSocket, the buddy list and rules
over XCAP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import expect

from parley.client import Account

from .chat_page import ChatPage
from .conftest import DOMAIN, WAIT_MS, RunningServer

pytestmark = pytest.mark.browser

ALICE, BOB, CAROL = (f"{user}@{DOMAIN}" for user in ("alice", "bob", "carol"))


async def become_friends(alice: ChatPage, bob: ChatPage) -> None:
    """Alice asks (adds Bob, which subscribes to him); Bob allows the request."""
    await alice.add_buddy(BOB)
    await alice.expect_status(BOB, "Awaiting approval")
    request = bob.page.locator(f'li.request[data-aor="{ALICE}"]')
    await expect(request).to_be_visible(timeout=WAIT_MS)
    await bob.page.get_by_role("button", name=f"Allow {ALICE}").click()
    await expect(request).to_have_count(0, timeout=WAIT_MS)
    await alice.expect_status(BOB, "Available")
    await bob.expect_status(ALICE, "Available")


async def test_friends_see_each_others_status_and_chat_both_ways(
    running: RunningServer, browser: Any
) -> None:
    alice = await ChatPage.open(browser, running.url, "alice")
    bob = await ChatPage.open(browser, running.url, "bob")
    await become_friends(alice, bob)

    await bob.set_status("Away", "at lunch")
    await alice.expect_status(BOB, "Away")
    await expect(alice.buddy(BOB)).to_contain_text("at lunch", timeout=WAIT_MS)
    await alice.set_status("Busy")
    await bob.expect_status(ALICE, "Busy")
    await bob.set_status("Available")
    await alice.expect_status(BOB, "Available")

    await alice.open_chat(BOB)
    # RFC 3994: Bob sees Alice typing before her message arrives.
    await alice.page.get_by_label("Message", exact=True).press_sequentially("Hi Bob")
    await bob.open_chat(ALICE)
    await expect(bob.page.get_by_text(f"{ALICE} is typing")).to_be_visible(timeout=WAIT_MS)
    await alice.page.get_by_label("Message", exact=True).press("Enter")
    await expect(alice.messages().last).to_have_attribute(
        "data-delivery", "delivered", timeout=WAIT_MS
    )
    await expect(bob.messages().last).to_contain_text("Hi Bob", timeout=WAIT_MS)
    await expect(bob.page.get_by_text(f"{ALICE} is typing")).to_have_count(0, timeout=WAIT_MS)

    await bob.send("Hello Alice")
    await expect(alice.messages().last).to_contain_text("Hello Alice", timeout=WAIT_MS)
    await expect(bob.messages().last).to_have_attribute(
        "data-delivery", "delivered", timeout=WAIT_MS
    )

    # Signing out takes Bob offline for Alice (PUBLISH removed, registration gone).
    await bob.sign_out()
    await alice.expect_status(BOB, "Offline")


async def test_messages_sent_while_signed_out_are_shown_after_sign_in(
    running: RunningServer, browser: Any
) -> None:
    alice = await ChatPage.open(browser, running.url, "alice")
    bob = await ChatPage.open(browser, running.url, "bob")
    await become_friends(alice, bob)
    await bob.sign_out()
    await alice.expect_status(BOB, "Offline")

    await alice.open_chat(BOB)
    await alice.send("Are you there?")
    await alice.send("Call me back")
    sent = alice.messages()
    await expect(sent.nth(1)).to_have_attribute("data-delivery", "stored", timeout=WAIT_MS)
    await expect(sent.nth(0)).to_contain_text("Stored for offline delivery")

    await bob.sign_in()
    # The stored messages arrive once Bob registers: unread until he opens the chat.
    await expect(bob.buddy(ALICE).locator(".badge")).to_have_text("2", timeout=WAIT_MS)
    await bob.open_chat(ALICE)
    await expect(bob.messages().locator(".text")).to_have_text(
        ["Are you there?", "Call me back"], timeout=WAIT_MS
    )
    await expect(bob.buddy(ALICE).locator(".badge")).to_have_count(0)

    # History survives a reload (the password does not: signing in again is needed).
    await alice.page.reload()
    await alice.sign_in()
    await alice.open_chat(BOB)
    await expect(alice.messages()).to_have_count(2, timeout=WAIT_MS)
    await expect(alice.messages().nth(0)).to_have_attribute("data-delivery", "stored")


async def test_blocked_request_goes_away(running: RunningServer, browser: Any) -> None:
    carol = await ChatPage.open(browser, running.url, "carol")
    alice = await ChatPage.open(browser, running.url, "alice")
    await carol.add_buddy(ALICE)
    await alice.page.get_by_role("button", name=f"Block {CAROL}").click()
    await expect(alice.page.locator("li.request")).to_have_count(0, timeout=WAIT_MS)
    # Refused (RFC 5025 "block"): Carol never sees Alice's status.
    await expect(carol.buddy(ALICE)).not_to_have_attribute("data-status", "Available")
    await alice.page.reload()
    await alice.sign_in()
    await expect(alice.page.locator("li.buddy")).to_have_count(0)
    await expect(alice.page.locator("li.request")).to_have_count(0)


async def test_buddies_are_kept_on_the_server(running: RunningServer, browser: Any) -> None:
    alice = await ChatPage.open(browser, running.url, "alice")
    await alice.add_buddy(BOB)
    await alice.add_buddy(CAROL)
    await alice.page.get_by_role("button", name=f"Remove {BOB}").click()
    await expect(alice.buddy(BOB)).to_have_count(0, timeout=WAIT_MS)
    # Another browser (no local state) gets the list from the server (XCAP).
    elsewhere = await ChatPage.open(browser, running.url, "alice")
    await expect(elsewhere.buddy(CAROL)).to_be_visible(timeout=WAIT_MS)
    await expect(elsewhere.page.locator("li.buddy")).to_have_count(1)


def sdk_account(running: RunningServer, user: str) -> Account:
    return Account(
        f"{user}@{DOMAIN}",
        f"{user}-password",
        server=("127.0.0.1", running.tcp_port),
        transport="tcp",
    )


async def test_a_browser_user_and_an_sdk_user_chat(running: RunningServer, browser: Any) -> None:
    alice = await ChatPage.open(browser, running.url, "alice")
    async with sdk_account(running, "bob") as bob:
        assert (await bob.register()).status == 200
        result = await asyncio.wait_for(bob.send_message(ALICE, "from Python"), 20)
        assert result.delivered, result
        await expect(alice.buddy(BOB).locator(".badge")).to_have_text("1", timeout=WAIT_MS)
        await alice.open_chat(BOB)
        await expect(alice.messages().last).to_contain_text("from Python")
        await alice.send("from the browser")
        got = await asyncio.wait_for(bob.messages.get(), 20)
        assert (got.sender, got.text) == (ALICE, "from the browser")
        await expect(alice.messages().last).to_have_attribute(
            "data-delivery", "delivered", timeout=WAIT_MS
        )


async def test_the_page_reconnects_after_the_server_restarts(
    running: RunningServer, browser: Any
) -> None:
    alice = await ChatPage.open(browser, running.url, "alice")
    bob = await ChatPage.open(browser, running.url, "bob")
    await become_friends(alice, bob)
    await running.restart()  # every WebSocket drops; the bindings riding them end
    for page in (alice, bob):
        await expect(page.page.get_by_role("status")).to_have_text("Connected", timeout=WAIT_MS * 2)
    # Subscribed and published again over the new WebSockets.
    await bob.set_status("Busy", "after the restart")
    await alice.expect_status(BOB, "Busy")
    await expect(alice.buddy(BOB)).to_contain_text("after the restart", timeout=WAIT_MS)
    async with sdk_account(running, "carol") as carol:
        assert (await carol.register()).status == 200
        # Delivered, not stored: the page registered again over its new WebSocket.
        result = await asyncio.wait_for(carol.send_message(ALICE, "still there?"), 20)
        assert result.delivered, result
        await alice.open_chat(CAROL)
        await expect(alice.messages().last).to_contain_text("still there?", timeout=WAIT_MS)
    await alice.open_chat(BOB)
    await alice.send("back online")
    await expect(bob.buddy(ALICE).locator(".badge")).to_have_text("1", timeout=WAIT_MS)


async def test_phone_width_and_keyboard(running: RunningServer, browser: Any) -> None:
    context = await browser.new_context(viewport={"width": 375, "height": 740})
    page = await context.new_page()
    await page.goto(running.url)
    await page.get_by_label("Address").fill(ALICE)
    await page.get_by_label("Password").fill("alice-password")
    await page.get_by_label("Password").press("Enter")  # the form submits from the keyboard
    await expect(page.get_by_role("status")).to_have_text("Connected", timeout=WAIT_MS)
    alice = ChatPage(page, "alice")
    await alice.add_buddy(BOB)
    # One column: the chat replaces the list, and a back button returns to it.
    await alice.buddy(BOB).locator("button.buddy-open").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Message", exact=True)).to_be_focused()
    await expect(page.get_by_role("heading", name="Buddies")).to_be_hidden()
    await page.get_by_role("button", name="Contacts").click()
    await expect(page.get_by_role("heading", name="Buddies")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at phone width ({width}px)"
