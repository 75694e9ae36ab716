// The pure parts of PostgreSQL rotation: value parsing and SQL quoting. The rotation itself runs
// against a real server in test/e2e/secrets-postgres.test.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { KeyholdError } from "@keyhold/server-kit";
import { VALUE_KINDS } from "../../store/records.ts";
import { parsePostgresValue, quoteIdentifier, quoteLiteral } from "./postgres-rotation.ts";

const value = (fields: object) => ({ kind: VALUE_KINDS.string, bytes: Buffer.from(JSON.stringify(fields)) });

describe("PostgreSQL values and quoting", () => {
  test("quoting escapes quotes and backslashes and refuses NUL", () => {
    assert.equal(quoteIdentifier('we"ird'), '"we""ird"');
    assert.equal(quoteLiteral("it's a \\ test"), "E'it''s a \\\\ test'");
    assert.throws(() => quoteLiteral("a\0b"), KeyholdError);
  });

  test("values: AWS's JSON shape, defaults, and refusals", () => {
    const parsed = parsePostgresValue(value({ engine: "postgres", host: "db", port: "6543", username: "app", password: "p", masterSecretId: "m" }), "v");
    assert.deepEqual([parsed.host, parsed.port, parsed.dbname, parsed.username, parsed.masterSecretId], ["db", 6543, "postgres", "app", "m"]);
    assert.equal(parsePostgresValue(value({ host: "db", username: "app", password: "p" }), "v").port, 5432);
    for (const bad of [{ host: "db", username: "app" }, { host: "db", username: "app", password: "p", port: 70000 }, { engine: "mysql", host: "db", username: "a", password: "p" }, [1]]) {
      assert.throws(() => parsePostgresValue(value(bad), "v"), (e: unknown) => e instanceof KeyholdError && e.reason === "ROTATION_FAILED");
    }
    assert.throws(() => parsePostgresValue({ kind: VALUE_KINDS.string, bytes: Buffer.from("not json") }, "v"), KeyholdError);
  });
});
