// New key material for a key version, by key spec, wrapped by the root key for storage.
import type { KeySpec } from "@keyhold/proto";
import { KeyholdError } from "@keyhold/server-kit";
import type { KeyMaterials } from "./key-materials.ts";
import { keyPairSpecOf } from "./asymmetric-operations.ts";
import { specInfo } from "./key-specs.ts";
import type { PrivateKeyPool } from "./private-key-pool.ts";

export interface GenerationDeps {
  readonly materials: KeyMaterials;
  readonly privateKeys: PrivateKeyPool;
}

export interface GeneratedMaterial {
  /** The material wrapped by the root key. */
  readonly wrapped: Buffer;
  /** Asymmetric keys: the DER SubjectPublicKeyInfo. */
  readonly publicKey: Buffer | undefined;
}

export async function generateMaterial(deps: GenerationDeps, keySpec: KeySpec, accountId: string, keyId: string, versionId: string): Promise<GeneratedMaterial> {
  const spec = specInfo(keySpec);
  if (spec.materialBytes !== undefined) {
    return { wrapped: await deps.materials.generateSymmetric(accountId, keyId, versionId, spec.materialBytes), publicKey: undefined };
  }
  const pairSpec = keyPairSpecOf(keySpec);
  if (pairSpec === undefined) throw new KeyholdError("INTERNAL", "no generator for this key spec");
  // Key pairs are generated in a worker thread (RSA takes long); the private key is wrapped
  // for storage and cached, and this copy zeroed.
  const pair = await deps.privateKeys.generateKeyPair(pairSpec);
  try {
    return { wrapped: await deps.materials.adopt(accountId, keyId, versionId, pair.privateKey), publicKey: pair.publicKey };
  } finally {
    pair.privateKey.fill(0);
  }
}
