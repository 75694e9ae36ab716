// Envelope encryption of secret values: a fresh AES-256 data key from key-service per version
// (under the secret's key, bound to the secret's krn and version id by the encryption context),
// the value sealed with AES-256-GCM under it, and the data key zeroed at once.
//
// Sealed value: 0x01 ‖ IV (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes). AAD binds the format,
// the secret krn, the version id and the value kind, so a sealed value moved to another secret,
// version or kind does not open.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { KeyholdError, type Principal } from "@keyhold/server-kit";
import type { KeyPeer } from "./key-peer.ts";
import type { ValueKind } from "../store/records.ts";

const FORMAT = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function encryptionContextFor(secretKrn: string, versionId: string): Record<string, string> {
  return { SecretKrn: secretKrn, SecretVersionId: versionId };
}

function aad(secretKrn: string, versionId: string, kind: ValueKind): Buffer {
  return Buffer.from(`keyhold-secrets-v1\0${secretKrn}\0${versionId}\0${kind}`, "utf8");
}

export interface SealedValue {
  readonly keyKrn: string;
  readonly encryptedDataKey: Buffer;
  readonly sealedValue: Buffer;
}

/** What opening a version needs. */
export interface SealedVersion {
  readonly versionId: string;
  readonly keyKrn: string;
  readonly encryptedDataKey: Buffer;
  readonly sealedValue: Buffer;
  readonly valueKind: ValueKind;
}

export class Envelope {
  private readonly keys: KeyPeer;

  constructor(keys: KeyPeer) {
    this.keys = keys;
  }

  async seal(actor: Principal, keyRef: string, secretKrn: string, versionId: string, kind: ValueKind, value: Uint8Array, field: string): Promise<SealedValue> {
    const dataKey = await this.keys.generateDataKey(actor, keyRef, encryptionContextFor(secretKrn, versionId), field);
    try {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", dataKey.plaintext, iv);
      cipher.setAAD(aad(secretKrn, versionId, kind));
      const body = Buffer.concat([cipher.update(value), cipher.final()]);
      return {
        keyKrn: dataKey.keyKrn,
        encryptedDataKey: dataKey.ciphertextBlob,
        sealedValue: Buffer.concat([Buffer.from([FORMAT]), iv, body, cipher.getAuthTag()]),
      };
    } finally {
      dataKey.plaintext.fill(0);
    }
  }

  /** The value; the caller zeroes it when done. */
  async open(actor: Principal, secretKrn: string, version: SealedVersion, field: string): Promise<Buffer> {
    const dataKey = await this.decryptDataKey(actor, secretKrn, version, field);
    try {
      return this.openWith(dataKey, secretKrn, version);
    } finally {
      dataKey.fill(0);
    }
  }

  /** The version's plaintext data key, from key-service (the caller zeroes it). */
  decryptDataKey(actor: Principal, secretKrn: string, version: SealedVersion, field: string): Promise<Buffer> {
    return this.keys.decrypt(actor, version.keyKrn, version.encryptedDataKey, encryptionContextFor(secretKrn, version.versionId), field);
  }

  /** The value, opened with the version's plaintext data key (the caller zeroes both). */
  openWith(dataKey: Buffer, secretKrn: string, version: SealedVersion): Buffer {
    const sealed = version.sealedValue;
    if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== FORMAT) throw new KeyholdError("INTERNAL", "stored secret value has an unknown format");
    try {
      const decipher = createDecipheriv("aes-256-gcm", dataKey, sealed.subarray(1, 1 + IV_BYTES));
      decipher.setAAD(aad(secretKrn, version.versionId, version.valueKind));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch (error) {
      throw new KeyholdError("INTERNAL", "stored secret value does not open", { cause: error });
    }
  }
}
