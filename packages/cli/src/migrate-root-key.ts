// `keyhold migrate-root-key --to hsm`: re-wraps every piece of key material key-service has
// stored under the local root key file with the HSM root key (created in the token when
// absent), row by row; see key-service's root-key-migration.ts. It runs hsm-gateway in this
// process on the configured token, like `keyhold dev`. Safe to stop (Ctrl-C) and run again.
import { existsSync } from "node:fs";
import { RemoteHsmClient } from "@keyhold/hsm-client";
import { createHsmGatewayApp } from "@keyhold/hsm-gateway";
import {
  HsmRootKeyProvider, isHsmWrapped, LocalFileRootKeyProvider, migrateRootKey, openConfiguredRootKeyMigrationStore,
  type RootKeyMigrationResult,
} from "@keyhold/key-service";
import { createInMemoryTransport, type Logger } from "@keyhold/server-kit";
import type { DevConfig } from "./config.ts";

export interface MigrateRootKeyOptions {
  /** Stop after re-wrapping this many rows (tests: an interrupted run). */
  readonly stopAfter?: number;
  readonly signal?: AbortSignal;
}

export class MigrationRefused extends Error {
  override readonly name = "MigrationRefused";
}

export async function migrateRootKeyToHsm(config: DevConfig, logger: Logger, options: MigrateRootKeyOptions = {}): Promise<RootKeyMigrationResult> {
  if (config.hsmGateway === undefined) {
    throw new MigrationRefused("no HSM is configured: set KEYHOLD_HSM_MODULE, KEYHOLD_HSM_TOKEN_LABEL (or KEYHOLD_HSM_SLOT) and KEYHOLD_HSM_PIN_FILE (or KEYHOLD_HSM_PIN)");
  }
  const file = config.keyService.rootKeyFile;
  if (!existsSync(file)) throw new MigrationRefused(`no local root key file at ${file}: nothing to migrate from`);
  const gateway = createHsmGatewayApp(config.hsmGateway, logger);
  try {
    const hsm = new RemoteHsmClient(createInMemoryTransport(gateway.bindings, [], logger, { callingService: "key-service" }));
    const to = await HsmRootKeyProvider.open(hsm, config.keyService.hsmRootKeyId, logger);
    const from = await LocalFileRootKeyProvider.open(file, logger, { legacyReader: true });
    const store = await openConfiguredRootKeyMigrationStore(config.keyService, logger);
    try {
      return await migrateRootKey({
        store, from, to, isTargetFormat: isHsmWrapped, logger,
        ...(options.stopAfter === undefined ? {} : { stopAfter: options.stopAfter }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } finally {
      await store.close();
      await from.close();
      await to.close();
    }
  } finally {
    await gateway.close();
  }
}
