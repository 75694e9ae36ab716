// Chooses key-service's root of trust from its configuration: the local key file (development
// default), the sealed root key (Shamir shares, see sealed-root-key.ts), or the HSM root key. On the HSM root, a local key file that is still present is
// opened as a reader only, so material it wrapped before `keyhold migrate-root-key --to hsm`
// finished stays readable; everything new is wrapped in the HSM.
import { existsSync } from "node:fs";
import type { HsmClient } from "@keyhold/hsm-client";
import type { Logger } from "@keyhold/server-kit";
import { ConfigError, type KeyServiceConfig } from "../config.ts";
import { FormatDispatchingRootKeyProvider, HsmRootKeyProvider, isHsmWrapped } from "./hsm-root-key.ts";
import { LocalFileRootKeyProvider, type RootKeyProvider } from "./root-key.ts";
import { SealedRootKeyProvider } from "./sealed-root-key.ts";

export async function openRootKeyProvider(
  config: Pick<KeyServiceConfig, "rootKey" | "rootKeyFile" | "hsmRootKeyId"> & { readonly sealFile?: string },
  logger: Logger,
  hsm: HsmClient | undefined,
): Promise<RootKeyProvider> {
  if (config.rootKey === "file") return LocalFileRootKeyProvider.open(config.rootKeyFile, logger);
  if (config.rootKey === "sealed") {
    if (config.sealFile === undefined) throw new ConfigError("KEYHOLD_ROOT_KEY=sealed needs a seal file (KEYHOLD_SEAL_FILE)");
    return SealedRootKeyProvider.open(config.sealFile, logger);
  }
  if (hsm === undefined) {
    throw new ConfigError("KEYHOLD_ROOT_KEY=hsm needs an HSM: set KEYHOLD_HSM_MODULE, KEYHOLD_HSM_TOKEN_LABEL (or KEYHOLD_HSM_SLOT) and the PIN");
  }
  const root = await HsmRootKeyProvider.open(hsm, config.hsmRootKeyId, logger);
  if (!existsSync(config.rootKeyFile)) return root;
  try {
    const legacy = await LocalFileRootKeyProvider.open(config.rootKeyFile, logger, { legacyReader: true });
    return new FormatDispatchingRootKeyProvider(root, legacy, isHsmWrapped);
  } catch (error) {
    await root.close();
    throw error;
  }
}
