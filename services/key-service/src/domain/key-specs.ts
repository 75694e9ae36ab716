// What each key spec is: its usages, how its material is made, and the algorithms it offers.
import { KeySpec, KeyUsage, MacAlgorithm } from "@keyhold/proto";
import { invalidArgument } from "@keyhold/server-kit";

export type SpecFamily = "symmetric" | "hmac" | "rsa" | "ec" | "ed25519";

export interface SpecInfo {
  readonly family: SpecFamily;
  readonly usages: readonly KeyUsage[];
  /** The usage when CreateKey names none. */
  readonly defaultUsage: KeyUsage;
  /** Symmetric and HMAC: bytes of random material. */
  readonly materialBytes?: number;
  /** HMAC: the one MAC algorithm and its Node digest name. */
  readonly mac?: { readonly algorithm: MacAlgorithm; readonly digest: string };
  /** RSA: modulus bits. EC: the OpenSSL curve name. */
  readonly rsaBits?: number;
  readonly curve?: string;
}

const ENCRYPT = [KeyUsage.ENCRYPT_DECRYPT] as const;
const SIGN = [KeyUsage.SIGN_VERIFY] as const;
const RSA_USAGES = [KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY] as const;
const MAC = [KeyUsage.GENERATE_VERIFY_MAC] as const;

const SPECS: ReadonlyMap<KeySpec, SpecInfo> = new Map<KeySpec, SpecInfo>([
  [KeySpec.SYMMETRIC_DEFAULT, { family: "symmetric", usages: ENCRYPT, defaultUsage: KeyUsage.ENCRYPT_DECRYPT, materialBytes: 32 }],
  [KeySpec.HMAC_256, { family: "hmac", usages: MAC, defaultUsage: KeyUsage.GENERATE_VERIFY_MAC, materialBytes: 32, mac: { algorithm: MacAlgorithm.HMAC_SHA_256, digest: "sha256" } }],
  [KeySpec.HMAC_384, { family: "hmac", usages: MAC, defaultUsage: KeyUsage.GENERATE_VERIFY_MAC, materialBytes: 48, mac: { algorithm: MacAlgorithm.HMAC_SHA_384, digest: "sha384" } }],
  [KeySpec.HMAC_512, { family: "hmac", usages: MAC, defaultUsage: KeyUsage.GENERATE_VERIFY_MAC, materialBytes: 64, mac: { algorithm: MacAlgorithm.HMAC_SHA_512, digest: "sha512" } }],
  [KeySpec.RSA_2048, { family: "rsa", usages: RSA_USAGES, defaultUsage: KeyUsage.ENCRYPT_DECRYPT, rsaBits: 2048 }],
  [KeySpec.RSA_3072, { family: "rsa", usages: RSA_USAGES, defaultUsage: KeyUsage.ENCRYPT_DECRYPT, rsaBits: 3072 }],
  [KeySpec.RSA_4096, { family: "rsa", usages: RSA_USAGES, defaultUsage: KeyUsage.ENCRYPT_DECRYPT, rsaBits: 4096 }],
  [KeySpec.EC_P256, { family: "ec", usages: SIGN, defaultUsage: KeyUsage.SIGN_VERIFY, curve: "prime256v1" }],
  [KeySpec.EC_P384, { family: "ec", usages: SIGN, defaultUsage: KeyUsage.SIGN_VERIFY, curve: "secp384r1" }],
  [KeySpec.EC_SECG_P256K1, { family: "ec", usages: SIGN, defaultUsage: KeyUsage.SIGN_VERIFY, curve: "secp256k1" }],
  [KeySpec.ED25519, { family: "ed25519", usages: SIGN, defaultUsage: KeyUsage.SIGN_VERIFY }],
]);

/** The spec's description; INVALID_ARGUMENT naming `field` for specs this server does not offer. */
export function specInfo(spec: KeySpec, field = "key_spec"): SpecInfo {
  const info = SPECS.get(spec);
  if (info !== undefined) return info;
  if (spec === KeySpec.SM2 || spec === KeySpec.SM4) {
    throw invalidArgument(
      field,
      "SM2 and SM4 keys are not offered: the runtime's OpenSSL exposes the SM2 curve only for ECDSA, not the SM2 signature and encryption schemes (GB/T 32918)",
    );
  }
  throw invalidArgument(field, "unknown key spec");
}

/** The usage a CreateKey request gets for `spec` (its default when unset); refuses the rest. */
export function usageFor(spec: KeySpec, requested: KeyUsage, field = "key_usage"): KeyUsage {
  const info = specInfo(spec);
  if (requested === KeyUsage.UNSPECIFIED) return info.defaultUsage;
  if (!info.usages.includes(requested)) throw invalidArgument(field, `the key spec allows usage ${info.usages.map((u) => KeyUsage[u]).join(" or ")}`);
  return requested;
}

export function isAsymmetric(spec: KeySpec): boolean {
  const family = SPECS.get(spec)?.family;
  return family === "rsa" || family === "ec" || family === "ed25519";
}
