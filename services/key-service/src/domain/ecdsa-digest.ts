// ECDSA over a pre-computed digest (Sign/Verify with message type DIGEST). Node's OpenSSL
// binding signs only messages it hashes itself, so this does what EVP_PKEY_sign would:
// - k·G, the only scalar multiplication with a secret, is OpenSSL's (ECDH key generation from
//   k, constant time);
// - s = k⁻¹(e + r·d) mod n is computed blinded by a fresh random b, as (k·b)⁻¹ · (b·e + (b·r)·d),
//   so the variable-time BigInt inversion only ever sees the random k·b.
// Verification uses public values only (u₁·G + u₂·Q in Jacobian coordinates). Signatures are
// DER, as OpenSSL and AWS KMS give them.
import crypto from "node:crypto";

interface Curve {
  readonly opensslName: string;
  readonly p: bigint;
  readonly a: bigint;
  readonly n: bigint;
  readonly gx: bigint;
  readonly gy: bigint;
  /** Bytes of a field element / scalar. */
  readonly size: number;
}

const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P384_P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn;

export const CURVES: Readonly<Record<string, Curve>> = {
  prime256v1: {
    opensslName: "prime256v1",
    p: P256_P,
    a: P256_P - 3n,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
    size: 32,
  },
  secp384r1: {
    opensslName: "secp384r1",
    p: P384_P,
    a: P384_P - 3n,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
    size: 48,
  },
  secp256k1: {
    opensslName: "secp256k1",
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn,
    a: 0n,
    n: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
    gx: 0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n,
    gy: 0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n,
    size: 32,
  },
};

const mod = (x: bigint, m: bigint) => ((x % m) + m) % m;
const toBig = (bytes: Uint8Array) => (bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString("hex")}`));
const toBytes = (x: bigint, size: number) => Buffer.from(x.toString(16).padStart(size * 2, "0"), "hex");

function modPow(base: bigint, exponent: bigint, m: bigint): bigint {
  let result = 1n;
  let b = mod(base, m);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}
/** Inverse modulo a prime. */
const inverse = (x: bigint, m: bigint) => modPow(x, m - 2n, m);

/** A uniformly random scalar in [1, n-1]. */
function randomScalar(curve: Curve): bigint {
  for (;;) {
    const k = toBig(crypto.randomBytes(curve.size));
    if (k > 0n && k < curve.n) return k;
  }
}

/** The digest as an integer, truncated to the bit length of n (SEC 1, 4.1.3 step 5). */
function digestScalar(curve: Curve, digest: Uint8Array): bigint {
  const e = toBig(digest);
  const excess = digest.length * 8 - curve.n.toString(2).length;
  return excess > 0 ? e >> BigInt(excess) : e;
}

function derInteger(x: bigint): Buffer {
  let bytes = Buffer.from(x.toString(16).padStart(2, "0").replace(/^(.(..)*)$/, "0$1"), "hex");
  if ((bytes[0]! & 0x80) !== 0) bytes = Buffer.concat([Buffer.of(0), bytes]);
  return Buffer.concat([Buffer.of(0x02), derLength(bytes.length), bytes]);
}
const derLength = (length: number) => (length < 0x80 ? Buffer.of(length) : Buffer.of(0x81, length));

export function encodeDer(r: bigint, s: bigint): Buffer {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  return Buffer.concat([Buffer.of(0x30), derLength(body.length), body]);
}

/** (r, s) from a DER ECDSA-Sig-Value, or undefined when it is not one (strictly). */
export function decodeDer(signature: Uint8Array): [bigint, bigint] | undefined {
  const buf = Buffer.from(signature);
  let at = 0;
  const readLength = (): number | undefined => {
    const first = buf[at++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    if (first !== 0x81) return undefined;
    const length = buf[at++];
    return length !== undefined && length >= 0x80 ? length : undefined;
  };
  if (buf[at++] !== 0x30) return undefined;
  const total = readLength();
  if (total === undefined || at + total !== buf.length) return undefined;
  const ints: bigint[] = [];
  for (let i = 0; i < 2; i++) {
    if (buf[at++] !== 0x02) return undefined;
    const length = readLength();
    if (length === undefined || length === 0 || at + length > buf.length) return undefined;
    const bytes = buf.subarray(at, at + length);
    if ((bytes[0]! & 0x80) !== 0 || (length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0)) return undefined;
    ints.push(toBig(bytes));
    at += length;
  }
  return at === buf.length ? [ints[0]!, ints[1]!] : undefined;
}

/** Signs a digest with an EC private key (PKCS#8 DER) on one of CURVES. */
export function signDigest(privateKey: crypto.KeyObject, digest: Uint8Array): Buffer {
  const curve = CURVES[privateKey.asymmetricKeyDetails?.namedCurve ?? ""];
  if (curve === undefined) throw new Error("unsupported curve for ECDSA over a digest");
  const jwk = privateKey.export({ format: "jwk" });
  if (jwk.d === undefined) throw new Error("not a private key");
  const dBytes = Buffer.from(jwk.d, "base64url");
  const d = toBig(dBytes);
  dBytes.fill(0);
  const e = digestScalar(curve, digest);
  for (;;) {
    const k = randomScalar(curve);
    const ecdh = crypto.createECDH(curve.opensslName);
    ecdh.setPrivateKey(toBytes(k, curve.size));
    const point = ecdh.getPublicKey(null, "uncompressed");
    const r = mod(toBig(point.subarray(1, 1 + curve.size)), curve.n);
    if (r === 0n) continue;
    const b = randomScalar(curve);
    const kb = (k * b) % curve.n;
    const t = ((b * e) % curve.n + ((b * r) % curve.n) * d) % curve.n;
    const s = (inverse(kb, curve.n) * t) % curve.n;
    if (s === 0n) continue;
    return encodeDer(r, s);
  }
}

// Jacobian point arithmetic on y² = x³ + ax + b over F_p, for verification (public data only).
type Jacobian = readonly [bigint, bigint, bigint];
const INFINITY: Jacobian = [0n, 1n, 0n];

function double(curve: Curve, [x, y, z]: Jacobian): Jacobian {
  const { p, a } = curve;
  if (z === 0n || y === 0n) return INFINITY;
  const yy = (y * y) % p;
  const s = (4n * x * yy) % p;
  const zz = (z * z) % p;
  const m = mod(3n * x * x + a * ((zz * zz) % p), p);
  const x3 = mod(m * m - 2n * s, p);
  const y3 = mod(m * (s - x3) - 8n * yy * yy, p);
  const z3 = (2n * y * z) % p;
  return [x3, y3, z3];
}

function add(curve: Curve, P: Jacobian, Q: Jacobian): Jacobian {
  const { p } = curve;
  if (P[2] === 0n) return Q;
  if (Q[2] === 0n) return P;
  const [x1, y1, z1] = P;
  const [x2, y2, z2] = Q;
  const z1z1 = (z1 * z1) % p;
  const z2z2 = (z2 * z2) % p;
  const u1 = (x1 * z2z2) % p;
  const u2 = (x2 * z1z1) % p;
  const s1 = (y1 * z2 * z2z2) % p;
  const s2 = (y2 * z1 * z1z1) % p;
  if (u1 === u2) return s1 === s2 ? double(curve, P) : INFINITY;
  const h = mod(u2 - u1, p);
  const r = mod(s2 - s1, p);
  const hh = (h * h) % p;
  const hhh = (h * hh) % p;
  const v = (u1 * hh) % p;
  const x3 = mod(r * r - hhh - 2n * v, p);
  const y3 = mod(r * (v - x3) - s1 * hhh, p);
  const z3 = (z1 * z2 * h) % p;
  return [x3, y3, z3];
}

function multiply(curve: Curve, k: bigint, P: Jacobian): Jacobian {
  let result = INFINITY;
  let addend = P;
  for (let e = k; e > 0n; e >>= 1n) {
    if (e & 1n) result = add(curve, result, addend);
    addend = double(curve, addend);
  }
  return result;
}

/** Verifies a DER ECDSA signature of a digest with an EC public key on one of CURVES. */
export function verifyDigest(publicKey: crypto.KeyObject, digest: Uint8Array, signature: Uint8Array): boolean {
  const curve = CURVES[publicKey.asymmetricKeyDetails?.namedCurve ?? ""];
  if (curve === undefined) return false;
  const decoded = decodeDer(signature);
  if (decoded === undefined) return false;
  const [r, s] = decoded;
  if (r <= 0n || r >= curve.n || s <= 0n || s >= curve.n) return false;
  const jwk = publicKey.export({ format: "jwk" });
  if (jwk.x === undefined || jwk.y === undefined) return false;
  const q: Jacobian = [toBig(Buffer.from(jwk.x, "base64url")), toBig(Buffer.from(jwk.y, "base64url")), 1n];
  const w = inverse(s, curve.n);
  const u1 = (digestScalar(curve, digest) * w) % curve.n;
  const u2 = (r * w) % curve.n;
  const [x, , z] = add(curve, multiply(curve, u1, [curve.gx, curve.gy, 1n]), multiply(curve, u2, q));
  if (z === 0n) return false;
  const zInv = inverse(z, curve.p);
  const affineX = (x * ((zInv * zInv) % curve.p)) % curve.p;
  return affineX % curve.n === r;
}
