// DER SubjectPublicKeyInfo from a public key object's attributes (RSA modulus and exponent, or
// EC parameters and point), through node:crypto's JWK import.
import { createPublicKey } from "node:crypto";
import { CURVES } from "./key-specs.ts";

export function rsaSpki(modulus: Buffer, exponent: Buffer): Buffer {
  return createPublicKey({ key: { kty: "RSA", n: modulus.toString("base64url"), e: exponent.toString("base64url") }, format: "jwk" }).export({ type: "spki", format: "der" });
}

/** CKA_EC_POINT is a DER OCTET STRING around the uncompressed point (some modules give the bare point). */
export function ecSpki(curve: keyof typeof CURVES, ecPoint: Buffer): Buffer {
  const { jwkCurve, fieldBytes } = CURVES[curve];
  const pointLength = 1 + 2 * fieldBytes;
  const point = ecPoint.length === pointLength ? ecPoint : ecPoint.subarray(ecPoint.length - pointLength);
  if (point[0] !== 0x04) throw new Error("unsupported EC point encoding");
  const x = point.subarray(1, 1 + fieldBytes).toString("base64url");
  const y = point.subarray(1 + fieldBytes).toString("base64url");
  return createPublicKey({ key: { kty: "EC", crv: jwkCurve, x, y }, format: "jwk" }).export({ type: "spki", format: "der" });
}
