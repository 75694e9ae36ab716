export { postgresBinDir, startPostgres } from "./test-server.ts";
export type { TestPostgres } from "./test-server.ts";
export { createTestDatabase } from "./test-database.ts";
export type { TestDatabase } from "./test-database.ts";
