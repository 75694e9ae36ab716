// The encryption context: a string map bound to a ciphertext as additional authenticated data.
// Its canonical encoding (docs/ciphertext.md) is unambiguous: every string is length-prefixed,
// entries are sorted by the UTF-8 bytes of their keys, so insertion order never matters and no
// two different maps encode alike.
import { invalidArgument } from "@keyhold/server-kit";

export type EncryptionContext = Readonly<Record<string, string>>;

/** The largest canonical encoding accepted, in bytes. */
export const MAX_ENCRYPTION_CONTEXT_BYTES = 8192;

// A lone UTF-16 surrogate has no UTF-8 form; Buffer.from would turn it into U+FFFD, so two
// different strings would encode alike. In a /u regex a class of surrogates matches only lone ones.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Throws INVALID_ARGUMENT naming `field` when a key is empty, a key or value is not well-formed
 * Unicode, or the canonical encoding exceeds MAX_ENCRYPTION_CONTEXT_BYTES. Messages name no
 * key or value.
 */
export function validateEncryptionContext(context: EncryptionContext, field: string): void {
  let size = 4;
  for (const [key, value] of Object.entries(context)) {
    if (key.length === 0) throw invalidArgument(field, "keys must not be empty");
    if (typeof value !== "string") throw invalidArgument(field, "values must be strings");
    if (LONE_SURROGATE.test(key) || LONE_SURROGATE.test(value)) {
      throw invalidArgument(field, "keys and values must be valid Unicode text");
    }
    size += 8 + Buffer.byteLength(key, "utf8") + Buffer.byteLength(value, "utf8");
  }
  if (size > MAX_ENCRYPTION_CONTEXT_BYTES) {
    throw invalidArgument(
      field,
      `the encoded encryption context is ${size} bytes, more than the limit of ${MAX_ENCRYPTION_CONTEXT_BYTES} bytes`,
    );
  }
}

/**
 * u32 BE count ‖ for each entry sorted bytewise by its key's UTF-8:
 * u32 BE key length ‖ key UTF-8 ‖ u32 BE value length ‖ value UTF-8.
 */
export function canonicalEncryptionContext(context: EncryptionContext): Buffer {
  return prefixedCanonicalEncryptionContext(0, context);
}

const EMPTY_CONTEXT_LENGTH = 4;

/**
 * The canonical encoding written after `prefixLength` bytes left for the caller to fill (the
 * ciphertext header, so the AAD is built in one allocation). The prefix is not initialised.
 */
export function prefixedCanonicalEncryptionContext(prefixLength: number, context: EncryptionContext): Buffer {
  const keys = Object.keys(context);
  if (keys.length === 0) {
    const out = Buffer.allocUnsafe(prefixLength + EMPTY_CONTEXT_LENGTH);
    out.writeUInt32BE(0, prefixLength);
    return out;
  }
  const entries: Array<{ key: Buffer; value: Buffer }> = [];
  let size = prefixLength + 4;
  for (const key of keys) {
    const entry = { key: Buffer.from(key, "utf8"), value: Buffer.from(context[key] as string, "utf8") };
    size += 8 + entry.key.length + entry.value.length;
    entries.push(entry);
  }
  // Bytewise order of UTF-8 equals code point order; JS string order (UTF-16 units) does not.
  if (entries.length > 1) entries.sort((a, b) => Buffer.compare(a.key, b.key));
  const out = Buffer.allocUnsafe(size);
  let offset = out.writeUInt32BE(entries.length, prefixLength);
  for (const { key, value } of entries) {
    offset = out.writeUInt32BE(key.length, offset);
    offset += key.copy(out, offset);
    offset = out.writeUInt32BE(value.length, offset);
    offset += value.copy(out, offset);
  }
  return out;
}
