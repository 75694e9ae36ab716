// Decoding Keyhold's error model on the client side: a status code, a message, and exactly one
// google.rpc.ErrorInfo (domain keyhold.dev) — from the gRPC `grpc-status-details-bin` trailer
// (grpc-js) or from a ConnectError's details (Connect, gRPC-Web, Connect's gRPC transport).
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { ErrorInfoSchema, StatusSchema } from "@keyhold/proto";

export const ERROR_DOMAIN = "keyhold.dev";

/** An error as a client sees it, with its ErrorInfo unpacked. */
export interface DecodedError {
  /** The numeric status code (gRPC and Connect share the numbering). */
  readonly code: number;
  readonly message: string;
  readonly reason: string;
  readonly domain: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface ExpectedError {
  readonly code: number;
  readonly reason: string;
  /** ErrorInfo metadata "field"; `null` asserts there is none. */
  readonly field?: string | null;
  /** The exact message, or a pattern it must match. */
  readonly message?: string | RegExp;
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && "code" in error && typeof error.code === "number" && "metadata" in error && error.metadata instanceof grpc.Metadata;
}

/**
 * Decodes a grpc-js ServiceError: the grpc-status-details-bin trailer must hold a
 * google.rpc.Status that agrees with the call's status and carries one ErrorInfo.
 */
export function decodeGrpcError(error: unknown): DecodedError {
  if (!isServiceError(error)) throw new assert.AssertionError({ message: `expected a gRPC ServiceError, got ${String(error)}`, actual: error });
  const bins = error.metadata.get("grpc-status-details-bin");
  assert.equal(bins.length, 1, `one grpc-status-details-bin trailer (status ${error.code}: ${error.details})`);
  const bin = bins[0];
  assert.ok(Buffer.isBuffer(bin), "grpc-status-details-bin is binary");
  const status = fromBinary(StatusSchema, bin);
  assert.equal(status.code, error.code, "google.rpc.Status.code equals the gRPC status");
  assert.equal(status.message, error.details, "google.rpc.Status.message equals grpc-message");
  assert.equal(status.details.length, 1, "exactly one detail");
  const info = anyUnpack(status.details[0]!, ErrorInfoSchema);
  assert.ok(info !== undefined, `the detail is a google.rpc.ErrorInfo (got ${status.details[0]!.typeUrl})`);
  return { code: error.code, message: error.details, reason: info.reason, domain: info.domain, metadata: info.metadata };
}

/** Decodes an error thrown by a Connect client (any of its transports). */
export function decodeConnectError(error: unknown): DecodedError {
  assert.ok(error instanceof Error, `expected an error, got ${String(error)}`);
  const connectError = ConnectError.from(error);
  const infos = connectError.findDetails(ErrorInfoSchema);
  assert.equal(infos.length, 1, `exactly one ErrorInfo (${Code[connectError.code]}: ${connectError.rawMessage})`);
  const info = infos[0]!;
  return { code: connectError.code, message: connectError.rawMessage, reason: info.reason, domain: info.domain, metadata: info.metadata };
}

export function assertDecodedError(decoded: DecodedError, expected: ExpectedError, label = ""): void {
  const where = label === "" ? "" : `${label}: `;
  assert.equal(decoded.code, expected.code, `${where}status code (${decoded.reason}: ${decoded.message})`);
  assert.equal(decoded.reason, expected.reason, `${where}reason (${decoded.message})`);
  assert.equal(decoded.domain, ERROR_DOMAIN, `${where}domain`);
  if (expected.field === null) assert.equal(decoded.metadata["field"], undefined, `${where}no field`);
  else if (expected.field !== undefined) assert.equal(decoded.metadata["field"], expected.field, `${where}metadata.field (${decoded.message})`);
  if (typeof expected.message === "string") assert.equal(decoded.message, expected.message, `${where}message`);
  else if (expected.message !== undefined) assert.match(decoded.message, expected.message, `${where}message`);
}

async function rejection(promise: Promise<unknown>, label: string): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new assert.AssertionError({ message: `${label === "" ? "call" : label}: expected an error, the call succeeded` });
}

/** Awaits a grpc-js call that must fail as `expected`; returns the decoded error. */
export async function expectGrpcError(promise: Promise<unknown>, expected: ExpectedError, label = ""): Promise<DecodedError> {
  const decoded = decodeGrpcError(await rejection(promise, label));
  assertDecodedError(decoded, expected, label);
  return decoded;
}

/** Awaits a Connect call that must fail as `expected`; returns the decoded error. */
export async function expectConnectError(promise: Promise<unknown>, expected: ExpectedError, label = ""): Promise<DecodedError> {
  const decoded = decodeConnectError(await rejection(promise, label));
  assertDecodedError(decoded, expected, label);
  return decoded;
}
