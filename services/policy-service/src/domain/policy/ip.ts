// IPv4 / IPv6 addresses and CIDR blocks for the IpAddress / NotIpAddress operators.
//
// An address is held as four 32-bit words (IPv4 uses the first only). IPv4-mapped IPv6
// addresses (::ffff:a.b.c.d — what a dual-stack Node socket reports for IPv4 peers) are
// turned into IPv4, in requests and in policies alike (::ffff:0:0/96 and longer prefixes
// become IPv4 blocks), so `10.0.0.0/8` matches a peer the socket calls `::ffff:10.1.2.3`.

export interface IpAddressValue {
  readonly family: 4 | 6;
  readonly words: readonly [number, number, number, number];
}

export interface CidrBlock {
  readonly family: 4 | 6;
  readonly prefix: number;
  /** The network address (host bits cleared). */
  readonly network: readonly [number, number, number, number];
  readonly mask: readonly [number, number, number, number];
  /** As written in the policy. */
  readonly source: string;
}

const PREFIX = /^(0|[1-9][0-9]{0,2})$/;

// Hand-written scanners: a request's address is parsed on every evaluation that reads it, and
// dual-stack sockets report IPv4 peers as IPv4-mapped IPv6, so this path has to be cheap.

/** A dotted quad in text[start, end): strict (no leading zeros, 0–255), or -1. */
function parseIpv4Range(text: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    const first = i;
    let octet = 0;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const digits = i - first;
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && text.charCodeAt(first) === 48)) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= end || text.charCodeAt(i) !== 46) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** An IPv6 address in text (RFC 4291 text forms, `::` and an IPv4 tail), as four words. */
function parseIpv6Words(text: string): [number, number, number, number] | undefined {
  const n = text.length;
  if (n < 2 || n > 45) return undefined;
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  let gapAt = -1;
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return undefined;
    gapAt = 0;
    i = 2;
  }
  while (i < n) {
    if (count >= 8) return undefined;
    const first = i;
    let group = 0;
    while (i < n && i - first < 5) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      group = group * 16 + h;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      // An IPv4 tail: the last 32 bits.
      if (count > 6) return undefined;
      const v4 = parseIpv4Range(text, first, n);
      if (v4 < 0) return undefined;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = n;
      break;
    }
    const digits = i - first;
    if (digits === 0 || digits > 4) return undefined;
    groups[count++] = group;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gapAt !== -1) return undefined;
      gapAt = count;
      i++;
    } else if (i === n) {
      return undefined; // a single trailing colon
    }
  }
  if (gapAt === -1) {
    if (count !== 8) return undefined;
  } else {
    if (count > 7) return undefined;
    const shift = 8 - count;
    for (let k = count - 1; k >= gapAt; k--) groups[k + shift] = groups[k] as number;
    for (let k = gapAt; k < gapAt + shift; k++) groups[k] = 0;
  }
  const word = (k: number): number => (((groups[k] as number) << 16) | (groups[k + 1] as number)) >>> 0;
  return [word(0), word(2), word(4), word(6)];
}

function parseIpv4Word(text: string): number | undefined {
  const v4 = parseIpv4Range(text, 0, text.length);
  return v4 < 0 ? undefined : v4;
}

function isMapped(words: readonly [number, number, number, number]): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0x0000ffff;
}

/** Parses an IPv4 or IPv6 address (no prefix, no zone); IPv4-mapped IPv6 becomes IPv4. */
export function parseIpAddress(text: string): IpAddressValue | undefined {
  const v4 = parseIpv4Word(text);
  if (v4 !== undefined) return { family: 4, words: [v4, 0, 0, 0] };
  const v6 = parseIpv6Words(text);
  if (v6 === undefined) return undefined;
  if (isMapped(v6)) return { family: 4, words: [v6[3], 0, 0, 0] };
  return { family: 6, words: v6 };
}

/**
 * Parses a request's source address as a transport reports it: an address, optionally in
 * brackets and with an IPv6 zone (`fe80::1%eth0`), which is dropped. No port.
 */
export function parseRequestIp(text: string): IpAddressValue | undefined {
  let address = text;
  if (address.startsWith("[") && address.endsWith("]")) address = address.slice(1, -1);
  const zone = address.indexOf("%");
  if (zone !== -1 && address.includes(":")) address = address.slice(0, zone);
  return parseIpAddress(address);
}

function maskWord(prefix: number, index: number): number {
  const bits = Math.min(32, Math.max(0, prefix - 32 * index));
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

function block(family: 4 | 6, words: readonly [number, number, number, number], prefix: number, source: string): CidrBlock {
  const mask: [number, number, number, number] = [maskWord(prefix, 0), maskWord(prefix, 1), maskWord(prefix, 2), maskWord(prefix, 3)];
  const network: [number, number, number, number] = [
    (words[0] & mask[0]) >>> 0,
    (words[1] & mask[1]) >>> 0,
    (words[2] & mask[2]) >>> 0,
    (words[3] & mask[3]) >>> 0,
  ];
  return { family, prefix, network, mask, source };
}

/**
 * Parses `address` or `address/prefix` (IPv4 0–32, IPv6 0–128). Host bits set under the
 * prefix are accepted and cleared (`10.1.2.3/8` is `10.0.0.0/8`).
 */
export function parseCidr(text: string): CidrBlock | undefined {
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  let prefix: number | undefined;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!PREFIX.test(prefixText)) return undefined;
    prefix = Number(prefixText);
  }
  const v4 = parseIpv4Word(addressText);
  if (v4 !== undefined) {
    const p = prefix ?? 32;
    if (p > 32) return undefined;
    return block(4, [v4, 0, 0, 0], p, text);
  }
  const v6 = parseIpv6Words(addressText);
  if (v6 === undefined) return undefined;
  const p = prefix ?? 128;
  if (p > 128) return undefined;
  if (p >= 96 && isMapped(v6)) return block(4, [v6[3], 0, 0, 0], p - 96, text);
  return block(6, v6, p, text);
}

export function cidrContains(cidr: CidrBlock, address: IpAddressValue): boolean {
  if (cidr.family !== address.family) return false;
  const w = address.words;
  const m = cidr.mask;
  const n = cidr.network;
  if (((w[0] & m[0]) >>> 0) !== n[0]) return false;
  if (cidr.family === 4) return true;
  return ((w[1] & m[1]) >>> 0) === n[1] && ((w[2] & m[2]) >>> 0) === n[2] && ((w[3] & m[3]) >>> 0) === n[3];
}
