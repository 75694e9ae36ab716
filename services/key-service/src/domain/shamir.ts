// Shamir's secret sharing over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1), byte by byte:
// every byte of the secret is the constant term of its own polynomial of degree t-1 whose other
// coefficients are fresh random bytes; share i is (i, the polynomials evaluated at x = i).
// Field arithmetic is branch-free and table-free (no secret-dependent memory access).
//
// Encoded shares (`khs1-` + base64url) carry what makes a wrong share detectable as such:
//   version 0x01 ‖ set id (8) ‖ threshold (1) ‖ index (1) ‖ y (secret length) ‖ tag (8) ‖ checksum (4)
// - checksum: SHA-256 of everything before it (first 4 bytes): a mistyped or corrupted share.
// - set id: random per split: a share of another split.
// - tag: HMAC-SHA256(secret, "keyhold/shamir/v1" ‖ set id ‖ threshold), first 8 bytes, the same
//   in every share of a split; checked against the combined secret, so shares that pass the
//   checks above but do not belong together (forged, or from the same split with a bad y)
//   fail instead of yielding a wrong secret.
// Buffers holding secret bytes or coefficients are zeroed before they are let go.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SHARE_PREFIX = "khs1-";
const SHARE_VERSION = 0x01;
const SET_ID_BYTES = 8;
const TAG_BYTES = 8;
const CHECKSUM_BYTES = 4;
const HEADER_BYTES = 1 + SET_ID_BYTES + 1 + 1;
export const MAX_SHARES = 255;
export const MAX_SECRET_BYTES = 1024;

export type ShamirErrorKind = "format" | "checksum" | "mismatch" | "too-few" | "duplicate";

/** A share that cannot be used, or shares that do not combine. Never carries share bytes. */
export class ShamirError extends Error {
  override readonly name = "ShamirError";
  readonly kind: ShamirErrorKind;
  constructor(kind: ShamirErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** A raw point set: x in 1..255 and one y byte per secret byte. */
export interface RawShare {
  readonly x: number;
  readonly y: Buffer;
}

/** A decoded share. `y` holds secret-derived bytes: zero it when done (zeroShare). */
export interface Share extends RawShare {
  readonly setId: Buffer;
  readonly threshold: number;
  readonly tag: Buffer;
}

// --- GF(2^8) ------------------------------------------------------------------------------

/** a · b in GF(2^8), constant time (8 rounds, masks instead of branches). */
export function gfMul(a: number, b: number): number {
  let product = 0;
  for (let i = 0; i < 8; i++) {
    product ^= -(b & 1) & a;
    const carry = -((a >> 7) & 1) & 0x1b;
    a = ((a << 1) ^ carry) & 0xff;
    b >>= 1;
  }
  return product & 0xff;
}

/** a^-1 in GF(2^8) as a^254 (0 for 0), constant time. */
export function gfInv(a: number): number {
  let result = 1;
  let power = a;
  for (let e = 254; e > 0; e >>= 1) {
    const r = gfMul(result, power);
    result = e & 1 ? r : result; // e is public
    power = gfMul(power, power);
  }
  return result;
}

// --- raw split / combine -------------------------------------------------------------------

function checkParameters(secretLength: number, n: number, t: number): void {
  if (secretLength < 1 || secretLength > MAX_SECRET_BYTES) throw new RangeError(`secret must be 1 to ${MAX_SECRET_BYTES} bytes`);
  if (!Number.isInteger(n) || n < 2 || n > MAX_SHARES) throw new RangeError(`shares must be an integer from 2 to ${MAX_SHARES}`);
  if (!Number.isInteger(t) || t < 2 || t > n) throw new RangeError("threshold must be an integer from 2 to shares");
}

/**
 * Splits `secret` into n points of t-1 degree polynomials, one per byte with fresh random
 * coefficients from `random` (t-1 bytes per secret byte). x = 1..n.
 */
export function splitRaw(secret: Uint8Array, n: number, t: number, random: (size: number) => Buffer = randomBytes): RawShare[] {
  checkParameters(secret.length, n, t);
  const shares: RawShare[] = [];
  for (let x = 1; x <= n; x++) shares.push({ x, y: Buffer.alloc(secret.length) });
  for (let i = 0; i < secret.length; i++) {
    const coefficients = random(t - 1);
    try {
      if (coefficients.length !== t - 1) throw new RangeError("random source returned the wrong number of bytes");
      for (const share of shares) {
        // Horner: ((c[t-2]·x + c[t-3])·x + … + c[0])·x + secret[i]
        let y = 0;
        for (let k = t - 2; k >= 0; k--) y = gfMul(y ^ coefficients[k]!, share.x);
        share.y[i] = y ^ secret[i]!;
      }
    } finally {
      coefficients.fill(0);
    }
  }
  return shares;
}

/**
 * Lagrange interpolation at x = 0 over all given points (distinct x, equal lengths). With at
 * least t points of one split this is the secret; with fewer it is some value, not an error.
 */
export function combineRaw(shares: readonly RawShare[]): Buffer {
  if (shares.length === 0) throw new ShamirError("too-few", "no shares");
  const length = shares[0]!.y.length;
  const seen = new Set<number>();
  for (const share of shares) {
    if (!Number.isInteger(share.x) || share.x < 1 || share.x > MAX_SHARES) throw new ShamirError("format", "share index out of range");
    if (seen.has(share.x)) throw new ShamirError("duplicate", `share ${share.x} given twice`);
    seen.add(share.x);
    if (share.y.length !== length) throw new ShamirError("mismatch", "shares of different lengths");
  }
  // Basis weights at 0 depend only on the (public) x values: w_i = Π_{j≠i} x_j / (x_j ⊕ x_i).
  const weights = shares.map((share, i) => {
    let numerator = 1;
    let denominator = 1;
    shares.forEach((other, j) => {
      if (j === i) return;
      numerator = gfMul(numerator, other.x);
      denominator = gfMul(denominator, other.x ^ share.x);
    });
    return gfMul(numerator, gfInv(denominator));
  });
  const secret = Buffer.alloc(length);
  for (let b = 0; b < length; b++) {
    let value = 0;
    for (let i = 0; i < shares.length; i++) value ^= gfMul(weights[i]!, shares[i]!.y[b]!);
    secret[b] = value;
  }
  return secret;
}

// --- encoded shares ------------------------------------------------------------------------

function secretTag(secret: Uint8Array, setId: Uint8Array, threshold: number): Buffer {
  const mac = createHmac("sha256", secret).update("keyhold/shamir/v1").update(setId).update(Buffer.of(threshold)).digest();
  const tag = Buffer.from(mac.subarray(0, TAG_BYTES));
  mac.fill(0);
  return tag;
}

function checksum(body: Uint8Array): Buffer {
  return createHash("sha256").update(body).digest().subarray(0, CHECKSUM_BYTES);
}

/** Splits `secret` into n encoded shares, any t of which recover it. */
export function split(secret: Uint8Array, n: number, t: number, random: (size: number) => Buffer = randomBytes): string[] {
  checkParameters(secret.length, n, t);
  const setId = random(SET_ID_BYTES);
  const tag = secretTag(secret, setId, t);
  const raw = splitRaw(secret, n, t, random);
  return raw.map((share) => {
    const body = Buffer.concat([Buffer.of(SHARE_VERSION), setId, Buffer.of(t, share.x), share.y, tag]);
    share.y.fill(0);
    const encoded = Buffer.concat([body, checksum(body)]);
    body.fill(0);
    const text = SHARE_PREFIX + encoded.toString("base64url");
    encoded.fill(0);
    return text;
  });
}

/** Decodes one share, checking its form and checksum (not yet whether it fits the others). */
export function decodeShare(text: string): Share {
  const trimmed = text.trim();
  if (!trimmed.startsWith(SHARE_PREFIX)) throw new ShamirError("format", `a share starts with "${SHARE_PREFIX}"`);
  const b64 = trimmed.slice(SHARE_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64)) throw new ShamirError("format", "a share is base64url after its prefix");
  const bytes = Buffer.from(b64, "base64url");
  try {
    const minimum = HEADER_BYTES + 1 + TAG_BYTES + CHECKSUM_BYTES;
    if (bytes.length < minimum || bytes.length > HEADER_BYTES + MAX_SECRET_BYTES + TAG_BYTES + CHECKSUM_BYTES) {
      throw new ShamirError("format", "share has the wrong length");
    }
    const bodyEnd = bytes.length - CHECKSUM_BYTES;
    if (!timingSafeEqual(checksum(bytes.subarray(0, bodyEnd)), bytes.subarray(bodyEnd))) {
      throw new ShamirError("checksum", "share checksum does not match: mistyped or corrupted");
    }
    if (bytes[0] !== SHARE_VERSION) throw new ShamirError("format", `unknown share version ${bytes[0]}`);
    const threshold = bytes[1 + SET_ID_BYTES]!;
    const x = bytes[2 + SET_ID_BYTES]!;
    if (threshold < 2 || x < 1) throw new ShamirError("format", "share has an invalid threshold or index");
    return {
      setId: Buffer.from(bytes.subarray(1, 1 + SET_ID_BYTES)),
      threshold,
      x,
      y: Buffer.from(bytes.subarray(HEADER_BYTES, bodyEnd - TAG_BYTES)),
      tag: Buffer.from(bytes.subarray(bodyEnd - TAG_BYTES, bodyEnd)),
    };
  } finally {
    bytes.fill(0);
  }
}

export function zeroShare(share: Share): void {
  share.y.fill(0);
  share.tag.fill(0);
}

/** True when two decoded shares are the same share (constant time over the secret-derived bytes). */
export function sameShare(a: Share, b: Share): boolean {
  return (
    a.x === b.x &&
    a.threshold === b.threshold &&
    a.y.length === b.y.length &&
    timingSafeEqual(a.setId, b.setId) &&
    timingSafeEqual(a.y, b.y) &&
    timingSafeEqual(a.tag, b.tag)
  );
}

/**
 * Recovers the secret from at least `threshold` shares of one split, in any order. Throws
 * ShamirError: too few, duplicate indices, shares of different splits, or (tag check) shares
 * that do not combine to the secret they were split from.
 */
export function combine(shares: readonly Share[]): Buffer {
  const first = shares[0];
  if (first === undefined) throw new ShamirError("too-few", "no shares");
  for (const share of shares) {
    if (!timingSafeEqual(share.setId, first.setId) || share.threshold !== first.threshold || share.y.length !== first.y.length) {
      throw new ShamirError("mismatch", "shares come from different splits");
    }
    if (!timingSafeEqual(share.tag, first.tag)) throw new ShamirError("mismatch", "shares come from different splits");
  }
  if (shares.length < first.threshold) throw new ShamirError("too-few", `${shares.length} of ${first.threshold} shares`);
  const secret = combineRaw(shares);
  const tag = secretTag(secret, first.setId, first.threshold);
  const ok = timingSafeEqual(tag, first.tag);
  tag.fill(0);
  if (!ok) {
    secret.fill(0);
    throw new ShamirError("mismatch", "the shares do not combine to the secret they were split from");
  }
  return secret;
}
