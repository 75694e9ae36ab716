export { openMigratedDatabase } from "./open.ts";
export type { SqliteDatabase } from "./open.ts";
