import { writeFile } from "node:fs/promises";

/** Saves the generated administrator API key for the developer, readable by the owner only. */
export async function saveAdminKey(path: string, credential: string): Promise<void> {
  await writeFile(path, credential + "\n", { mode: 0o600, flag: "wx" });
}
