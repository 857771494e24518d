// Chat history per account and buddy, kept in localStorage so that it survives reloads.

export type Delivery = "sending" | "delivered" | "stored" | "failed" | "received";

export interface ChatMessage {
  id: string;
  peer: string;
  outgoing: boolean;
  text: string;
  /** Milliseconds since the epoch: when sent, or the Date of a received message. */
  time: number;
  delivery: Delivery;
}

/** Kept per conversation; older messages are dropped so localStorage never fills up. */
const KEEP = 500;

export class History {
  private readonly key: string;
  private conversations: Record<string, ChatMessage[]>;
  private unread: Record<string, number>;

  constructor(aor: string) {
    this.key = `parley:history:${aor}`;
    const saved = this.load();
    this.conversations = saved.conversations;
    this.unread = saved.unread;
  }

  private load(): { conversations: Record<string, ChatMessage[]>; unread: Record<string, number> } {
    try {
      const raw = localStorage.getItem(this.key);
      if (raw) {
        const parsed = JSON.parse(raw) as {
          conversations?: Record<string, ChatMessage[]>;
          unread?: Record<string, number>;
        };
        return { conversations: parsed.conversations ?? {}, unread: parsed.unread ?? {} };
      }
    } catch {
      // A corrupt entry is dropped rather than breaking sign-in.
    }
    return { conversations: {}, unread: {} };
  }

  private save(): void {
    try {
      localStorage.setItem(
        this.key,
        JSON.stringify({ conversations: this.conversations, unread: this.unread }),
      );
    } catch {
      // Storage full or disabled: history then lives for this page only.
    }
  }

  peers(): string[] {
    return Object.keys(this.conversations);
  }

  messages(peer: string): ChatMessage[] {
    return this.conversations[peer] ?? [];
  }

  add(message: ChatMessage): void {
    const list = (this.conversations[message.peer] ??= []);
    list.push(message);
    list.sort((a, b) => a.time - b.time);
    if (list.length > KEEP) list.splice(0, list.length - KEEP);
    this.save();
  }

  setDelivery(peer: string, id: string, delivery: Delivery): void {
    const message = this.messages(peer).find((m) => m.id === id);
    if (message) {
      message.delivery = delivery;
      this.save();
    }
  }

  unreadCount(peer: string): number {
    return this.unread[peer] ?? 0;
  }

  markUnread(peer: string): void {
    this.unread[peer] = this.unreadCount(peer) + 1;
    this.save();
  }

  markRead(peer: string): void {
    if (this.unread[peer]) {
      delete this.unread[peer];
      this.save();
    }
  }
}
