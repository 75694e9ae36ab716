// Key material for key versions: generated and wrapped by the root key on creation, unwrapped
// on first use and kept in a bounded cache (zeroed on eviction) so hot calls make no root-key
// round trip. Concurrent misses for one version share a single unwrap.
import type { KeyVersionRecord } from "../store/records.ts";
import type { KeyMaterialCache } from "./material-cache.ts";
import type { RootKeyProvider } from "./root-key.ts";

export const SYMMETRIC_MATERIAL_BYTES = 32;

/** The additional data that binds wrapped material to exactly one key version. */
export function wrapAad(accountId: string, keyId: string, versionId: string): Buffer {
  return Buffer.from(`keyhold/key-material/v1\n${accountId}\n${keyId}\n${versionId}`, "utf8");
}

export class KeyMaterials {
  private readonly rootKey: RootKeyProvider;
  private readonly cache: KeyMaterialCache;
  private readonly random: (size: number) => Buffer;
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(rootKey: RootKeyProvider, cache: KeyMaterialCache, random: (size: number) => Buffer) {
    this.rootKey = rootKey;
    this.cache = cache;
    this.random = random;
  }

  /** New random material (default 32 bytes), wrapped for storage; the clear copy goes into the cache only. */
  async generateSymmetric(accountId: string, keyId: string, versionId: string, bytes = SYMMETRIC_MATERIAL_BYTES): Promise<Buffer> {
    const material = this.random(bytes);
    try {
      return await this.adopt(accountId, keyId, versionId, material);
    } finally {
      material.fill(0);
    }
  }

  /**
   * Wraps material made elsewhere (a private key, imported material) for storage and caches a
   * copy. The caller still owns, and zeroes, `material`.
   */
  async adopt(accountId: string, keyId: string, versionId: string, material: Buffer): Promise<Buffer> {
    const wrapped = await this.rootKey.wrap(material, wrapAad(accountId, keyId, versionId));
    this.cache.set(versionId, Buffer.from(material));
    return wrapped;
  }

  /**
   * Runs `use` with the clear material of a version, synchronously once it is in memory (so a
   * cache eviction cannot zero it mid-use). `use` must not keep or zero the buffer.
   */
  withSymmetric<T>(version: KeyVersionRecord, use: (material: Buffer) => T): T | Promise<T> {
    return this.withMaterial(version, use);
  }

  /** withSymmetric for any kind of material (HMAC keys, PKCS#8 private keys). */
  withMaterial<T>(version: KeyVersionRecord, use: (material: Buffer) => T): T | Promise<T> {
    const cached = this.cache.get(version.versionId);
    if (cached !== undefined) return use(cached);
    return this.loadThen(version, use);
  }

  private async loadThen<T>(version: KeyVersionRecord, use: (material: Buffer) => T): Promise<T> {
    for (;;) {
      await this.load(version);
      const cached = this.cache.get(version.versionId);
      if (cached !== undefined) return use(cached);
    }
  }

  private load(version: KeyVersionRecord): Promise<void> {
    let pending = this.inFlight.get(version.versionId);
    if (pending === undefined) {
      pending = this.unwrap(version).finally(() => this.inFlight.delete(version.versionId));
      this.inFlight.set(version.versionId, pending);
    }
    return pending;
  }

  forget(versionId: string): void {
    this.cache.delete(versionId);
  }

  private async unwrap(version: KeyVersionRecord): Promise<void> {
    const material = await this.rootKey.unwrap(version.wrappedMaterial, wrapAad(version.accountId, version.keyId, version.versionId));
    this.cache.set(version.versionId, material);
  }
}
