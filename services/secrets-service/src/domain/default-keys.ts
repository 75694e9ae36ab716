// The service-managed default key of each account (as AWS's aws/secretsmanager): created on
// first use through key-service, remembered in the store, one creation per account at a time.
import type { SecretStore } from "../store/secret-store.ts";
import type { KeyPeer } from "./key-peer.ts";

export class DefaultKeys {
  private readonly store: SecretStore;
  private readonly keys: KeyPeer;
  private readonly creating = new Map<string, Promise<string>>();

  constructor(store: SecretStore, keys: KeyPeer) {
    this.store = store;
    this.keys = keys;
  }

  /** The krn of the account's default secrets key, created when it has none yet. */
  async keyOf(accountId: string): Promise<string> {
    const known = await this.store.getDefaultKey(accountId);
    if (known !== undefined) return known;
    let pending = this.creating.get(accountId);
    if (pending === undefined) {
      pending = (async () => {
        try {
          const krn = await this.keys.createDefaultKey(accountId);
          // Another replica may have recorded its own meanwhile: every replica uses the one recorded first.
          return await this.store.setDefaultKey(accountId, krn);
        } finally {
          this.creating.delete(accountId);
        }
      })();
      this.creating.set(accountId, pending);
    }
    return pending;
  }
}
