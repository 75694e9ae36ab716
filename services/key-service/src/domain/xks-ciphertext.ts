// The ciphertext of an EXTERNAL_KEY_STORE key, format v2: double encryption. The plaintext is
// first sealed under the key's Keyhold-held version (a whole format v1 ciphertext, material
// wrapped by the root key), and that inner ciphertext is then encrypted by the external key
// manager through the XKS proxy (AES-256-GCM under the external key) — the order AWS KMS
// documents for external key stores. Neither Keyhold nor the external key manager alone can
// decrypt. Specified in docs/external-key-stores.md.
//
//   0      1                 17     18        19         19+n    20+n      20+n+v  21+n+v       21+n+v+m  37+n+v+m
//   | 0x02 | key version id  | 0x02 | n (1) | xks key id | v (1) | IV (v) | m (1) | metadata (m) | tag (16) | outer body |
//
// The AAD given to the proxy is the header through the external key id, then the canonical
// encryption context: the format, version, algorithm and external key id are authenticated by
// the external key manager's GCM tag, the context is bound by both layers. The IV and tag are
// authenticated by GCM itself, the proxy's ciphertext metadata by the proxy (XKS binds it into
// its own AAD). The inner v1 ciphertext authenticates the version id and the context again.
import { KeyholdError } from "@keyhold/server-kit";
import { EXTERNAL_KEY_ID } from "@keyhold/xks";
import { invalidCiphertext } from "./ciphertext.ts";
import { prefixedCanonicalEncryptionContext, type EncryptionContext } from "./encryption-context.ts";

export const FORMAT_VERSION_2_XKS = 0x02;
/** Keyhold AES-256-GCM (format v1) inside external AES-256-GCM through an XKS proxy. */
export const ALGORITHM_XKS_DOUBLE_AES_256_GCM = 0x02;

const KEY_VERSION_ID_LENGTH = 16;
const OFFSET_ALGORITHM = 1 + KEY_VERSION_ID_LENGTH; // 17
const OFFSET_XKS_KEY_ID_LENGTH = OFFSET_ALGORITHM + 1; // 18
const TAG_LENGTH = 16;
const MAX_METADATA = 20;
/** The most a v2 ciphertext adds around its inner v1 ciphertext. */
export const XKS_CIPHERTEXT_OVERHEAD = OFFSET_XKS_KEY_ID_LENGTH + 1 + 128 + 1 + 16 + 1 + MAX_METADATA + TAG_LENGTH;

export interface XksCiphertextParts {
  readonly keyVersionId: string;
  readonly xksKeyId: string;
  readonly initializationVector: Buffer;
  readonly ciphertextMetadata: Buffer;
  readonly authenticationTag: Buffer;
  /** The external layer's body (the encrypted inner v1 ciphertext). */
  readonly body: Buffer;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function versionBytes(keyVersionId: string): Buffer {
  if (!UUID.test(keyVersionId)) throw new KeyholdError("INTERNAL", "key version id is not a UUID");
  return Buffer.from(keyVersionId.replaceAll("-", ""), "hex");
}

function formatUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function header(keyVersionId: string, xksKeyId: string): Buffer {
  if (!EXTERNAL_KEY_ID.test(xksKeyId)) throw new KeyholdError("INTERNAL", "external key id is not valid");
  const id = Buffer.from(xksKeyId, "ascii");
  const out = Buffer.alloc(OFFSET_XKS_KEY_ID_LENGTH + 1 + id.length);
  out[0] = FORMAT_VERSION_2_XKS;
  versionBytes(keyVersionId).copy(out, 1);
  out[OFFSET_ALGORITHM] = ALGORITHM_XKS_DOUBLE_AES_256_GCM;
  out[OFFSET_XKS_KEY_ID_LENGTH] = id.length;
  id.copy(out, OFFSET_XKS_KEY_ID_LENGTH + 1);
  return out;
}

/** The AAD the proxy binds: header through the external key id ‖ canonical encryption context. */
export function xksAad(keyVersionId: string, xksKeyId: string, context: EncryptionContext): Buffer {
  const head = header(keyVersionId, xksKeyId);
  const aad = prefixedCanonicalEncryptionContext(head.length, context);
  head.copy(aad, 0);
  return aad;
}

export function isXksCiphertext(blob: Uint8Array): boolean {
  return blob.length > 0 && blob[0] === FORMAT_VERSION_2_XKS;
}

/** Assembles a v2 ciphertext from what the proxy returned. */
export function assembleXksCiphertext(parts: Omit<XksCiphertextParts, "body"> & { readonly body: Uint8Array }): Buffer {
  const head = header(parts.keyVersionId, parts.xksKeyId);
  const { initializationVector: iv, ciphertextMetadata: metadata, authenticationTag: tag } = parts;
  if (iv.length === 0 || iv.length > 255 || metadata.length > MAX_METADATA || tag.length !== TAG_LENGTH) {
    throw new KeyholdError("INTERNAL", "the XKS proxy's IV, metadata or tag has an unexpected size");
  }
  return Buffer.concat([head, Buffer.of(iv.length), iv, Buffer.of(metadata.length), metadata, tag, parts.body]);
}

/** Parses a v2 ciphertext; anything malformed is the uniform INVALID_CIPHERTEXT. */
export function parseXksCiphertext(blob: Uint8Array): XksCiphertextParts {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (buf.length < OFFSET_XKS_KEY_ID_LENGTH + 1 || buf[0] !== FORMAT_VERSION_2_XKS || buf[OFFSET_ALGORITHM] !== ALGORITHM_XKS_DOUBLE_AES_256_GCM) {
    throw invalidCiphertext();
  }
  let offset = OFFSET_XKS_KEY_ID_LENGTH;
  const take = (length: number): Buffer => {
    if (offset + length > buf.length) throw invalidCiphertext();
    const part = buf.subarray(offset, offset + length);
    offset += length;
    return part;
  };
  const idLength = take(1)[0]!;
  const xksKeyId = take(idLength).toString("ascii");
  if (!EXTERNAL_KEY_ID.test(xksKeyId)) throw invalidCiphertext();
  const initializationVector = take(take(1)[0]!);
  if (initializationVector.length === 0) throw invalidCiphertext();
  const metadataLength = take(1)[0]!;
  if (metadataLength > MAX_METADATA) throw invalidCiphertext();
  const ciphertextMetadata = take(metadataLength);
  const authenticationTag = take(TAG_LENGTH);
  const body = buf.subarray(offset);
  if (body.length === 0) throw invalidCiphertext();
  return {
    keyVersionId: formatUuid(buf.toString("hex", 1, OFFSET_ALGORITHM)),
    xksKeyId,
    initializationVector,
    ciphertextMetadata,
    authenticationTag,
    body,
  };
}
