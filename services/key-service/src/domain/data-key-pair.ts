// GenerateDataKeyPair(WithoutPlaintext): a fresh key pair, made in the PrivateKeyPool, whose
// private key (PKCS#8 DER) is sealed under a symmetric key like any data key.
import { DataKeyPairSpec, KeySpec, KeyUsage } from "@keyhold/proto";
import { invalidArgument, type CallContext } from "@keyhold/server-kit";
import type { KeyRecord } from "../store/records.ts";
import type { KeyPairSpec } from "./asymmetric-engine.ts";
import type { EncryptionContext } from "./encryption-context.ts";
import { assertUsableFor } from "./key-resolver.ts";
import type { PrivateKeyPool } from "./private-key-pool.ts";
import { sealUnderKey, type Sealed, type SymmetricDeps } from "./symmetric-operations.ts";

const PAIR_SPECS: ReadonlyMap<DataKeyPairSpec, KeyPairSpec> = new Map<DataKeyPairSpec, KeyPairSpec>([
  [DataKeyPairSpec.RSA_2048, { type: "rsa", bits: 2048 }],
  [DataKeyPairSpec.RSA_3072, { type: "rsa", bits: 3072 }],
  [DataKeyPairSpec.RSA_4096, { type: "rsa", bits: 4096 }],
  [DataKeyPairSpec.ECC_NIST_P256, { type: "ec", curve: "prime256v1" }],
  [DataKeyPairSpec.ECC_NIST_P384, { type: "ec", curve: "secp384r1" }],
  [DataKeyPairSpec.ECC_NIST_P521, { type: "ec", curve: "secp521r1" }],
  [DataKeyPairSpec.ECC_SECG_P256K1, { type: "ec", curve: "secp256k1" }],
]);

export function dataKeyPairSpec(spec: DataKeyPairSpec, field: string): KeyPairSpec {
  if (spec === DataKeyPairSpec.UNSPECIFIED) throw invalidArgument(field, "is required");
  const pair = PAIR_SPECS.get(spec);
  if (pair === undefined) throw invalidArgument(field, "unknown key pair spec");
  return pair;
}

export interface DataKeyPair {
  readonly sealed: Sealed;
  /** PKCS#8 DER; the caller zeroes it once sent (or at once when not returned). */
  readonly privateKey: Buffer;
  readonly publicKey: Buffer;
}

export async function makeDataKeyPair(
  deps: SymmetricDeps & { readonly privateKeys: PrivateKeyPool },
  key: KeyRecord,
  spec: KeyPairSpec,
  context: EncryptionContext,
  call?: CallContext,
): Promise<DataKeyPair> {
  // Check the key first: no pair is generated for a key that cannot seal it.
  assertUsableFor(key, KeyUsage.ENCRYPT_DECRYPT, "key_id", deps.clock.now(), [KeySpec.SYMMETRIC_DEFAULT]);
  const pair = await deps.privateKeys.generateKeyPair(spec);
  try {
    const sealed = await sealUnderKey(deps, key, pair.privateKey, context, "key_id", call);
    return { sealed, privateKey: pair.privateKey, publicKey: pair.publicKey };
  } catch (error) {
    pair.privateKey.fill(0);
    throw error;
  }
}
