// The throwaway PostgreSQL server now lives in @keyhold/postgres/testing; re-exported for the tests here.
export { postgresBinDir, startPostgres } from "@keyhold/postgres/testing";
export type { TestPostgres } from "@keyhold/postgres/testing";
