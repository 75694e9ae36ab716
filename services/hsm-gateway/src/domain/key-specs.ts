// What the gateway makes inside the token: the kinds of key, their templates (sensitive, never
// extractable, a token object labelled and id'd with the caller's key id) and their usages.
import pkcs11js from "pkcs11js";

export type KeySpec = "AES_256" | "RSA_2048" | "RSA_3072" | "RSA_4096" | "EC_P256" | "EC_P384";
export type KeyUsage = "ENCRYPT_DECRYPT" | "SIGN_VERIFY" | "WRAP_UNWRAP";

/** DER-encoded named-curve OIDs (CKA_EC_PARAMS). */
export const CURVES = {
  EC_P256: { params: Buffer.from("06082a8648ce3d030107", "hex"), jwkCurve: "P-256", fieldBytes: 32 },
  EC_P384: { params: Buffer.from("06052b81040022", "hex"), jwkCurve: "P-384", fieldBytes: 48 },
} as const;

export const RSA_BITS = { RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096 } as const;

/** A key id: letters, digits and . _ - : / (1 to 64). It is the object's CKA_ID (UTF-8) and CKA_LABEL. */
export const KEY_ID = /^[A-Za-z0-9._:/-]{1,64}$/;

export function isSymmetric(spec: KeySpec): boolean {
  return spec === "AES_256";
}

export function usageFits(spec: KeySpec, usage: KeyUsage): boolean {
  return isSymmetric(spec) ? usage !== "SIGN_VERIFY" : usage === "SIGN_VERIFY";
}

type Template = pkcs11js.Template;

function identity(keyId: string): Template {
  return [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: keyId },
    { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, "utf8") },
  ];
}

/** The private, never-leaving-the-token half: sensitive, not extractable, not modifiable. */
function guarded(): Template {
  return [
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: false },
  ];
}

export function secretKeyTemplate(keyId: string, usage: KeyUsage): Template {
  const encrypt = usage === "ENCRYPT_DECRYPT";
  const wrap = usage === "WRAP_UNWRAP";
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    ...identity(keyId),
    ...guarded(),
    { type: pkcs11js.CKA_ENCRYPT, value: encrypt },
    { type: pkcs11js.CKA_DECRYPT, value: encrypt },
    { type: pkcs11js.CKA_WRAP, value: wrap },
    { type: pkcs11js.CKA_UNWRAP, value: wrap },
    { type: pkcs11js.CKA_SIGN, value: false },
    { type: pkcs11js.CKA_VERIFY, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ];
}

export interface KeyPairTemplates {
  readonly mechanism: pkcs11js.Mechanism;
  readonly publicKey: Template;
  readonly privateKey: Template;
}

export function keyPairTemplates(keyId: string, spec: Exclude<KeySpec, "AES_256">): KeyPairTemplates {
  const publicCommon: Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    ...identity(keyId),
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_VERIFY, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: false },
  ];
  const privateCommon: Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    ...identity(keyId),
    ...guarded(),
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ];
  if (spec === "EC_P256" || spec === "EC_P384") {
    return {
      mechanism: { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      publicKey: [...publicCommon, { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC }, { type: pkcs11js.CKA_EC_PARAMS, value: CURVES[spec].params }],
      privateKey: [...privateCommon, { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC }],
    };
  }
  return {
    mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
    publicKey: [
      ...publicCommon,
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      { type: pkcs11js.CKA_MODULUS_BITS, value: RSA_BITS[spec] },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
    ],
    privateKey: [...privateCommon, { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA }],
  };
}

/**
 * An AES-256 key unwrapped into the token for BYOK: as guarded as a generated one (its length
 * comes from the material; SoftHSMv2 refuses CKA_MODIFIABLE in an unwrap template as read-only).
 */
export function importedSecretKeyTemplate(keyId: string): Template {
  return secretKeyTemplate(keyId, "ENCRYPT_DECRYPT").filter((a) => a.type !== pkcs11js.CKA_VALUE_LEN && a.type !== pkcs11js.CKA_MODIFIABLE);
}

/**
 * An AES key unwrapped only to hand its material back (root-key use): a session object, not
 * sensitive and extractable so its value can be read, destroyed right after.
 */
export function transientSecretTemplate(): Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: false },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  ];
}
