// The typing indicator, RFC 3994: "active" while typing (refreshed), "idle" after a pause
// or once the message is sent.

export const COMPOSING_CONTENT_TYPE = "application/im-iscomposing+xml";
const NS = "urn:ietf:params:xml:ns:im-iscomposing";

/** §3: the refresh interval we announce; we resend "active" this often while typing. */
export const REFRESH_SECONDS = 60;
/** §3: the sender goes idle after this long without typing (the RFC suggests 15 s). */
export const IDLE_SECONDS = 15;
/** §4: a receiver without a refresh treats "active" as expired after 120 s. */
export const DEFAULT_ACTIVE_SECONDS = 120;

export function composingDocument(state: "active" | "idle"): string {
  const refresh = state === "active" ? `<refresh>${REFRESH_SECONDS}</refresh>` : "";
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<isComposing xmlns="${NS}"><state>${state}</state>` +
    `<contenttype>text/plain</contenttype>${refresh}</isComposing>`
  );
}

export interface ComposingState {
  active: boolean;
  /** How long an "active" state holds without a refresh. */
  seconds: number;
}

export function readComposing(body: string): ComposingState | null {
  const doc = new DOMParser().parseFromString(body, "application/xml");
  if (doc.documentElement.namespaceURI !== NS) return null;
  const state = doc.getElementsByTagNameNS(NS, "state")[0]?.textContent?.trim();
  const refresh = Number(doc.getElementsByTagNameNS(NS, "refresh")[0]?.textContent ?? "");
  return {
    active: state === "active",
    seconds: Number.isFinite(refresh) && refresh > 0 ? refresh : DEFAULT_ACTIVE_SECONDS,
  };
}
