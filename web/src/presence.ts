// Presence documents: PIDF (RFC 3863) with RPID activities (RFC 4480) and notes, built for
// PUBLISH and read from NOTIFY; watcher information (RFC 3858) read for friend requests.

const PIDF = "urn:ietf:params:xml:ns:pidf";
const DATA_MODEL = "urn:ietf:params:xml:ns:pidf:data-model";
const RPID = "urn:ietf:params:xml:ns:pidf:rpid";
const WATCHERINFO = "urn:ietf:params:xml:ns:watcherinfo";

export const PIDF_CONTENT_TYPE = "application/pidf+xml";
export const WATCHERINFO_CONTENT_TYPE = "application/watcherinfo+xml";

/** What a person chooses to show: the statuses of the status menu. */
export type Availability = "available" | "away" | "busy" | "offline";

export interface OwnStatus {
  availability: Availability;
  note: string;
}

/** A buddy's presence as read from one NOTIFY. `basic` is null while we are not allowed
 * to see it (a pending subscription carries no document, RFC 3856 §6.6). */
export interface Presence {
  basic: "open" | "closed" | null;
  activities: string[];
  note: string;
}

export const UNKNOWN_PRESENCE: Presence = { basic: null, activities: [], note: "" };

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The PIDF this device publishes: one tuple, and a person with activity and note. */
export function statusDocument(aor: string, tupleId: string, status: OwnStatus): string {
  const basic = status.availability === "offline" ? "closed" : "open";
  const activity =
    status.availability === "away" || status.availability === "busy"
      ? `<rpid:activities><rpid:${status.availability}/></rpid:activities>`
      : "";
  const note = status.note ? `<dm:note>${escapeXml(status.note)}</dm:note>` : "";
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<presence xmlns="${PIDF}" xmlns:dm="${DATA_MODEL}" xmlns:rpid="${RPID}"` +
    ` entity="sip:${escapeXml(aor)}">` +
    `<tuple id="${tupleId}"><status><basic>${basic}</basic></status></tuple>` +
    `<dm:person id="p${tupleId}">${activity}${note}</dm:person>` +
    `</presence>`
  );
}

function parseXml(body: string): Document | null {
  const doc = new DOMParser().parseFromString(body, "application/xml");
  return doc.getElementsByTagName("parsererror").length > 0 ? null : doc;
}

/** Reads a NOTIFY body; null when it is not a PIDF document we can read. */
export function readPresence(body: string): Presence | null {
  const doc = parseXml(body);
  if (doc === null || doc.documentElement.namespaceURI !== PIDF) return null;
  const tuples = Array.from(doc.getElementsByTagNameNS(PIDF, "tuple"));
  const basics = tuples.map((t) => t.getElementsByTagNameNS(PIDF, "basic")[0]?.textContent?.trim());
  const basic = basics.includes("open") ? "open" : tuples.length > 0 ? "closed" : null;
  const activities: string[] = [];
  for (const list of Array.from(doc.getElementsByTagNameNS(RPID, "activities"))) {
    for (const child of Array.from(list.children)) {
      if (child.localName !== "note" && !activities.includes(child.localName)) {
        activities.push(child.localName);
      }
    }
  }
  // The person's note first (RFC 4479 §3.4), then any tuple or document note.
  const notes = [
    ...Array.from(doc.getElementsByTagNameNS(DATA_MODEL, "note")),
    ...Array.from(doc.getElementsByTagNameNS(PIDF, "note")),
  ];
  const note = notes.map((n) => n.textContent?.trim() ?? "").find((t) => t !== "") ?? "";
  return { basic, activities, note };
}

/** How a buddy's presence reads in the list. */
export function describe(presence: Presence, pending: boolean): string {
  if (presence.basic === null) return pending ? "Awaiting approval" : "Unknown";
  if (presence.basic === "closed") return "Offline";
  if (presence.activities.includes("busy")) return "Busy";
  if (presence.activities.includes("away")) return "Away";
  const other = presence.activities.find((a) => a !== "unknown");
  return other ? other.replace(/-/g, " ") : "Available";
}

/** The CSS class of a buddy's status dot. */
export function availabilityOf(presence: Presence): Availability | "unknown" {
  if (presence.basic === null) return "unknown";
  if (presence.basic === "closed") return "offline";
  if (presence.activities.includes("busy")) return "busy";
  if (presence.activities.includes("away")) return "away";
  return "available";
}

export interface Watcher {
  uri: string;
  status: string;
}

/** The watchers of one watcher-info NOTIFY (a full document; the server sends no partial
 * state here). Pending and waiting watchers are friend requests. */
export function readWatchers(body: string): Watcher[] | null {
  const doc = parseXml(body);
  if (doc === null || doc.documentElement.namespaceURI !== WATCHERINFO) return null;
  return Array.from(doc.getElementsByTagNameNS(WATCHERINFO, "watcher")).map((w) => ({
    uri: (w.textContent ?? "").trim(),
    status: w.getAttribute("status") ?? "",
  }));
}

/** `sip:alice@example.com` -> `alice@example.com`. */
export function aorOf(uri: string): string {
  return uri.replace(/^sips?:/i, "").replace(/[;?].*$/, "");
}

/** Up to two initials for the avatar: "alice.smith@x" -> "AS". */
export function initials(aor: string): string {
  const user = aor.split("@")[0] ?? aor;
  const parts = user.split(/[._\-+ ]+/).filter((p) => p !== "");
  const letters = parts.length > 1 ? parts[0]![0]! + parts[1]![0]! : user.slice(0, 2);
  return letters.toUpperCase();
}

/** A steady colour per person for the avatar: dark enough for white initials (WCAG AA). */
export function avatarColour(aor: string): string {
  let hash = 2166136261; // FNV-1a over the user part, spread round the colour wheel
  for (const c of aor.split("@")[0] ?? aor) hash = Math.imul(hash ^ c.charCodeAt(0), 16777619) >>> 0;
  return `hsl(${Math.round((hash % 64) * 137.5) % 360} 45% 32%)`;
}
