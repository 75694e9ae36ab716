// grpcurl and ghz against the gRPC port, with no .proto files: everything they know comes
// from server reflection. Calls authenticate with the bootstrap administrator's API key
// (grpcurl -H, ghz --metadata); without it they are Unauthenticated. Binaries come from
// .tools/bin (scripts/lib/toolchain.sh, ensure_go_tools); CI installs them.
import assert from "node:assert/strict";
import { after, before, describe, test, type TestContext } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { ErrorInfoSchema } from "@keyhold/proto";
import { bearer, generateApiKey } from "../support/auth.ts";
import { createGrpcJsClients, type GrpcJsClients } from "../support/grpc-js-client.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { describeRun, runTool, toolPath, TOOLS_BIN, type ToolResult } from "../support/tools.ts";

const GRPCURL = toolPath("grpcurl");
const GHZ = toolPath("ghz");
const missing = (name: string) => `${name} is not installed in ${TOOLS_BIN} (run: source scripts/lib/toolchain.sh && ensure_go_tools)`;

/** grpcurl exits 64 + the gRPC status code when the RPC fails. */
const GRPCURL_RPC_ERROR_BASE = 64;

let server: TestServer;
let grpc: GrpcJsClients;
let keyId: string;

before(async () => {
  server = await startTestServer();
  grpc = createGrpcJsClients(server.grpcAddress, server.credential);
  keyId = (await grpc.keys.CreateKey({ description: "cli tools" })).key_metadata!.key_id;
});

after(async () => {
  grpc?.close();
  await server?.stop();
});

/** grpcurl's flags that authenticate its calls as `credential` (default: the administrator). */
const authHeader = (credential = server.credential) => ["-H", `authorization: ${bearer(credential)}`];

/** Runs grpcurl with the administrator's credential (or undefined: skipped when not installed). */
function grpcurl(t: TestContext, args: readonly string[], header: readonly string[] = authHeader()): Promise<ToolResult> | undefined {
  if (GRPCURL === undefined) {
    t.skip(missing("grpcurl"));
    return undefined;
  }
  return runTool(GRPCURL, ["-plaintext", "-max-time", "30", ...header, ...args]);
}

function ok(result: ToolResult, what: string): string {
  assert.equal(result.code, 0, describeRun(what, result));
  return result.stdout;
}

describe("grpcurl (reflection only)", () => {
  test("list shows the key and policy services and grpc.health.v1.Health", async (t) => {
    const run = grpcurl(t, [server.grpcAddress, "list"]);
    if (run === undefined) return;
    const services = ok(await run, "grpcurl list").trim().split("\n").map((s) => s.trim());
    for (const name of ["keyhold.key.v1.KeyService", "keyhold.key.v1.CryptoService", "keyhold.policy.v1.IamService", "keyhold.policy.v1.StsService", "grpc.health.v1.Health"]) {
      assert.ok(services.includes(name), `grpcurl list includes ${name}: ${services.join(", ")}`);
    }

    const methods = ok(await runTool(GRPCURL!, ["-plaintext", ...authHeader(), server.grpcAddress, "list", "keyhold.key.v1.KeyService"]), "grpcurl list KeyService");
    const expected = [
      "CreateKey", "GetKey", "ListKeys", "UpdateKey", "EnableKey", "DisableKey", "CreateAlias",
      "UpdateAlias", "DeleteAlias", "ListAliases", "TagResource", "UntagResource", "ListResourceTags",
      "CreateGrant", "ListGrants", "RetireGrant", "RevokeGrant", "PutKeyPolicy", "GetKeyPolicy",
      "RotateKey", "ListKeyVersions", "GetKeyVersion", "UpdateRotationPolicy", "GetRotationPolicy",
      "ScheduleKeyDeletion", "CancelKeyDeletion", "UpdateDeletionProtection", "GetPublicKey",
      "GetParametersForImport", "ImportKeyMaterial", "DeleteImportedKeyMaterial",
      "CreateExternalKeyStore", "GetExternalKeyStore", "ListExternalKeyStores", "UpdateExternalKeyStore",
      "DeleteExternalKeyStore", "ConnectExternalKeyStore", "DisconnectExternalKeyStore",
    ];
    assert.deepEqual(
      methods.trim().split("\n").map((m) => m.trim()).sort(),
      expected.map((m) => `keyhold.key.v1.KeyService.${m}`).sort(),
    );
  });

  test("describe keyhold.key.v1.CryptoService shows every RPC with its messages", async (t) => {
    const run = grpcurl(t, [server.grpcAddress, "describe", "keyhold.key.v1.CryptoService"]);
    if (run === undefined) return;
    const out = ok(await run, "grpcurl describe");
    assert.match(out, /keyhold\.key\.v1\.CryptoService is a service:/);
    for (const rpc of ["Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateRandom"]) {
      // Ends with ";" or with an options block ({ option idempotency_level = …; }).
      assert.match(out, new RegExp(`rpc ${rpc} \\( \\.keyhold\\.key\\.v1\\.${rpc}Request \\) returns \\( \\.keyhold\\.key\\.v1\\.${rpc}Response \\)( \\{\\n\\s*option idempotency_level = (IDEMPOTENT|NO_SIDE_EFFECTS);\\n\\s*\\}|;)`));
    }
    // Message types resolve too (the dependencies of the service's file are served).
    const message = ok(await runTool(GRPCURL!, ["-plaintext", ...authHeader(), server.grpcAddress, "describe", "keyhold.key.v1.EncryptRequest"]), "grpcurl describe message");
    assert.match(message, /bytes plaintext = 2;/);
    assert.match(message, /map<string, string> encryption_context = 3;/);
    assert.match(message, /\.keyhold\.key\.v1\.EncryptionAlgorithm encryption_algorithm = 4;/);
  });

  test("describe the internal AuditIngestService shows its real messages, not the bytes view it is served through", async (t) => {
    const run = grpcurl(t, [server.grpcAddress, "describe", "keyhold.audit.v1.AuditIngestService"]);
    if (run === undefined) return;
    const out = ok(await run, "grpcurl describe AuditIngestService");
    assert.match(out, /rpc AppendEvents \( \.keyhold\.audit\.v1\.AppendEventsRequest \) returns \( \.keyhold\.audit\.v1\.AppendEventsResponse \) \{\n\s*option idempotency_level = IDEMPOTENT;\n\s*\}/);
    assert.doesNotMatch(out, /RawAppendEvents/);
    const message = ok(await runTool(GRPCURL!, ["-plaintext", server.grpcAddress, "describe", "keyhold.audit.v1.AppendEventsRequest"]), "grpcurl describe AppendEventsRequest");
    assert.match(message, /repeated \.keyhold\.audit\.v1\.AuditEvent events = 2;/);
  });

  test("Encrypt / Decrypt round trip in JSON with base64 bytes", async (t) => {
    const plaintext = Buffer.from("grpcurl says hello \u2603");
    const run = grpcurl(t, [
      "-d",
      JSON.stringify({ key_id: keyId, plaintext: plaintext.toString("base64"), encryption_context: { tool: "grpcurl" } }),
      server.grpcAddress,
      "keyhold.key.v1.CryptoService/Encrypt",
    ]);
    if (run === undefined) return;
    const encrypted = JSON.parse(ok(await run, "grpcurl Encrypt")) as { ciphertextBlob: string; keyId: string; encryptionAlgorithm: string };
    assert.match(encrypted.keyId, new RegExp(`:key/${keyId}$`));
    assert.equal(encrypted.encryptionAlgorithm, "ENCRYPTION_ALGORITHM_SYMMETRIC_DEFAULT");

    const decryptedRun = await runTool(GRPCURL!, [
      "-plaintext",
      ...authHeader(),
      "-d",
      JSON.stringify({ ciphertext_blob: encrypted.ciphertextBlob, encryption_context: { tool: "grpcurl" } }),
      server.grpcAddress,
      "keyhold.key.v1.CryptoService/Decrypt",
    ]);
    const decrypted = JSON.parse(ok(decryptedRun, "grpcurl Decrypt")) as { plaintext: string; keyId: string };
    assert.deepEqual(Buffer.from(decrypted.plaintext, "base64"), plaintext);
    assert.equal(decrypted.keyId, encrypted.keyId);

    // The ciphertext grpcurl got is an ordinary ciphertext for any other client.
    const viaGrpcJs = await grpc.crypto.Decrypt({ ciphertext_blob: Buffer.from(encrypted.ciphertextBlob, "base64"), encryption_context: { tool: "grpcurl" } });
    assert.deepEqual(viaGrpcJs.plaintext, plaintext);
  });

  test("an error shows its code and message, and the ErrorInfo detail decodes", async (t) => {
    const missingKey = "00000000-0000-4000-8000-000000000000";
    const request = JSON.stringify({ key_id: missingKey, plaintext: "aGk=" });
    const run = grpcurl(t, ["-d", request, server.grpcAddress, "keyhold.key.v1.CryptoService/Encrypt"]);
    if (run === undefined) return;
    const text = await run;
    assert.equal(text.code, GRPCURL_RPC_ERROR_BASE + 5, describeRun("grpcurl Encrypt (missing key)", text));
    assert.match(text.stderr, /Code: NotFound/);
    assert.match(text.stderr, /Message: key_id: key not found/);

    const json = await runTool(GRPCURL!, ["-plaintext", ...authHeader(), "-format-error", "-d", request, server.grpcAddress, "keyhold.key.v1.CryptoService/Encrypt"]);
    assert.equal(json.code, GRPCURL_RPC_ERROR_BASE + 5);
    const status = JSON.parse(json.stderr) as { code: number; message: string; details: { "@type": string; "@value"?: string; reason?: string }[] };
    assert.equal(status.code, 5);
    assert.equal(status.message, "key_id: key not found");
    assert.equal(status.details.length, 1);
    const detail = status.details[0]!;
    assert.equal(detail["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
    // grpcurl prints the detail as JSON when reflection knows google.rpc.ErrorInfo, else raw.
    const info =
      detail["@value"] === undefined
        ? { reason: detail.reason, domain: (detail as { domain?: string }).domain, metadata: (detail as { metadata?: Record<string, string> }).metadata ?? {} }
        : fromBinary(ErrorInfoSchema, Buffer.from(detail["@value"], "base64"));
    assert.equal(info.reason, "KEY_NOT_FOUND");
    assert.equal(info.domain, "keyhold.dev");
    assert.equal(info.metadata["field"], "key_id");

    // A bad argument: INVALID_ARGUMENT (3).
    const bad = await runTool(GRPCURL!, ["-plaintext", ...authHeader(), "-d", JSON.stringify({ number_of_bytes: 5000 }), server.grpcAddress, "keyhold.key.v1.CryptoService/GenerateRandom"]);
    assert.equal(bad.code, GRPCURL_RPC_ERROR_BASE + 3, describeRun("grpcurl GenerateRandom 5000", bad));
    assert.match(bad.stderr, /Code: InvalidArgument/);
    assert.match(bad.stderr, /Message: number_of_bytes: must be between 1 and 1024/);
  });

  test(
    "grpcurl can name the ErrorInfo detail (reflection serves google/rpc/error_details.proto)",
    async (t) => {
      const run = grpcurl(t, ["-d", JSON.stringify({ key_id: "00000000-0000-4000-8000-000000000000", plaintext: "aGk=" }), server.grpcAddress, "keyhold.key.v1.CryptoService/Encrypt"]);
      if (run === undefined) return;
      const result = await run;
      assert.doesNotMatch(result.stderr, /is not recognized/);
      assert.match(result.stderr, /"reason": "KEY_NOT_FOUND"/);
    },
  );
});

describe("grpcurl without a valid credential", () => {
  test("reflection (list, describe) needs none", async (t) => {
    const run = grpcurl(t, [server.grpcAddress, "list"], []);
    if (run === undefined) return;
    const services = ok(await run, "grpcurl list without -H").trim().split("\n").map((s) => s.trim());
    assert.ok(services.includes("keyhold.key.v1.CryptoService"), services.join(", "));
    const described = ok(await runTool(GRPCURL!, ["-plaintext", server.grpcAddress, "describe", "keyhold.key.v1.CryptoService"]), "grpcurl describe without -H");
    assert.match(described, /rpc Encrypt \( \.keyhold\.key\.v1\.EncryptRequest \)/);
  });

  const request = JSON.stringify({ number_of_bytes: 8 });
  const cases: readonly [string, () => readonly string[], RegExp][] = [
    ["no -H", () => [], /^missing credential/],
    ["an API key no account has", () => authHeader(generateApiKey()), /^invalid credential$/],
    ["a malformed header", () => ["-H", "authorization: Basic YWRtaW46YWRtaW4="], /^invalid credential$/],
  ];
  for (const [label, header, message] of cases) {
    test(`${label}: Unauthenticated (exit 80) with an ErrorInfo of reason UNAUTHENTICATED`, async (t) => {
      const run = grpcurl(t, ["-d", request, server.grpcAddress, "keyhold.key.v1.CryptoService/GenerateRandom"], header());
      if (run === undefined) return;
      const text = await run;
      assert.equal(text.code, GRPCURL_RPC_ERROR_BASE + 16, describeRun(`grpcurl GenerateRandom (${label})`, text));
      assert.match(text.stderr, /Code: Unauthenticated/);
      assert.match(text.stderr, /"reason": "UNAUTHENTICATED"/);
      assert.equal(text.stdout, "", "no response");

      const json = await runTool(GRPCURL!, ["-plaintext", ...header(), "-format-error", "-d", request, server.grpcAddress, "keyhold.key.v1.CryptoService/GenerateRandom"]);
      assert.equal(json.code, GRPCURL_RPC_ERROR_BASE + 16, describeRun("grpcurl -format-error", json));
      const status = JSON.parse(json.stderr) as { code: number; message: string; details: { "@type": string; reason?: string; domain?: string; metadata?: Record<string, string> }[] };
      assert.equal(status.code, 16);
      assert.match(status.message, message);
      assert.deepEqual(status.details, [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "UNAUTHENTICATED", domain: "keyhold.dev" }]);
    });
  }
});

describe("ghz (reflection only)", () => {
  test("without --metadata every call is Unauthenticated and nothing is created", async (t) => {
    if (GHZ === undefined) {
      t.skip(missing("ghz"));
      return;
    }
    const before = (await grpc.keys.ListKeys({ page_size: 1000 })).keys.map((k) => k.key_id);
    const result = await runTool(GHZ, [
      "--insecure",
      "--call",
      "keyhold.key.v1.KeyService/CreateKey",
      "-d",
      JSON.stringify({ description: "ghz without a credential" }),
      "-n",
      "200",
      "-c",
      "10",
      "--format",
      "json",
      server.grpcAddress,
    ]);
    assert.equal(result.code, 0, describeRun("ghz", result));
    const report = JSON.parse(result.stdout) as { count: number; errorDistribution: Record<string, number> | null; statusCodeDistribution: Record<string, number> };
    assert.equal(report.count, 200);
    assert.deepEqual(report.statusCodeDistribution, { Unauthenticated: 200 });
    assert.deepEqual(Object.values(report.errorDistribution ?? {}), [200]);
    assert.match(Object.keys(report.errorDistribution ?? {})[0] ?? "", /code = Unauthenticated desc = missing credential/);
    assert.deepEqual(
      (await grpc.keys.ListKeys({ page_size: 1000 })).keys.map((k) => k.key_id),
      before,
      "no key was created",
    );
  });

  test("2,000 Encrypt calls all succeed", async (t) => {
    if (GHZ === undefined) {
      t.skip(missing("ghz"));
      return;
    }
    const before = (await grpc.keys.ListKeys({ page_size: 1000 })).keys.length;
    const result = await runTool(GHZ, [
      "--insecure",
      "--metadata",
      JSON.stringify({ authorization: bearer(server.credential) }),
      "--call",
      "keyhold.key.v1.CryptoService/Encrypt",
      "-d",
      JSON.stringify({ key_id: keyId, plaintext: Buffer.from("ghz payload").toString("base64"), encryption_context: { tool: "ghz" } }),
      "-n",
      "2000",
      "-c",
      "20",
      "--format",
      "json",
      server.grpcAddress,
    ]);
    assert.equal(result.code, 0, describeRun("ghz", result));
    const report = JSON.parse(result.stdout) as {
      count: number;
      endReason: string;
      errorDistribution: Record<string, number> | null;
      statusCodeDistribution: Record<string, number>;
    };
    assert.equal(report.endReason, "normal");
    assert.equal(report.count, 2000);
    assert.deepEqual(report.errorDistribution ?? {}, {}, "no errors");
    assert.deepEqual(report.statusCodeDistribution, { OK: 2000 });
    // The server is intact afterwards.
    const check = await grpc.crypto.Encrypt({ key_id: keyId, plaintext: Buffer.from("after ghz") });
    assert.equal((await grpc.crypto.Decrypt({ ciphertext_blob: check.ciphertext_blob })).plaintext.toString(), "after ghz");
    assert.equal((await grpc.keys.ListKeys({ page_size: 1000 })).keys.length, before);
  });
});
