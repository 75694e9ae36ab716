// What is measured: each target is one RPC with one request, sent by ghz.
import { join } from "node:path";
import type { ProtoSource } from "./ghz.ts";
import type { CryptoMaterial, SigningMaterial } from "./keyhold.ts";

export type CryptoTargetKind = "encrypt" | "decrypt" | "generate-data-key" | "get-secret-value";
/** The crypto targets against the Keyhold process started with KEYHOLD_AUDIT=off. */
export type UnauditedTargetId = `${CryptoTargetKind}-audit-off`;
/** Sign with an asymmetric key (issue 5), against the audited process only. */
export type SignTargetId = "sign-ecdsa-p256" | "sign-rsa-2048";
/** Encrypt with a key of origin HSM (issue 6), against the audited process, beside the software key's. */
export type HsmTargetId = "encrypt-hsm";
export type TargetId = "bare-echo" | "kit-echo" | CryptoTargetKind | UnauditedTargetId | SignTargetId | HsmTargetId;

/** Whether the Keyhold process under test audits its calls (KEYHOLD_AUDIT; off: benchmarking only). */
export type AuditMode = "on" | "off";

export interface Target {
  readonly id: TargetId;
  /** How the report names it. */
  readonly label: string;
  readonly call: string;
  /** The request, as protobuf JSON. */
  readonly data: unknown;
  /** undefined: the server serves reflection. */
  readonly proto: ProtoSource | undefined;
}

/** Plaintext size for Encrypt (and the Decrypt ciphertext). */
export const PLAINTEXT_BYTES = 1024;

const ECHO_CALL = "keyhold.bench.v1.EchoService/Echo";
/** The empty message: what the RPC machinery costs, with no payload to copy. */
const EMPTY_ECHO = {};

export function bareEchoTarget(repoRoot: string): Target {
  const protoRoot = join(repoRoot, "proto");
  return {
    id: "bare-echo",
    label: "bare node:http2 echo",
    call: ECHO_CALL,
    data: EMPTY_ECHO,
    proto: { file: join(protoRoot, "keyhold", "bench", "v1", "echo.proto"), importPath: protoRoot },
  };
}

export function kitEchoTarget(): Target {
  return { id: "kit-echo", label: "server-kit echo", call: ECHO_CALL, data: EMPTY_ECHO, proto: undefined };
}

/** The label crypto targets (against the audited process) are reported under before (or instead of) being run. */
export const CRYPTO_TARGET_LABELS: Readonly<Record<CryptoTargetKind, string>> = {
  encrypt: "key-service Encrypt 1 KiB",
  decrypt: "key-service Decrypt 1 KiB",
  "generate-data-key": "key-service GenerateDataKey",
  "get-secret-value": "secrets-service GetSecretValue 1 KiB",
};

/** The labels of the crypto targets against the process with the given audit mode. */
export function cryptoTargetLabels(audit: AuditMode): string[] {
  return Object.values(CRYPTO_TARGET_LABELS).map((label) => labelFor(label, audit));
}

function labelFor(label: string, audit: AuditMode): string {
  return audit === "on" ? label : `${label} (audit off)`;
}

function idFor(kind: CryptoTargetKind, audit: AuditMode): TargetId {
  return audit === "on" ? kind : `${kind}-audit-off`;
}

export function cryptoTargets(material: CryptoMaterial, audit: AuditMode): Target[] {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  return [
    {
      id: idFor("encrypt", audit),
      label: labelFor(CRYPTO_TARGET_LABELS.encrypt, audit),
      call: "keyhold.key.v1.CryptoService/Encrypt",
      data: { key_id: material.keyId, plaintext: base64(material.plaintext) },
      proto: undefined,
    },
    {
      id: idFor("decrypt", audit),
      label: labelFor(CRYPTO_TARGET_LABELS.decrypt, audit),
      call: "keyhold.key.v1.CryptoService/Decrypt",
      data: { ciphertext_blob: base64(material.ciphertextBlob) },
      proto: undefined,
    },
    {
      id: idFor("generate-data-key", audit),
      label: labelFor(CRYPTO_TARGET_LABELS["generate-data-key"], audit),
      call: "keyhold.key.v1.CryptoService/GenerateDataKey",
      data: { key_id: material.keyId },
      proto: undefined,
    },
    {
      // From the service, no client cache (issue 7: at least as fast as Encrypt).
      id: idFor("get-secret-value", audit),
      label: labelFor(CRYPTO_TARGET_LABELS["get-secret-value"], audit),
      call: "keyhold.secrets.v1.SecretsService/GetSecretValue",
      data: { secret_id: material.secretName },
      proto: undefined,
    },
  ];
}

/** The message Sign targets sign (RAW: the server hashes it). */
export const SIGN_MESSAGE_BYTES = 256;

export const SIGN_TARGET_LABELS: Readonly<Record<SignTargetId, string>> = {
  "sign-ecdsa-p256": "key-service Sign ECDSA P-256",
  "sign-rsa-2048": "key-service Sign RSA-2048 PSS",
};

/** Sign ECDSA_SHA_256 with an EC_P256 key and RSASSA_PSS_SHA_256 with an RSA_2048 key. */
export function signTargets(material: SigningMaterial): Target[] {
  const message = Buffer.from(material.message).toString("base64");
  return [
    {
      id: "sign-ecdsa-p256",
      label: SIGN_TARGET_LABELS["sign-ecdsa-p256"],
      call: "keyhold.key.v1.CryptoService/Sign",
      data: { key_id: material.ecP256KeyId, message, message_type: "MESSAGE_TYPE_RAW", signing_algorithm: "SIGNING_ALGORITHM_ECDSA_SHA_256" },
      proto: undefined,
    },
    {
      id: "sign-rsa-2048",
      label: SIGN_TARGET_LABELS["sign-rsa-2048"],
      call: "keyhold.key.v1.CryptoService/Sign",
      data: { key_id: material.rsa2048KeyId, message, message_type: "MESSAGE_TYPE_RAW", signing_algorithm: "SIGNING_ALGORITHM_RSASSA_PSS_SHA_256" },
      proto: undefined,
    },
  ];
}

export const HSM_ENCRYPT_LABEL = "key-service Encrypt 1 KiB (HSM key)";

/**
 * The AAD key-service hands the token for an Encrypt without encryption context: the 18-byte
 * ciphertext header and the 4-byte encoding of the empty context (docs/ciphertext.md).
 */
export const HSM_ENCRYPT_AAD_BYTES = 22;

/** Encrypt the same plaintext as the software-key target, under a key with origin HSM. */
export function hsmEncryptTarget(keyId: string, plaintext: Uint8Array): Target {
  return {
    id: "encrypt-hsm",
    label: HSM_ENCRYPT_LABEL,
    call: "keyhold.key.v1.CryptoService/Encrypt",
    data: { key_id: keyId, plaintext: Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength).toString("base64") },
    proto: undefined,
  };
}
