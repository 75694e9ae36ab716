// Generic secrets rotate through the owner's RotationHandler: a gRPC service called with each
// step. The handler calls secrets-service back with its own credentials (PutSecretValue with
// PENDING, UpdateSecretVersionStage to finish), exactly as an AWS rotation function does.
import { createClient, type Transport } from "@connectrpc/connect";
import { RotationHandler, type RotationStep } from "@keyhold/proto";
import { invalidArgument } from "@keyhold/server-kit";
import type { SecretRecord } from "../../store/records.ts";
import type { RotationSteps } from "./rotator.ts";

/** Makes (or reuses) a transport to a handler's base URL. */
export type HandlerTransports = (baseUrl: string) => Transport;

export function validateHandlerUrl(value: string, field: string): string {
  if (value.length > 2048) throw invalidArgument(field, "is too long");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidArgument(field, "must be an http:// or https:// URL");
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "" || url.username !== "" || url.password !== "") {
    throw invalidArgument(field, "must be an http:// or https:// URL with a host and no credentials");
  }
  return value;
}

export class RemoteRotationSteps implements RotationSteps {
  private readonly transports: HandlerTransports;

  constructor(transports: HandlerTransports) {
    this.transports = transports;
  }

  async run(step: RotationStep, secret: SecretRecord, secretKrn: string, versionId: string, signal: AbortSignal): Promise<void> {
    const client = createClient(RotationHandler, this.transports(secret.rotationHandlerUrl));
    await client.rotateSecretStep({ secretId: secretKrn, versionId, step }, { signal });
  }
}
