// The page: sign-in, buddy list with presence, friend requests, own status, chats.
// Everything said to others goes over SIP (sip.ts); the buddy list and rules over XCAP.
import { composingDocument, IDLE_SECONDS, REFRESH_SECONDS } from "./composing.js";
import { History, type ChatMessage, type Delivery } from "./history.js";
import {
  UNKNOWN_PRESENCE,
  aorOf,
  availabilityOf,
  avatarColour,
  describe,
  initials,
  type Availability,
  type Presence,
} from "./presence.js";
import { SipSession, type ConnectionState } from "./sip.js";
import { XcapClient } from "./xcap.js";

function $<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

const DELIVERY_TEXT: Record<Delivery, string> = {
  sending: "Sending…",
  delivered: "Delivered",
  stored: "Stored for offline delivery",
  failed: "Not sent",
  received: "",
};

const LAST_ADDRESS = "parley:last-address";

interface Buddy {
  aor: string;
  presence: Presence;
  subscription: string;
}

class App {
  private session: SipSession | null = null;
  private xcap: XcapClient | null = null;
  private history: History | null = null;
  private buddies = new Map<string, Buddy>();
  private requests: string[] = [];
  private current: string | null = null;
  private typingUntil = new Map<string, number>();
  private typingTimer: number | undefined;
  private composingSent: { to: string; at: number } | null = null;
  private idleTimer: number | undefined;

  constructor() {
    const server = $<HTMLInputElement>("signin-server");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    server.value = `${scheme}//${location.host}/ws`;
    // The address (not the password) is remembered for the next visit.
    $<HTMLInputElement>("signin-address").value = localStorage.getItem(LAST_ADDRESS) ?? "";
    $("signin-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.signIn();
    });
    $("signout").addEventListener("click", () => void this.signOut());
    $("status-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.setStatus();
    });
    $("add-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.addBuddy();
    });
    $("compose").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.send();
    });
    const text = $<HTMLTextAreaElement>("compose-text");
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        void this.send();
      }
    });
    text.addEventListener("input", () => this.typed());
    $("chat-back").addEventListener("click", () => this.closeChat());
    // Best effort on tab close: go closed (unpublish) and unregister.
    window.addEventListener("pagehide", () => this.session?.leave());
    window.addEventListener("online", () => this.session?.reconnectNow());
  }

  // -- signing in and out ----------------------------------------------------------------

  private async signIn(): Promise<void> {
    const address = $<HTMLInputElement>("signin-address").value.trim().replace(/^sips?:/i, "");
    const password = $<HTMLInputElement>("signin-password").value;
    const server = $<HTMLInputElement>("signin-server").value.trim();
    const error = $("signin-error");
    error.textContent = "";
    if (!/^[^@\s]+@[^@\s]+$/.test(address) || password === "") {
      error.textContent = "Enter your address (user@domain) and password.";
      return;
    }
    const button = $<HTMLButtonElement>("signin-button");
    button.disabled = true;
    button.textContent = "Signing in…";
    const session = new SipSession({ aor: address, password, server }, {
      connection: (state, detail) => this.showConnection(state, detail),
      presence: (aor, presence, state) => this.onPresence(aor, presence, state),
      watchers: (watchers) => {
        this.requests = watchers
          .filter((w) => w.status === "pending" || w.status === "waiting")
          .map((w) => aorOf(w.uri))
          .filter((aor, i, all) => all.indexOf(aor) === i && !this.buddies.has(aor));
        this.renderRequests();
      },
      message: (from, text, time) => this.onMessage(from, text, time),
      composing: (from, state) => {
        this.typingUntil.set(from, state.active ? Date.now() + state.seconds * 1000 : 0);
        this.renderTyping();
      },
    });
    this.history = new History(address);
    this.session = session;
    try {
      await session.start();
    } catch (e) {
      this.session = null;
      await session.stop().catch(() => {});
      error.textContent = e instanceof Error ? e.message : String(e);
      button.disabled = false;
      button.textContent = "Sign in";
      return;
    }
    // The password stays in this closure and the SIP stack, never in storage.
    $<HTMLInputElement>("signin-password").value = "";
    button.disabled = false;
    button.textContent = "Sign in";
    const root = new URL(server.replace(/^ws/, "http"));
    this.xcap = new XcapClient(`${root.origin}/xcap-root`, address, address.split("@")[0]!, password);
    $("signin").hidden = true;
    $("workspace").hidden = false;
    $("me-address").textContent = address;
    localStorage.setItem(LAST_ADDRESS, address);
    $("buddies-title").focus();
    $("me-avatar").textContent = initials(address);
    $("me-avatar").style.background = avatarColour(address);
    document.title = `Parley: ${address}`;
    for (const peer of this.history.peers()) this.ensureBuddy(peer, false);
    try {
      for (const aor of await this.xcap.buddies()) this.ensureBuddy(aor, true);
    } catch (e) {
      $("add-error").textContent = `Could not load the buddy list (${String(e)})`;
    }
    this.renderBuddies();
  }

  private async signOut(): Promise<void> {
    const session = this.session;
    this.session = null;
    if (session !== null) await session.stop();
    this.buddies.clear();
    this.requests = [];
    this.current = null;
    this.xcap = null;
    $("workspace").hidden = true;
    $("signin").hidden = false;
    $("signin-address").focus();
    $("messages").replaceChildren();
    $("compose").hidden = true;
    $("chat-title").textContent = "Choose a buddy to chat";
    $("chat-status").textContent = "";
    document.title = "Parley";
  }

  private showConnection(state: ConnectionState, detail: string): void {
    const node = $("connection");
    node.dataset.state = state;
    node.textContent = detail;
  }

  // -- status and buddies ----------------------------------------------------------------

  private async setStatus(): Promise<void> {
    const availability = $<HTMLSelectElement>("status-select").value as Availability;
    const note = $<HTMLInputElement>("status-note").value.trim();
    await this.session?.publish({ availability, note }).catch(() => {});
  }

  /** A buddy we watch (`watch`), or a correspondent shown because we have history. */
  private ensureBuddy(aor: string, watch: boolean): void {
    if (!this.buddies.has(aor)) {
      this.buddies.set(aor, { aor, presence: UNKNOWN_PRESENCE, subscription: "" });
    }
    if (watch) {
      this.buddies.get(aor)!.subscription = "pending";
      this.session?.watch(aor);
    }
  }

  private async addBuddy(): Promise<void> {
    const input = $<HTMLInputElement>("add-address");
    const aor = input.value.trim().replace(/^sips?:/i, "");
    const error = $("add-error");
    error.textContent = "";
    if (!/^[^@\s]+@[^@\s]+$/.test(aor)) {
      error.textContent = "Enter an address like bob@example.com.";
      return;
    }
    if (aor === this.session?.aor) {
      error.textContent = "That is you.";
      return;
    }
    try {
      // On the list, they may watch us; watching them asks them (a friend request).
      await this.xcap?.addBuddy(aor);
    } catch (e) {
      error.textContent = `Could not add ${aor} (${String(e)})`;
      return;
    }
    input.value = "";
    this.ensureBuddy(aor, true);
    this.requests = this.requests.filter((r) => r !== aor);
    this.renderRequests();
    this.renderBuddies();
  }

  private async removeBuddy(aor: string): Promise<void> {
    try {
      await this.xcap?.removeBuddy(aor);
    } catch (e) {
      $("add-error").textContent = `Could not remove ${aor} (${String(e)})`;
      return;
    }
    this.session?.unwatch(aor);
    this.buddies.delete(aor);
    if (this.current === aor) this.closeChat();
    this.renderBuddies();
  }

  private async answerRequest(aor: string, allow: boolean): Promise<void> {
    try {
      if (allow) {
        // Adding them allows them, and we watch them back: friends both ways.
        await this.xcap?.addBuddy(aor);
        this.ensureBuddy(aor, true);
      } else {
        await this.xcap?.setRule(aor, "block");
      }
    } catch (e) {
      $("add-error").textContent = `Could not answer ${aor} (${String(e)})`;
      return;
    }
    this.requests = this.requests.filter((r) => r !== aor);
    this.renderRequests();
    this.renderBuddies();
  }

  private onPresence(aor: string, presence: Presence | null, subscription: string): void {
    const buddy = this.buddies.get(aor);
    if (buddy === undefined) return;
    buddy.subscription = subscription;
    if (presence !== null) buddy.presence = presence;
    else if (subscription !== "active") buddy.presence = UNKNOWN_PRESENCE;
    this.renderBuddies();
  }

  private renderRequests(): void {
    const list = $("requests");
    list.replaceChildren(
      ...this.requests.map((aor) => {
        const allow = element("button", { type: "button", "aria-label": `Allow ${aor}` }, "Allow");
        const block = element(
          "button",
          { type: "button", className: "secondary", "aria-label": `Block ${aor}` },
          "Block",
        );
        allow.addEventListener("click", () => void this.answerRequest(aor, true));
        block.addEventListener("click", () => void this.answerRequest(aor, false));
        return element("li", { className: "request", "data-aor": aor }, element("span", {}, aor), allow, block);
      }),
    );
    $("requests-section").hidden = this.requests.length === 0;
  }

  private statusText(buddy: Buddy): string {
    return describe(buddy.presence, buddy.subscription === "pending");
  }

  private renderBuddies(): void {
    const history = this.history;
    const sorted = [...this.buddies.values()].sort((a, b) => a.aor.localeCompare(b.aor));
    $("buddies").replaceChildren(
      ...sorted.map((buddy) => {
        const unread = history?.unreadCount(buddy.aor) ?? 0;
        const status = this.statusText(buddy);
        const dot = element("span", { className: "dot", "data-availability": availabilityOf(buddy.presence) });
        const avatar = element(
          "span",
          { className: "avatar", "aria-hidden": "true", style: `background: ${avatarColour(buddy.aor)}` },
          initials(buddy.aor),
          dot,
        );
        const text = element(
          "span",
          { className: "buddy-text" },
          element("span", { className: "buddy-name" }, buddy.aor),
          element("span", { className: "buddy-status" }, status),
          ...(buddy.presence.note ? [element("span", { className: "buddy-note" }, buddy.presence.note)] : []),
        );
        const label = `Chat with ${buddy.aor}, ${status}${buddy.presence.note ? `, ${buddy.presence.note}` : ""}${unread ? `, ${unread} unread` : ""}`;
        const open = element("button", { type: "button", className: "buddy-open", "aria-label": label }, avatar, text);
        if (unread) open.append(element("span", { className: "badge", "aria-hidden": "true" }, String(unread)));
        open.addEventListener("click", () => this.openChat(buddy.aor));
        const remove = element(
          "button",
          { type: "button", className: "buddy-remove", "aria-label": `Remove ${buddy.aor}`, title: "Remove" },
          "✕",
        );
        remove.addEventListener("click", () => void this.removeBuddy(buddy.aor));
        return element(
          "li",
          {
            className: "buddy",
            "data-aor": buddy.aor,
            "data-status": status,
            "aria-current": this.current === buddy.aor ? "true" : "false",
          },
          open,
          remove,
        );
      }),
    );
    $("buddies-empty").hidden = this.buddies.size > 0;
    if (this.current !== null) {
      const buddy = this.buddies.get(this.current);
      $("chat-status").textContent = buddy ? this.statusText(buddy) : "";
    }
  }

  // -- chat ------------------------------------------------------------------------------

  private openChat(aor: string): void {
    this.current = aor;
    this.history?.markRead(aor);
    $("chat-title").textContent = aor;
    $("compose").hidden = false;
    $("workspace").classList.add("chatting");
    this.renderMessages();
    this.renderBuddies();
    this.renderTyping();
    $<HTMLTextAreaElement>("compose-text").focus();
  }

  private closeChat(): void {
    this.current = null;
    $("workspace").classList.remove("chatting");
    $("compose").hidden = true;
    $("messages").replaceChildren();
    $("chat-title").textContent = "Choose a buddy to chat";
    $("chat-status").textContent = "";
    this.renderBuddies();
    this.renderTyping();
  }

  private renderMessage(message: ChatMessage): HTMLLIElement {
    const time = new Date(message.time).toLocaleString([], {
      hour: "2-digit",
      minute: "2-digit",
      day: "numeric",
      month: "short",
    });
    const state = DELIVERY_TEXT[message.delivery];
    return element(
      "li",
      {
        className: message.outgoing ? "message mine" : "message",
        "data-id": message.id,
        "data-delivery": message.delivery,
      },
      element("span", { className: "visually-hidden" }, message.outgoing ? "You: " : `${message.peer}: `),
      element("span", { className: "text" }, message.text),
      element("span", { className: "meta" }, state ? `${time} · ${state}` : time),
    );
  }

  private renderMessages(): void {
    const list = $("messages");
    if (this.current === null || this.history === null) {
      list.replaceChildren();
      return;
    }
    list.replaceChildren(...this.history.messages(this.current).map((m) => this.renderMessage(m)));
    list.scrollTop = list.scrollHeight;
  }

  private onMessage(from: string, text: string, time: number): void {
    const history = this.history;
    if (history === null) return;
    history.add({
      id: `in-${time}-${Math.random().toString(36).slice(2, 8)}`,
      peer: from,
      outgoing: false,
      text,
      time,
      delivery: "received",
    });
    this.typingUntil.delete(from);
    this.ensureBuddy(from, false);
    if (this.current === from && document.visibilityState === "visible") {
      history.markRead(from);
    } else {
      history.markUnread(from);
    }
    if (this.current === from) this.renderMessages();
    this.renderBuddies();
    this.renderTyping();
  }

  private async send(): Promise<void> {
    const input = $<HTMLTextAreaElement>("compose-text");
    const text = input.value.trim();
    const to = this.current;
    if (text === "" || to === null || this.session === null || this.history === null) return;
    input.value = "";
    // RFC 3994 §3.2: sending the message ends "active" implicitly at the receiver.
    this.composingSent = null;
    window.clearTimeout(this.idleTimer);
    const id = `out-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    this.history.add({ id, peer: to, outgoing: true, text, time: Date.now(), delivery: "sending" });
    this.renderMessages();
    const outcome = await this.session.sendText(to, text);
    this.history?.setDelivery(to, id, outcome);
    if (this.current === to) this.renderMessages();
  }

  /** Typing: "active" at once and every refresh interval; "idle" after a pause. */
  private typed(): void {
    const to = this.current;
    if (to === null || this.session === null) return;
    const now = Date.now();
    const input = $<HTMLTextAreaElement>("compose-text");
    if (input.value === "") {
      this.goIdle();
      return;
    }
    const sent = this.composingSent;
    if (sent === null || sent.to !== to || now - sent.at > (REFRESH_SECONDS - 10) * 1000) {
      this.session.sendComposing(to, composingDocument("active"));
      this.composingSent = { to, at: now };
    }
    window.clearTimeout(this.idleTimer);
    this.idleTimer = window.setTimeout(() => this.goIdle(), IDLE_SECONDS * 1000);
  }

  private goIdle(): void {
    window.clearTimeout(this.idleTimer);
    const sent = this.composingSent;
    this.composingSent = null;
    if (sent !== null) this.session?.sendComposing(sent.to, composingDocument("idle"));
  }

  private renderTyping(): void {
    window.clearTimeout(this.typingTimer);
    const peer = this.current;
    const until = peer === null ? 0 : (this.typingUntil.get(peer) ?? 0);
    const left = until - Date.now();
    $("typing").textContent = left > 0 ? `${peer} is typing…` : "";
    if (left > 0) this.typingTimer = window.setTimeout(() => this.renderTyping(), left + 50);
  }
}

document.addEventListener("DOMContentLoaded", () => new App());
