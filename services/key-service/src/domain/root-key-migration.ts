// Moves every stored piece of wrapped key material from one root key to another (the local key
// file to the HSM root key): row by row, each row unwrapped by the old root, wrapped by the new
// one, checked by unwrapping it again, and replaced in its own small transaction only if it
// still holds what was read. Stopping at any point loses nothing: a row holds either its old
// or its new wrapping, and the format's first byte says which, so a second run continues
// where the first stopped. Never logs material or AAD values.
import type { Logger } from "@keyhold/server-kit";
import type { RootKeyMigrationStore, WrappedKind, WrappedRow } from "../store/root-key-migration-store.ts";
import { secretAad } from "./external-key-stores.ts";
import { wrappingKeyAad } from "./key-import.ts";
import { wrapAad } from "./key-materials.ts";
import type { RootKeyProvider } from "./root-key.ts";

export interface RootKeyMigration {
  readonly store: RootKeyMigrationStore;
  /** Unwraps what is not yet in the target's format. */
  readonly from: RootKeyProvider;
  readonly to: RootKeyProvider;
  /** Whether wrapped material is already in `to`'s format (the first byte). */
  readonly isTargetFormat: (wrapped: Uint8Array) => boolean;
  readonly logger: Logger;
  /** Rows per listing (default 100). */
  readonly batchSize?: number;
  /** Stop after re-wrapping this many rows (for an interrupted run in tests; default all). */
  readonly stopAfter?: number;
  /** Checked between rows: aborted, the run stops cleanly after the row in hand. */
  readonly signal?: AbortSignal;
}

export interface RootKeyMigrationResult {
  /** Rows re-wrapped by this run. */
  readonly rewrapped: number;
  /** Rows already in the target's format (an earlier run, or written since). */
  readonly alreadyMigrated: number;
  /** Rows that changed under the run (re-imported, purged) and were left as they are now. */
  readonly changedMeanwhile: number;
  /** True when every row was looked at (not stopped early). */
  readonly complete: boolean;
}

const KINDS: readonly WrappedKind[] = ["key-version", "import-token", "xks-secret-access-key", "xks-tls-client-key"];

function aadOf(row: WrappedRow): Buffer {
  switch (row.kind) {
    case "key-version":
      return wrapAad(row.accountId, row.keyId, row.id);
    case "import-token":
      return wrappingKeyAad(row.accountId, row.keyId, row.id);
    case "xks-secret-access-key":
      return secretAad("sigv4-secret", row.accountId, row.id);
    case "xks-tls-client-key":
      return secretAad("tls-client-key", row.accountId, row.id);
  }
}

export async function migrateRootKey(m: RootKeyMigration): Promise<RootKeyMigrationResult> {
  const batchSize = m.batchSize ?? 100;
  const stopAfter = m.stopAfter ?? Number.POSITIVE_INFINITY;
  let rewrapped = 0;
  let alreadyMigrated = 0;
  let changedMeanwhile = 0;
  const stopped = () => rewrapped >= stopAfter || m.signal?.aborted === true;
  for (const kind of KINDS) {
    let after = "";
    for (;;) {
      const rows = await m.store.listWrapped(kind, after, batchSize);
      for (const row of rows) {
        if (stopped()) {
          m.logger.info("root key migration stopped before the end: run it again to continue", { rewrapped, alreadyMigrated });
          return { rewrapped, alreadyMigrated, changedMeanwhile, complete: false };
        }
        after = row.id;
        if (m.isTargetFormat(row.wrapped)) {
          alreadyMigrated += 1;
          continue;
        }
        if (await rewrapRow(m, row)) rewrapped += 1;
        else changedMeanwhile += 1;
      }
      if (rows.length < batchSize) break;
    }
  }
  m.logger.info("root key migration complete", { rewrapped, alreadyMigrated, changedMeanwhile, to: m.to.description });
  return { rewrapped, alreadyMigrated, changedMeanwhile, complete: true };
}

async function rewrapRow(m: RootKeyMigration, row: WrappedRow): Promise<boolean> {
  const aad = aadOf(row);
  const material = await m.from.unwrap(row.wrapped, aad);
  try {
    const wrapped = await m.to.wrap(material, aad);
    const check = await m.to.unwrap(wrapped, aad);
    const same = check.equals(material);
    check.fill(0);
    if (!same) throw new Error(`re-wrapped material of ${row.kind} ${row.id} did not unwrap to the same bytes; nothing was written`);
    return await m.store.replaceWrapped(row.kind, row.id, row.wrapped, wrapped, m.to.description);
  } finally {
    material.fill(0);
  }
}
