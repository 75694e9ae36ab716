// The private-key operations, as plain synchronous functions over DER key material: key pair
// generation, signing (RAW messages and pre-computed DIGESTs) and RSA-OAEP decryption. They run
// in the worker threads of PrivateKeyPool (private-key-worker.ts), never on the event loop.
// Public-key operations (verify, encrypt) are cheap and run in place.
import crypto from "node:crypto";
import { signDigest, verifyDigest } from "./ecdsa-digest.ts";

export type KeyPairSpec = { readonly type: "rsa"; readonly bits: number } | { readonly type: "ec"; readonly curve: string } | { readonly type: "ed25519" };

/** How to sign: RSA-PSS or PKCS#1 v1.5 with a hash, ECDSA with a hash, or Ed25519 (pure). */
export type SignScheme =
  | { readonly kind: "rsa-pss"; readonly hash: HashName }
  | { readonly kind: "rsa-pkcs1"; readonly hash: HashName }
  | { readonly kind: "ecdsa"; readonly hash: HashName }
  | { readonly kind: "ed25519" };

export type HashName = "sha1" | "sha256" | "sha384" | "sha512";

export const HASH_BYTES: Readonly<Record<HashName, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export interface GeneratedKeyPair {
  /** PKCS#8 DER. The caller zeroes it when done. */
  readonly privateKey: Buffer;
  /** SubjectPublicKeyInfo DER. */
  readonly publicKey: Buffer;
}

export function generateKeyPair(spec: KeyPairSpec): GeneratedKeyPair {
  const publicKeyEncoding = { type: "spki", format: "der" } as const;
  const privateKeyEncoding = { type: "pkcs8", format: "der" } as const;
  switch (spec.type) {
    case "rsa":
      return crypto.generateKeyPairSync("rsa", { modulusLength: spec.bits, publicExponent: 0x10001, publicKeyEncoding, privateKeyEncoding });
    case "ec":
      return crypto.generateKeyPairSync("ec", { namedCurve: spec.curve, publicKeyEncoding, privateKeyEncoding });
    case "ed25519":
      return crypto.generateKeyPairSync("ed25519", { publicKeyEncoding, privateKeyEncoding });
  }
}

const privateKeyOf = (pkcs8: Uint8Array) => crypto.createPrivateKey({ key: Buffer.from(pkcs8.buffer, pkcs8.byteOffset, pkcs8.byteLength), format: "der", type: "pkcs8" });
const publicKeyOf = (spki: Uint8Array) => crypto.createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: "der", type: "spki" });

// DER DigestInfo prefixes (RFC 8017 §9.2, note 1) for PKCS#1 v1.5 signatures of a digest.
const DIGEST_INFO: Readonly<Record<HashName, Buffer>> = {
  sha1: Buffer.from("3021300906052b0e03021a05000414", "hex"),
  sha256: Buffer.from("3031300d060960864801650304020105000420", "hex"),
  sha384: Buffer.from("3041300d060960864801650304020205000430", "hex"),
  sha512: Buffer.from("3051300d060960864801650304020305000440", "hex"),
};

/** MGF1 (RFC 8017 B.2.1). */
function mgf1(hash: HashName, seed: Uint8Array, length: number): Buffer {
  const out = Buffer.alloc(length);
  let offset = 0;
  for (let counter = 0; offset < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    offset += crypto.createHash(hash).update(seed).update(c).digest().copy(out, offset);
  }
  return out;
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) of a message hash, salt length = hash length. */
function pssEncode(hash: HashName, mHash: Uint8Array, modulusBits: number): Buffer {
  const hLen = HASH_BYTES[hash];
  const emBits = modulusBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = crypto.randomBytes(hLen);
  const h = crypto.createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.alloc(emLen - hLen - 1);
  db[emLen - 2 * hLen - 2] = 0x01;
  salt.copy(db, emLen - 2 * hLen - 1);
  const mask = mgf1(hash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i] = db[i]! ^ mask[i]!;
  db[0] = db[0]! & (0xff >> (8 * emLen - emBits));
  const em = Buffer.concat([db, h, Buffer.of(0xbc)]);
  // RSA with no padding needs an input as long as the modulus.
  return em.length * 8 >= modulusBits ? em : Buffer.concat([Buffer.alloc(Math.ceil(modulusBits / 8) - em.length), em]);
}

/**
 * Signs `data` (the message, or with `digest` its hash) with the PKCS#8 private key. ECDSA
 * signatures are DER (as AWS KMS and OpenSSL); ECDSA over a digest is ecdsa-digest.ts. A DIGEST
 * for Ed25519 is refused by the caller before this runs (pure Ed25519 signs messages).
 */
export function sign(pkcs8: Uint8Array, scheme: SignScheme, data: Uint8Array, digest: boolean): Buffer {
  const key = privateKeyOf(pkcs8);
  switch (scheme.kind) {
    case "rsa-pss":
      if (!digest) return crypto.sign(scheme.hash, data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_BYTES[scheme.hash] });
      return crypto.privateEncrypt({ key, padding: crypto.constants.RSA_NO_PADDING }, pssEncode(scheme.hash, data, key.asymmetricKeyDetails?.modulusLength ?? 0));
    case "rsa-pkcs1":
      if (!digest) return crypto.sign(scheme.hash, data, { key, padding: crypto.constants.RSA_PKCS1_PADDING });
      return crypto.privateEncrypt({ key, padding: crypto.constants.RSA_PKCS1_PADDING }, Buffer.concat([DIGEST_INFO[scheme.hash], data]));
    case "ecdsa":
      if (digest) return signDigest(key, data);
      return crypto.sign(scheme.hash, data, { key, dsaEncoding: "der" });
    case "ed25519":
      if (digest) throw new Error("Ed25519 over a digest is not available");
      return crypto.sign(null, data, key);
  }
}

/**
 * Verifies with the DER public key. For a DIGEST, RSA signatures are opened with the public key
 * and compared; ECDSA is checked by ecdsa-digest.ts (slow in JavaScript: callers use the pool).
 */
export function verify(spki: Uint8Array, scheme: SignScheme, data: Uint8Array, digest: boolean, signature: Uint8Array): boolean {
  const key = publicKeyOf(spki);
  try {
    switch (scheme.kind) {
      case "rsa-pss":
        if (!digest) return crypto.verify(scheme.hash, data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_BYTES[scheme.hash] }, signature);
        return pssVerify(scheme.hash, data, crypto.publicDecrypt({ key, padding: crypto.constants.RSA_NO_PADDING }, signature), key.asymmetricKeyDetails?.modulusLength ?? 0);
      case "rsa-pkcs1": {
        if (!digest) return crypto.verify(scheme.hash, data, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
        const opened = crypto.publicDecrypt({ key, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
        const expected = Buffer.concat([DIGEST_INFO[scheme.hash], data]);
        return opened.length === expected.length && crypto.timingSafeEqual(opened, expected);
      }
      case "ecdsa":
        if (digest) return verifyDigest(key, data, signature);
        return crypto.verify(scheme.hash, data, { key, dsaEncoding: "der" }, signature);
      case "ed25519":
        return !digest && crypto.verify(null, data, key, signature);
    }
  } catch {
    return false; // malformed signatures do not verify
  }
}

/** EMSA-PSS-VERIFY (RFC 8017 §9.1.2), salt length = hash length. */
function pssVerify(hash: HashName, mHash: Uint8Array, opened: Buffer, modulusBits: number): boolean {
  const hLen = HASH_BYTES[hash];
  const emBits = modulusBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const em = opened.subarray(opened.length - emLen);
  if (opened.length > emLen && opened.subarray(0, opened.length - emLen).some((b) => b !== 0)) return false;
  if (em.length < 2 * hLen + 2 || em[em.length - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - hLen - 1);
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  if ((maskedDb[0]! & ~(0xff >> (8 * emLen - emBits)) & 0xff) !== 0) return false;
  const mask = mgf1(hash, h, maskedDb.length);
  const db = Buffer.alloc(maskedDb.length);
  for (let i = 0; i < db.length; i++) db[i] = maskedDb[i]! ^ mask[i]!;
  db[0] = db[0]! & (0xff >> (8 * emLen - emBits));
  const psLen = emLen - 2 * hLen - 2;
  if (db.subarray(0, psLen).some((b) => b !== 0) || db[psLen] !== 0x01) return false;
  const salt = db.subarray(db.length - hLen);
  const expected = crypto.createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return crypto.timingSafeEqual(expected, h);
}

/** RSAES-OAEP decryption with the PKCS#8 private key. */
export function oaepDecrypt(pkcs8: Uint8Array, hash: HashName, ciphertext: Uint8Array): Buffer {
  return crypto.privateDecrypt({ key: privateKeyOf(pkcs8), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ciphertext);
}

/** RSAES-OAEP encryption with a DER public key (runs in place: public-key operations are cheap). */
export function oaepEncrypt(spki: Uint8Array, hash: HashName, plaintext: Uint8Array): Buffer {
  return crypto.publicEncrypt({ key: publicKeyOf(spki), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, plaintext);
}

/** The largest plaintext RSAES-OAEP takes for a modulus of `bits` with `hash`. */
export function oaepMaxPlaintext(bits: number, hash: HashName): number {
  return bits / 8 - 2 * HASH_BYTES[hash] - 2;
}
