// Unwrapped key material kept in memory so hot calls need no root-key round trip. Bounded LRU
// (a Map's insertion order is its recency order); a buffer is zeroed as soon as the cache lets
// go of it.
//
// Ownership: set() hands the buffer to the cache. A buffer from get() still belongs to the
// cache: use it synchronously (before any await, which could let it be evicted and zeroed) and
// never keep or zero it yourself. sealSymmetric/openSymmetric refuse all-zero material, so a
// breach of this rule fails loudly instead of encrypting under a zero key.
export class KeyMaterialCache {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Buffer>();
  #hits = 0;
  #misses = 0;

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError("KeyMaterialCache maxEntries must be a positive integer");
    }
    this.#maxEntries = maxEntries;
  }

  get(versionId: string): Buffer | undefined {
    const material = this.#entries.get(versionId);
    if (material !== undefined) {
      this.#hits++;
      this.#entries.delete(versionId);
      this.#entries.set(versionId, material);
    } else {
      this.#misses++;
    }
    return material;
  }

  set(versionId: string, material: Buffer): void {
    const previous = this.#entries.get(versionId);
    this.#entries.delete(versionId);
    if (previous !== undefined && previous !== material) previous.fill(0);
    this.#entries.set(versionId, material);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.delete(oldest.value);
    }
  }

  delete(versionId: string): void {
    const material = this.#entries.get(versionId);
    if (material === undefined) return;
    this.#entries.delete(versionId);
    material.fill(0);
  }

  clear(): void {
    for (const material of this.#entries.values()) material.fill(0);
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Lookups answered from the cache and not, since start (for the metrics endpoint). */
  get stats(): { readonly hits: number; readonly misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }
}
