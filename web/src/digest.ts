// HTTP Digest (RFC 7616) for XCAP requests, computed here rather than by the browser: a
// fetch with credentials "omit" gets the 401 back instead of a login dialog, and we answer
// the challenge ourselves with the password the user signed in with (held in memory only).
import { Md5 } from "sip.js/lib/core/messages/md5.js";

export interface Challenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: string;
  qop: string[];
}

/** Every Digest challenge of a 401, in the server's order of preference. */
export function parseChallenges(headers: Headers): Challenge[] {
  const raw = headers.get("WWW-Authenticate") ?? "";
  // Several headers arrive joined by ", "; split before each "Digest " scheme token.
  return raw
    .split(/,?\s*(?=\bDigest\s)/i)
    .filter((part) => /^Digest\s/i.test(part.trim()))
    .map((part) => {
      const params: Record<string, string> = {};
      const re = /([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
      for (let m = re.exec(part); m !== null; m = re.exec(part)) {
        params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!;
      }
      return {
        realm: params.realm ?? "",
        nonce: params.nonce ?? "",
        opaque: params.opaque,
        algorithm: (params.algorithm ?? "MD5").toUpperCase(),
        qop: (params.qop ?? "").split(",").map((q) => q.trim()).filter((q) => q !== ""),
      };
    })
    .filter((c) => c.nonce !== "");
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function hasSubtleCrypto(): boolean {
  // SubtleCrypto exists only in secure contexts (https, or http on loopback).
  return typeof crypto !== "undefined" && crypto.subtle !== undefined;
}

function hasherFor(algorithm: string): ((text: string) => Promise<string>) | null {
  if (algorithm === "MD5") return async (text) => Md5.hashStr(text);
  if (algorithm === "SHA-256" && hasSubtleCrypto()) return sha256Hex;
  return null;
}

function quote(value: string): string {
  return `"${value.replace(/(["\\])/g, "\\$1")}"`;
}

let nonceCount = 0;

/** The Authorization header answering the first challenge we can compute, or null. */
export async function authorization(
  challenges: Challenge[],
  username: string,
  password: string,
  method: string,
  uri: string,
): Promise<string | null> {
  for (const challenge of challenges) {
    const hash = hasherFor(challenge.algorithm);
    if (hash === null) continue;
    const ha1 = await hash(`${username}:${challenge.realm}:${password}`);
    const ha2 = await hash(`${method}:${uri}`);
    const parts = [
      `username=${quote(username)}`,
      `realm=${quote(challenge.realm)}`,
      `nonce=${quote(challenge.nonce)}`,
      `uri=${quote(uri)}`,
      `algorithm=${challenge.algorithm}`,
    ];
    let response: string;
    if (challenge.qop.includes("auth")) {
      nonceCount += 1;
      const nc = nonceCount.toString(16).padStart(8, "0");
      const cnonce = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) =>
        b.toString(16).padStart(2, "0"),
      ).join("");
      response = await hash(`${ha1}:${challenge.nonce}:${nc}:${cnonce}:auth:${ha2}`);
      parts.push(`qop=auth`, `nc=${nc}`, `cnonce=${quote(cnonce)}`);
    } else {
      response = await hash(`${ha1}:${challenge.nonce}:${ha2}`);
    }
    parts.push(`response=${quote(response)}`);
    if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
    return `Digest ${parts.join(", ")}`;
  }
  return null;
}
