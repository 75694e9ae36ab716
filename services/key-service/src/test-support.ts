// For tests beside the code: key-service on an in-memory SQLite database and a temporary
// root key file, served through an in-memory Connect router transport with the same
// interceptors and error mapping as the real front doors.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { CryptoService, KeyService } from "@keyhold/proto";
import { createInMemoryTransport, createSilentLogger, fixedIdentity, identityInterceptor, type Principal } from "@keyhold/server-kit";
import { createKeyServiceApp, type KeyServiceApp, type KeyServiceOverrides } from "./app.ts";
import { readKeyServiceConfig } from "./config.ts";
import { openSqliteDatabase, SqliteKeyStore } from "./store/sqlite-key-store.ts";

export const TEST_ACCOUNT = "111122223333";
export const OTHER_ACCOUNT = "444455556666";

export function rootPrincipal(accountId: string): Principal {
  return { accountId, krn: `krn:keyhold:iam::${accountId}:root`, kind: "root", name: "root" };
}

export interface TestKeyService {
  readonly app: KeyServiceApp;
  readonly keys: Client<typeof KeyService>;
  readonly crypto: Client<typeof CryptoService>;
  /** Clients acting as another account's root principal, on the same service. */
  as(accountId: string): { keys: Client<typeof KeyService>; crypto: Client<typeof CryptoService> };
  close(): Promise<void>;
}

export async function startTestKeyService(overrides: KeyServiceOverrides = {}): Promise<TestKeyService> {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-key-service-"));
  const config = readKeyServiceConfig({ KEYHOLD_REGION: "test-1" }, dir);
  const logger = createSilentLogger();
  const app = await createKeyServiceApp(config, logger, {
    store: new SqliteKeyStore(openSqliteDatabase(":memory:")),
    ...overrides,
  });
  const clientsFor = (accountId: string) => {
    const transport = createInMemoryTransport(app.bindings, [identityInterceptor(fixedIdentity(rootPrincipal(accountId)))], logger);
    return { keys: createClient(KeyService, transport), crypto: createClient(CryptoService, transport) };
  };
  const main = clientsFor(TEST_ACCOUNT);
  return {
    app,
    keys: main.keys,
    crypto: main.crypto,
    as: clientsFor,
    async close() {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
