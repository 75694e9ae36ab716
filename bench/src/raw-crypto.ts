// Single-core crypto throughput: how many signatures one thread of this process makes per second
// with node:crypto alone (no RPC, no pool). Sign targets are reported as a ratio to it, so the
// reader sees what the service adds on top of the cryptography and what its worker pool gains.
import { generateKeyPairSync, sign, constants, type KeyObject } from "node:crypto";
import type { SignTargetId } from "./targets.ts";

export interface RawSignRate {
  readonly target: SignTargetId;
  readonly signaturesPerSecond: number;
}

function signer(target: SignTargetId): (message: Uint8Array) => Buffer {
  if (target === "sign-ecdsa-p256") {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    return (message) => sign("sha256", message, { key: privateKey, dsaEncoding: "der" });
  }
  const { privateKey }: { privateKey: KeyObject } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return (message) => sign("sha256", message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
}

/** Signs `message` in a loop on this thread for about `seconds` (after a short warm-up). */
export function measureSingleCoreSignRate(target: SignTargetId, message: Uint8Array, seconds: number): RawSignRate {
  const run = signer(target);
  const warmUntil = performance.now() + 200;
  while (performance.now() < warmUntil) run(message);
  const started = performance.now();
  const until = started + seconds * 1000;
  let count = 0;
  while (performance.now() < until) {
    run(message);
    count++;
  }
  return { target, signaturesPerSecond: count / ((performance.now() - started) / 1000) };
}
