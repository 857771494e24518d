"""The browser client as a test sees it: one signed-in page, driven by its labels and roles
(as a keyboard or screen-reader user would find them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playwright.async_api import Page, expect

from .conftest import DOMAIN, WAIT_MS


@dataclass
class ChatPage:
    page: Page
    user: str

    @property
    def aor(self) -> str:
        return f"{self.user}@{DOMAIN}"

    @classmethod
    async def open(cls, browser: Any, url: str, user: str) -> ChatPage:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(url)
        chat = cls(page, user)
        await chat.sign_in()
        return chat

    async def sign_in(self, password: str | None = None) -> None:
        page = self.page
        await page.get_by_label("Address").fill(self.aor)
        await page.get_by_label("Password").fill(password or f"{self.user}-password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("status")).to_have_text("Connected", timeout=WAIT_MS)

    async def sign_out(self) -> None:
        await self.page.get_by_role("button", name="Sign out").click()
        await expect(self.page.get_by_label("Address")).to_be_visible(timeout=WAIT_MS)

    def buddy(self, aor: str) -> Any:
        return self.page.locator(f'li.buddy[data-aor="{aor}"]')

    async def add_buddy(self, aor: str) -> None:
        await self.page.get_by_label("Add a buddy").fill(aor)
        await self.page.get_by_role("button", name="Add", exact=True).click()
        await expect(self.buddy(aor)).to_be_visible(timeout=WAIT_MS)

    async def expect_status(self, aor: str, status: str) -> None:
        await expect(self.buddy(aor)).to_have_attribute("data-status", status, timeout=WAIT_MS)

    async def set_status(self, availability: str, note: str = "") -> None:
        await self.page.get_by_label("My status").select_option(label=availability)
        await self.page.get_by_label("Note").fill(note)
        await self.page.get_by_role("button", name="Set status").click()

    async def open_chat(self, aor: str) -> None:
        await self.buddy(aor).locator("button.buddy-open").click()
        await expect(self.page.get_by_role("heading", name=aor)).to_be_visible(timeout=WAIT_MS)

    def messages(self) -> Any:
        return self.page.get_by_role("log", name="Messages").locator("li.message")

    async def send(self, text: str) -> None:
        box = self.page.get_by_label("Message", exact=True)
        await box.fill(text)
        await box.press("Enter")

    async def close(self) -> None:
        """Close the tab as a person does: the page's unload handlers run."""
        await self.page.close(run_before_unload=True)
        await self.page.context.close()
