// What is measured: each target is one RPC with one request, sent by ghz.
import { join } from "node:path";
import type { ProtoSource } from "./ghz.ts";
import type { CryptoMaterial } from "./keyhold.ts";

export type TargetId = "bare-echo" | "kit-echo" | "encrypt" | "decrypt" | "generate-data-key";

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

/** The label crypto targets are reported under before (or instead of) being run. */
export const CRYPTO_TARGET_LABELS: Readonly<Record<"encrypt" | "decrypt" | "generate-data-key", string>> = {
  encrypt: "key-service Encrypt 1 KiB",
  decrypt: "key-service Decrypt 1 KiB",
  "generate-data-key": "key-service GenerateDataKey",
};

export function cryptoTargets(material: CryptoMaterial): Target[] {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  return [
    {
      id: "encrypt",
      label: CRYPTO_TARGET_LABELS.encrypt,
      call: "keyhold.key.v1.CryptoService/Encrypt",
      data: { key_id: material.keyId, plaintext: base64(material.plaintext) },
      proto: undefined,
    },
    {
      id: "decrypt",
      label: CRYPTO_TARGET_LABELS.decrypt,
      call: "keyhold.key.v1.CryptoService/Decrypt",
      data: { ciphertext_blob: base64(material.ciphertextBlob) },
      proto: undefined,
    },
    {
      id: "generate-data-key",
      label: CRYPTO_TARGET_LABELS["generate-data-key"],
      call: "keyhold.key.v1.CryptoService/GenerateDataKey",
      data: { key_id: material.keyId },
      proto: undefined,
    },
  ];
}
