// Envoy's x-forwarded-client-cert (XFCC) header: how a mesh sidecar that terminated the client's
// mTLS tells the service behind it who the client was. Elements are comma-separated, one per
// proxy hop (the last is the immediate client of the proxy in front of us); each is
// `;`-separated key=value pairs (By, Hash, Cert, Chain, Subject, URI, DNS; keys case-insensitive,
// DNS may repeat); a value holding `,` `;` `=` is double-quoted, with `\"` for a quote.
// https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-client-cert
import type { PeerIdentity } from "@keyhold/server-kit";

export const XFCC_HEADER = "x-forwarded-client-cert";

/** One XFCC element: its key=value pairs in order, keys lower-cased. */
export type XfccElement = readonly (readonly [key: string, value: string])[];

const isSpace = (c: string | undefined) => c === " " || c === "\t";

/** Parses an XFCC header value; undefined when it is malformed (an unterminated quote, a key without '='). */
export function parseXfcc(header: string): XfccElement[] | undefined {
  const elements: XfccElement[] = [];
  let pairs: (readonly [string, string])[] = [];
  let i = 0;
  const n = header.length;
  for (;;) {
    while (isSpace(header[i])) i++;
    // key
    const eq = header.indexOf("=", i);
    if (eq < 0) return undefined;
    const key = header.slice(i, eq).trim().toLowerCase();
    if (key === "" || /[,;"]/.test(key)) return undefined;
    i = eq + 1;
    while (isSpace(header[i])) i++;
    // value
    let value = "";
    if (header[i] === '"') {
      i++;
      for (;;) {
        if (i >= n) return undefined;
        const c = header[i]!;
        if (c === "\\" && i + 1 < n) {
          value += header[i + 1];
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      while (isSpace(header[i])) i++;
      if (i < n && header[i] !== ";" && header[i] !== ",") return undefined;
    } else {
      const start = i;
      while (i < n && header[i] !== ";" && header[i] !== ",") {
        if (header[i] === '"') return undefined;
        i++;
      }
      value = header.slice(start, i).trim();
    }
    pairs.push([key, value]);
    if (i >= n) break;
    if (header[i] === ",") {
      elements.push(pairs);
      pairs = [];
    }
    i++;
  }
  elements.push(pairs);
  return elements;
}

/**
 * The client identity an XFCC header carries: the URI and DNS values of its last element (the
 * immediate client of the proxy). Undefined when the header is malformed.
 */
export function xfccPeerIdentity(header: string): PeerIdentity | undefined {
  const elements = parseXfcc(header);
  const last = elements?.[elements.length - 1];
  if (last === undefined) return undefined;
  const uris: string[] = [];
  const dnsNames: string[] = [];
  for (const [key, value] of last) {
    if (value === "") continue;
    if (key === "uri") uris.push(value);
    else if (key === "dns") dnsNames.push(value);
  }
  return { uris, dnsNames };
}
