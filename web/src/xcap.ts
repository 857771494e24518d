// The buddy list (RFC 4826 resource-lists) and presence rules (RFC 5025 pres-rules), kept
// on the server over XCAP (RFC 4825) in each user's document "index".
import { authorization, parseChallenges, type Challenge } from "./digest.js";

const RESOURCE_LISTS = "urn:ietf:params:xml:ns:resource-lists";
const COMMON_POLICY = "urn:ietf:params:xml:ns:common-policy";
const PRES_RULES = "urn:ietf:params:xml:ns:pres-rules";

export class XcapError extends Error {
  constructor(
    readonly status: number,
    what: string,
  ) {
    super(`${what}: HTTP ${status}`);
  }
}

interface Loaded {
  doc: Document | null;
  etag: string | null;
}

export class XcapClient {
  private challenges: Challenge[] = [];

  /** `root` is the XCAP root URL (`http://host:port/xcap-root`). */
  constructor(
    private readonly root: string,
    private readonly aor: string,
    private readonly username: string,
    private readonly password: string,
  ) {}

  private path(auid: string): string {
    return `${new URL(this.root).pathname}/${auid}/users/sip:${this.aor}/index`;
  }

  private async request(method: string, auid: string, init: RequestInit = {}): Promise<Response> {
    const path = this.path(auid);
    const url = new URL(path, this.root).toString();
    // Answer a challenge we already hold first; a 401 (new or stale nonce) gets one retry.
    for (let attempt = 0; attempt < 2; attempt++) {
      const headers = new Headers(init.headers);
      const credentials = await authorization(
        this.challenges,
        this.username,
        this.password,
        method,
        path,
      );
      if (credentials !== null) headers.set("Authorization", credentials);
      // "omit": the browser neither sends its own credentials nor asks the user for them.
      const response = await fetch(url, { ...init, method, headers, credentials: "omit" });
      if (response.status !== 401) return response;
      this.challenges = parseChallenges(response.headers);
    }
    throw new XcapError(401, `${method} ${auid}`);
  }

  private async load(auid: string): Promise<Loaded> {
    const response = await this.request("GET", auid);
    if (response.status === 404) return { doc: null, etag: null };
    if (!response.ok) throw new XcapError(response.status, `GET ${auid}`);
    const doc = new DOMParser().parseFromString(await response.text(), "application/xml");
    return { doc, etag: response.headers.get("ETag") };
  }

  private async store(auid: string, contentType: string, doc: Document, etag: string | null) {
    const headers: Record<string, string> = { "Content-Type": contentType };
    // RFC 4825 §7.11: change only the version we read; 412 means someone else wrote first.
    if (etag !== null) headers["If-Match"] = etag;
    else headers["If-None-Match"] = "*";
    const body = new XMLSerializer().serializeToString(doc);
    const response = await this.request("PUT", auid, { headers, body });
    if (!response.ok) throw new XcapError(response.status, `PUT ${auid}`);
  }

  /** Read, change and write back a document, once more if another client wrote between. */
  private async modify(
    auid: string,
    contentType: string,
    empty: () => Document,
    change: (doc: Document) => void,
  ): Promise<Document> {
    for (let attempt = 0; ; attempt++) {
      const loaded = await this.load(auid);
      const doc = loaded.doc ?? empty();
      change(doc);
      try {
        await this.store(auid, contentType, doc, loaded.etag);
        return doc;
      } catch (error) {
        if (!(error instanceof XcapError && error.status === 412) || attempt > 2) throw error;
      }
    }
  }

  /** The buddy list: every entry URI of every list, as bare AORs, in order. */
  async buddies(): Promise<string[]> {
    const { doc } = await this.load("resource-lists");
    return doc === null ? [] : entriesOf(doc);
  }

  async addBuddy(aor: string): Promise<string[]> {
    const doc = await this.modify("resource-lists", "application/resource-lists+xml", emptyLists, (d) => {
      if (entriesOf(d).includes(aor)) return;
      let list = d.getElementsByTagNameNS(RESOURCE_LISTS, "list")[0];
      if (list === undefined) {
        list = d.createElementNS(RESOURCE_LISTS, "list");
        list.setAttribute("name", "buddies");
        d.documentElement.appendChild(list);
      }
      const entry = d.createElementNS(RESOURCE_LISTS, "entry");
      entry.setAttribute("uri", `sip:${aor}`);
      list.appendChild(entry);
    });
    return entriesOf(doc);
  }

  async removeBuddy(aor: string): Promise<string[]> {
    const doc = await this.modify("resource-lists", "application/resource-lists+xml", emptyLists, (d) => {
      for (const entry of Array.from(d.getElementsByTagNameNS(RESOURCE_LISTS, "entry"))) {
        if (bare(entry.getAttribute("uri") ?? "") === aor) entry.remove();
      }
    });
    return entriesOf(doc);
  }

  /** Write the rule for one watcher (RFC 5025 §3.2.1 sub-handling: allow, block...). */
  async setRule(watcher: string, handling: "allow" | "block" | "polite-block"): Promise<void> {
    const id = `parley-${watcher.replace(/[^a-zA-Z0-9]/g, "-")}`;
    await this.modify("pres-rules", "application/auth-policy+xml", emptyRules, (d) => {
      for (const rule of Array.from(d.getElementsByTagNameNS(COMMON_POLICY, "rule"))) {
        if (rule.getAttribute("id") === id) rule.remove();
      }
      const rule = d.createElementNS(COMMON_POLICY, "cp:rule");
      rule.setAttribute("id", id);
      const conditions = rule.appendChild(d.createElementNS(COMMON_POLICY, "cp:conditions"));
      const identity = conditions.appendChild(d.createElementNS(COMMON_POLICY, "cp:identity"));
      const one = identity.appendChild(d.createElementNS(COMMON_POLICY, "cp:one"));
      one.setAttribute("id", `sip:${watcher}`);
      const actions = rule.appendChild(d.createElementNS(COMMON_POLICY, "cp:actions"));
      const sub = actions.appendChild(d.createElementNS(PRES_RULES, "pr:sub-handling"));
      sub.textContent = handling;
      if (handling === "allow") {
        const transformations = rule.appendChild(
          d.createElementNS(COMMON_POLICY, "cp:transformations"),
        );
        transformations.appendChild(d.createElementNS(PRES_RULES, "pr:provide-all-attributes"));
      }
      d.documentElement.appendChild(rule);
    });
  }
}

function bare(uri: string): string {
  return uri.replace(/^sips?:/i, "");
}

function entriesOf(doc: Document): string[] {
  const out: string[] = [];
  for (const entry of Array.from(doc.getElementsByTagNameNS(RESOURCE_LISTS, "entry"))) {
    const aor = bare(entry.getAttribute("uri") ?? "");
    if (aor && !out.includes(aor)) out.push(aor);
  }
  return out;
}

function emptyLists(): Document {
  return document.implementation.createDocument(RESOURCE_LISTS, "resource-lists", null);
}

function emptyRules(): Document {
  return document.implementation.createDocument(COMMON_POLICY, "cp:ruleset", null);
}
