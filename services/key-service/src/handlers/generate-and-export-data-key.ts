import crypto from "node:crypto";
import { recordAuditDetails } from "@keyhold/audit-client";
import { EncryptionAlgorithm, type GenerateAndExportDataKeyRequestSchema, type GenerateAndExportDataKeyResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { oaepEncrypt } from "../domain/asymmetric-engine.ts";
import { OAEP_ALGORITHMS } from "../domain/asymmetric-operations.ts";
import { dataKeyLength } from "../domain/data-key.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { sealUnderKey } from "../domain/symmetric-operations.ts";
import { encryptionContext } from "./crypto-fields.ts";

const MAX_PUBLIC_KEY_BYTES = 8192;

/** The caller's RSA public key (DER SubjectPublicKeyInfo or PEM, 2048-4096 bits) as DER. */
function exportKey(value: Uint8Array): Buffer {
  const field = "public_key";
  if (value.byteLength === 0) throw invalidArgument(field, "is required");
  if (value.byteLength > MAX_PUBLIC_KEY_BYTES) throw invalidArgument(field, `must be at most ${MAX_PUBLIC_KEY_BYTES} bytes`);
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  let key: crypto.KeyObject;
  try {
    key = bytes.subarray(0, 10).toString("latin1").startsWith("-----")
      ? crypto.createPublicKey({ key: bytes.toString("utf8"), format: "pem" })
      : crypto.createPublicKey({ key: bytes, format: "der", type: "spki" });
  } catch {
    throw invalidArgument(field, "must be an RSA public key: DER SubjectPublicKeyInfo or PEM");
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== "rsa" || bits < 2048 || bits > 4096) throw invalidArgument(field, "must be an RSA public key of 2048 to 4096 bits");
  return key.export({ type: "spki", format: "der" });
}

/**
 * A data key sealed under the key and, for export, under the caller's RSA public key
 * (Alibaba Cloud KMS's GenerateAndExportDataKey). The plaintext is never returned.
 */
export function generateAndExportDataKey(ctx: AppContext): UnaryHandler<typeof GenerateAndExportDataKeyRequestSchema, typeof GenerateAndExportDataKeyResponseSchema> {
  return async (request, call) => {
    const length = dataKeyLength(request.keySpec, request.numberOfBytes);
    const context = encryptionContext(request.encryptionContext, "encryption_context");
    const wrappingAlgorithm = request.wrappingAlgorithm === EncryptionAlgorithm.UNSPECIFIED ? EncryptionAlgorithm.RSAES_OAEP_SHA_256 : request.wrappingAlgorithm;
    const hash = OAEP_ALGORITHMS.get(wrappingAlgorithm);
    if (hash === undefined) throw invalidArgument("wrapping_algorithm", "must be RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256");
    const publicKey = exportKey(request.publicKey);
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GenerateDataKey", { encryptionContext: context });
    const dataKey = ctx.random(length);
    try {
      const sealed = await sealUnderKey(ctx, key, dataKey, context, "key_id", call);
      recordAuditDetails(call, { keyVersionId: sealed.version.versionId });
      return {
        ciphertextBlob: sealed.blob,
        exportEncryptedDataKey: oaepEncrypt(publicKey, hash, dataKey),
        keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
        keyVersionId: sealed.version.versionId,
        wrappingAlgorithm,
      };
    } finally {
      dataKey.fill(0);
    }
  };
}
