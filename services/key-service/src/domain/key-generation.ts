// New key material for a key version, by key spec, wrapped by the root key for storage.
import type { KeySpec } from "@keyhold/proto";
import { KeyholdError } from "@keyhold/server-kit";
import type { KeyMaterials } from "./key-materials.ts";
import { specInfo } from "./key-specs.ts";

export interface GenerationDeps {
  readonly materials: KeyMaterials;
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
  throw new KeyholdError("INTERNAL", "no generator for this key spec");
}
