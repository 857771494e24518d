// The SIP side of a signed-in session, on SIP.js: REGISTER, PUBLISH of our status,
// SUBSCRIBE to each buddy's presence and to our own watcher information, MESSAGE both ways
// (text and isComposing), and reconnection with backoff after a dropped WebSocket.
import {
  Messager,
  Publisher,
  Registerer,
  Subscriber,
  SubscriptionState,
  UserAgent,
  type Message,
  type Notification,
} from "sip.js";
import type { IncomingResponse } from "sip.js/lib/core/messages/incoming-response.js";
import { COMPOSING_CONTENT_TYPE, readComposing, type ComposingState } from "./composing.js";
import {
  PIDF_CONTENT_TYPE,
  WATCHERINFO_CONTENT_TYPE,
  aorOf,
  readPresence,
  readWatchers,
  statusDocument,
  type OwnStatus,
  type Presence,
  type Watcher,
} from "./presence.js";

export type ConnectionState = "connecting" | "online" | "reconnecting" | "offline";
export type SendOutcome = "delivered" | "stored" | "failed";

export interface SessionEvents {
  connection(state: ConnectionState, detail: string): void;
  presence(aor: string, presence: Presence | null, subscription: string): void;
  watchers(watchers: Watcher[]): void;
  message(from: string, text: string, time: number): void;
  composing(from: string, state: ComposingState): void;
}

export interface SessionOptions {
  aor: string;
  password: string;
  /** The WebSocket URL, `ws://host:port/ws` (RFC 7118). */
  server: string;
}

/** Reconnection backoff: 1 s doubling to 30 s, with jitter so that a restarted server is
 * not hit by every browser at once. */
function backoff(attempt: number): number {
  const base = Math.min(30_000, 1000 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

// Short, so that a tab that vanished without unpublishing (crash, or its last PUBLISH met a
// digest challenge it could no longer answer) stops showing as online soon.
const PUBLISH_EXPIRES = 120;
const SUBSCRIBE_EXPIRES = 600;

export class SipSession {
  readonly aor: string;
  private readonly ua: UserAgent;
  private readonly registerer: Registerer;
  private publisher: Publisher | null = null;
  private status: OwnStatus = { availability: "available", note: "" };
  private readonly tupleId = "t" + Math.random().toString(36).slice(2, 10);
  private readonly watched = new Map<string, Subscriber>();
  private winfo: Subscriber | null = null;
  /** Re-subscription attempts per subscription since its last NOTIFY. */
  private readonly retries = new Map<string, number>();
  private reconnectTimer: number | undefined;
  private attempt = 0;
  private stopping = false;
  private registeredOnce: (ok: boolean, reason: string) => void = () => {};

  constructor(
    options: SessionOptions,
    private readonly events: SessionEvents,
  ) {
    this.aor = options.aor;
    const uri = UserAgent.makeURI(`sip:${options.aor}`);
    if (uri === undefined) throw new Error(`not a SIP address: ${options.aor}`);
    this.ua = new UserAgent({
      uri,
      authorizationUsername: options.aor.split("@")[0],
      authorizationPassword: options.password,
      transportOptions: { server: options.server, traceSip: false },
      logLevel: localStorage.getItem("parley:debug") ? "debug" : "error",
      userAgentString: "Parley web",
      // We reconnect ourselves (below) so that we can re-register and re-subscribe.
      reconnectionAttempts: 0,
      delegate: {
        onDisconnect: (error) => this.onDisconnect(error),
        onMessage: (message) => this.onMessage(message),
      },
    });
    this.registerer = new Registerer(this.ua, { expires: 300 });
  }

  /** Connect and register; resolves once registered, rejects with a reason otherwise. */
  async start(): Promise<void> {
    this.events.connection("connecting", "Connecting…");
    await this.ua.start();
    await this.register();
    this.attempt = 0;
    this.events.connection("online", "Connected");
    await this.resume();
  }

  private register(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = window.setTimeout(() => reject(new Error("No answer from the server")), 20_000);
      this.registeredOnce = (ok, reason) => {
        window.clearTimeout(timer);
        this.registeredOnce = () => {};
        if (ok) resolve();
        else reject(new Error(reason));
      };
      this.registerer
        .register({
          requestDelegate: {
            // Not the registerer's state: re-registering while "Registered" changes none.
            onAccept: () => this.registeredOnce(true, ""),
            onReject: (response: IncomingResponse) => {
              const code = response.message.statusCode ?? 0;
              this.registeredOnce(
                false,
                code === 401 || code === 403
                  ? "Sign-in refused: check the address and password"
                  : `Sign-in failed (${code} ${response.message.reasonPhrase})`,
              );
            },
          },
        })
        .catch((error: Error) => this.registeredOnce(false, error.message));
    });
  }

  /** After (re)registering: publish our status again and re-subscribe everything. */
  private async resume(): Promise<void> {
    const buddies = [...this.watched.keys()];
    this.retries.clear();
    for (const subscriber of this.watched.values()) void subscriber.dispose().catch(() => {});
    this.watched.clear();
    if (this.winfo !== null) void this.winfo.dispose().catch(() => {});
    this.winfo = this.subscribe(this.aor, "presence.winfo", WATCHERINFO_CONTENT_TYPE, (body) => {
      const watchers = readWatchers(body);
      if (watchers !== null) this.events.watchers(watchers);
    });
    for (const aor of buddies) this.watch(aor);
    if (this.publisher !== null) void this.publisher.dispose().catch(() => {});
    this.publisher = null;
    await this.publish(this.status);
  }

  private subscribe(
    target: string,
    event: string,
    accept: string,
    onBody: (body: string, state: string) => void,
  ): Subscriber {
    const uri = UserAgent.makeURI(`sip:${target}`)!;
    const subscriber = new Subscriber(this.ua, uri, event, {
      expires: SUBSCRIBE_EXPIRES,
      extraHeaders: [`Accept: ${accept}`],
    });
    const key = `${event} ${target}`;
    let ending: { reason: string; retryAfter: number } | null = null;
    subscriber.delegate = {
      onNotify: (notification: Notification) => {
        const request = notification.request;
        const header = request.getHeader("Subscription-State") ?? "active";
        const state = header.split(";")[0]!.trim().toLowerCase();
        if (state === "terminated") {
          ending = {
            reason: /;\s*reason=([\w-]+)/i.exec(header)?.[1]?.toLowerCase() ?? "",
            retryAfter: Number(/;\s*retry-after=(\d+)/i.exec(header)?.[1] ?? "0"),
          };
        } else {
          this.retries.delete(key);
        }
        notification.accept().catch(() => {});
        onBody(request.body ?? "", state);
      },
    };
    subscriber.stateChange.addListener((state) => {
      if (state !== SubscriptionState.Terminated || this.stopping) return;
      const current = event === "presence" ? this.watched.get(target) : this.winfo;
      // Ended by us, or the connection is down (resume() redoes everything then).
      if (current !== subscriber || !this.ua.isConnected()) return;
      // RFC 6665 §4.1.3: after "rejected", "noresource" or "invariant" do not try again.
      const reason = ending?.reason ?? "";
      if (["rejected", "noresource", "invariant"].includes(reason)) return;
      // Otherwise (expired, deactivated, refused outright...) again, slower each time.
      const attempt = this.retries.get(key) ?? 0;
      this.retries.set(key, attempt + 1);
      const retryAfter = ending?.retryAfter ?? 0;
      const delay = Math.max(retryAfter * 1000, Math.min(300_000, 2000 * 2 ** attempt));
      window.setTimeout(() => {
        const still = event === "presence" ? this.watched.get(target) : this.winfo;
        if (still !== subscriber || !this.ua.isConnected()) return;
        if (event === "presence") this.watch(target);
        else this.winfo = this.subscribe(target, event, accept, onBody);
      }, delay);
    });
    subscriber.subscribe().catch(() => {});
    return subscriber;
  }

  /** Watch a buddy's presence (RFC 3856). */
  watch(aor: string): void {
    const old = this.watched.get(aor);
    if (old !== undefined) {
      this.watched.delete(aor);
      void old.dispose().catch(() => {});
    }
    const subscriber = this.subscribe(aor, "presence", PIDF_CONTENT_TYPE, (body, state) => {
      const presence = body ? readPresence(body) : null;
      this.events.presence(aor, presence, state);
    });
    this.watched.set(aor, subscriber);
  }

  unwatch(aor: string): void {
    const subscriber = this.watched.get(aor);
    this.watched.delete(aor);
    if (subscriber !== undefined) void subscriber.dispose().catch(() => {});
  }

  /** Publish our status and note (RFC 3903); the first PUBLISH creates the publication. */
  async publish(status: OwnStatus): Promise<void> {
    this.status = status;
    if (!this.ua.isConnected()) return;
    if (this.publisher === null) {
      const uri = UserAgent.makeURI(`sip:${this.aor}`)!;
      this.publisher = new Publisher(this.ua, uri, "presence", {
        contentType: PIDF_CONTENT_TYPE,
        expires: PUBLISH_EXPIRES,
      });
    }
    await this.publisher.publish(statusDocument(this.aor, this.tupleId, status));
  }

  /** Send a text (RFC 3428): delivered on 200, stored for later on 202. */
  sendText(to: string, text: string): Promise<SendOutcome> {
    return this.sendMessage(to, text, "text/plain;charset=UTF-8");
  }

  sendComposing(to: string, body: string): void {
    void this.sendMessage(to, body, COMPOSING_CONTENT_TYPE);
  }

  private sendMessage(to: string, body: string, contentType: string): Promise<SendOutcome> {
    const uri = UserAgent.makeURI(`sip:${to}`);
    if (uri === undefined || !this.ua.isConnected()) return Promise.resolve("failed");
    return new Promise<SendOutcome>((resolve) => {
      new Messager(this.ua, uri, body, contentType)
        .message({
          requestDelegate: {
            onAccept: (response: IncomingResponse) =>
              resolve(response.message.statusCode === 202 ? "stored" : "delivered"),
            onReject: () => resolve("failed"),
          },
        })
        .catch(() => resolve("failed"));
    });
  }

  private onMessage(message: Message): void {
    const request = message.request;
    const from = aorOf(request.from.uri.toString());
    const contentType = (request.getHeader("Content-Type") ?? "text/plain").toLowerCase();
    message.accept().catch(() => {});
    // RFC 3428 §7: a stored message carries the Date it was first sent.
    const dateHeader = request.getHeader("Date");
    const date = dateHeader ? Date.parse(dateHeader) : NaN;
    const time = Number.isFinite(date) ? date : Date.now();
    if (contentType.startsWith(COMPOSING_CONTENT_TYPE)) {
      const state = readComposing(request.body);
      // A typing notice kept for us while we were away says nothing about now.
      if (state !== null && Date.now() - time < 60_000) this.events.composing(from, state);
      return;
    }
    if (contentType.startsWith("text/")) this.events.message(from, request.body, time);
  }

  private onDisconnect(error?: Error): void {
    if (this.stopping) return;
    this.events.connection("reconnecting", error ? "Connection lost; reconnecting…" : "Reconnecting…");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    window.clearTimeout(this.reconnectTimer);
    const delay = backoff(this.attempt);
    this.attempt += 1;
    this.reconnectTimer = window.setTimeout(() => void this.reconnect(), delay);
  }

  private async reconnect(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.ua.reconnect();
      await this.register();
      this.attempt = 0;
      this.events.connection("online", "Connected");
      await this.resume();
    } catch (error) {
      // Not connected yet, or connected but not registered (the server still starting).
      console.warn("reconnect failed:", error);
      this.scheduleReconnect();
    }
  }

  /** Reconnect now (the page came back online) rather than waiting out the backoff. */
  reconnectNow(): void {
    if (this.stopping || this.ua.isConnected()) return;
    this.attempt = 0;
    window.clearTimeout(this.reconnectTimer);
    void this.reconnect();
  }

  /** Sign out: unpublish (we go closed), unsubscribe, unregister, disconnect. */
  async stop(): Promise<void> {
    this.stopping = true;
    window.clearTimeout(this.reconnectTimer);
    if (this.ua.isConnected()) {
      const pending: Promise<unknown>[] = [];
      if (this.publisher !== null) pending.push(this.publisher.unpublish());
      for (const subscriber of this.watched.values()) pending.push(subscriber.unsubscribe());
      if (this.winfo !== null) pending.push(this.winfo.unsubscribe());
      pending.push(this.registerer.unregister());
      await Promise.race([
        Promise.allSettled(pending),
        new Promise((resolve) => window.setTimeout(resolve, 3000)),
      ]);
    }
    await this.ua.stop().catch(() => {});
    this.events.connection("offline", "Signed out");
  }

  /** The tab is closing: send what we can without waiting (best effort). */
  leave(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (!this.ua.isConnected()) return;
    if (this.publisher !== null) void this.publisher.unpublish().catch(() => {});
    void this.registerer.unregister().catch(() => {});
  }
}
