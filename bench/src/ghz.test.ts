// ghz's command line: plaintext targets as before, TLS targets trusting a CA for a server name,
// and the number of connections.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ghzArgs, type GhzRun } from "./ghz.ts";

const plain: GhzRun = {
  address: "127.0.0.1:5000",
  call: "keyhold.key.v1.CryptoService/Encrypt",
  data: { key_id: "k" },
  metadata: {},
  proto: undefined,
  concurrency: 50,
  load: { kind: "calls", calls: 300 },
};

test("plaintext, one connection by default", () => {
  assert.deepEqual(ghzArgs(plain, "/tmp/out.json"), [
    "--insecure",
    "--connections=1",
    "--concurrency=50",
    "--call=keyhold.key.v1.CryptoService/Encrypt",
    '--data={"key_id":"k"}',
    "--format=json",
    "--output=/tmp/out.json",
    "--total=300",
    "127.0.0.1:5000",
  ]);
});

test("TLS: the CA and the certificate's name instead of --insecure; connections; duration", () => {
  const args = ghzArgs(
    { ...plain, tls: { caFile: "/d/ca/ca.pem", serverName: "key-service" }, connections: 8, metadata: { authorization: "Bearer x" }, load: { kind: "duration", seconds: 5 } },
    "/tmp/o.json",
  );
  assert.ok(!args.includes("--insecure"));
  assert.deepEqual(args.slice(0, 3), ["--cacert=/d/ca/ca.pem", "--cname=key-service", "--connections=8"]);
  assert.ok(args.includes('--metadata={"authorization":"Bearer x"}'));
  assert.deepEqual(args.slice(-3), ["--duration=5s", "--duration-stop=wait", "127.0.0.1:5000"]);
});

test("a proto file when the server serves no reflection", () => {
  const args = ghzArgs({ ...plain, proto: { file: "/p/echo.proto", importPath: "/p" } }, "/tmp/o.json");
  assert.ok(args.includes("--proto=/p/echo.proto"));
  assert.ok(args.includes("--import-paths=/p"));
});
