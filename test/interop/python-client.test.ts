// A second language: Python grpcio with stubs generated from proto/ by grpc_tools.protoc into
// a temporary directory, running test/python/client.py against the in-process server with the
// administrator's credential (KEYHOLD_CREDENTIAL, sent as authorization metadata).
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test, type TestContext } from "node:test";
import { createGrpcJsClients, type GrpcJsClients } from "../support/grpc-js-client.ts";
import { DEV_ACCOUNT_ID, DEV_REGION, startTestServer, type TestServer } from "../support/server.ts";
import { describeRun, pythonPath, REPO_ROOT, runTool } from "../support/tools.ts";

const PYTHON = pythonPath();
const CLIENT = fileURLToPath(new URL("../python/client.py", import.meta.url));
const PROTOS = [
  "keyhold/key/v1/resources.proto",
  // key_service.proto imports it (external key stores).
  "keyhold/key/v1/external_key_store.proto",
  "keyhold/key/v1/key_service.proto",
  "keyhold/key/v1/crypto_service.proto",
  // key_service.proto imports it (grants name policy-service principals).
  "keyhold/policy/v1/resources.proto",
  "google/rpc/status.proto",
  "google/rpc/error_details.proto",
];
const INVALID_CIPHERTEXT_MESSAGE = "ciphertext_blob: the ciphertext is invalid, or does not match the key or encryption context";

interface PythonError {
  rpc: string;
  code: string;
  message: string;
  status_code?: number;
  status_message?: string;
  details_count: number | null;
  reason?: string;
  domain?: string;
  field?: string | null;
}

interface PythonOutput {
  key: { key_id: string; krn: string; description: string; key_state: string; key_spec: string };
  get_by_krn_key_id: string;
  data_key: { plaintext: string; ciphertext_blob: string; key_id: string; decrypted: string; decrypted_key_id: string };
  encrypt: { plaintext: string; ciphertext_blob: string };
  errors: PythonError[];
}

let server: TestServer | undefined;
let grpc: GrpcJsClients | undefined;
let genDir: string | undefined;
let generated: string[] = [];
let out: PythonOutput | undefined;

const SKIP = "no Python with grpcio-tools: set KEYHOLD_PYTHON or run `source scripts/lib/toolchain.sh && ensure_python_grpc`";
const CONTEXT = { lang: "python", purpose: "interop" };

before(async () => {
  if (PYTHON === undefined) return;
  server = await startTestServer();
  grpc = createGrpcJsClients(server.grpcAddress, server.credential);
  genDir = await mkdtemp(join(tmpdir(), "keyhold-python-gen-"));
  const protoc = await runTool(PYTHON, ["-m", "grpc_tools.protoc", "-I", "proto", `--python_out=${genDir}`, `--grpc_python_out=${genDir}`, ...PROTOS], {
    cwd: REPO_ROOT,
  });
  assert.equal(protoc.code, 0, describeRun("grpc_tools.protoc", protoc));
  generated = (await readdir(join(genDir, "keyhold", "key", "v1"))).sort();
  const run = await runTool(PYTHON, [CLIENT, "--target", server.grpcAddress, "--gen", genDir], {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONPATH: "", KEYHOLD_CREDENTIAL: server.credential },
  });
  assert.equal(run.code, 0, describeRun("client.py", run));
  out = JSON.parse(run.stdout) as PythonOutput;
});

after(async () => {
  grpc?.close();
  await server?.stop();
  if (genDir !== undefined) await rm(genDir, { recursive: true, force: true });
});

/** The Python run's output and a grpc-js client, or undefined when Python is missing (skipped). */
function ready(t: TestContext): { out: PythonOutput; grpc: GrpcJsClients } | undefined {
  if (out === undefined || grpc === undefined) {
    t.skip(SKIP);
    return undefined;
  }
  return { out, grpc };
}

describe("Python grpcio client (stubs from grpc_tools.protoc)", () => {
  test("protoc generates message and service modules for the key protos", (t) => {
    if (ready(t) === undefined) return;
    assert.deepEqual(generated, [
      "crypto_service_pb2.py",
      "crypto_service_pb2_grpc.py",
      "external_key_store_pb2.py",
      "external_key_store_pb2_grpc.py",
      "key_service_pb2.py",
      "key_service_pb2_grpc.py",
      "resources_pb2.py",
      "resources_pb2_grpc.py",
    ]);
  });

  test("CreateKey from Python is a key every client sees", async (t) => {
    const r = ready(t);
    if (r === undefined) return;
    const krn = `krn:keyhold:kms:${DEV_REGION}:${DEV_ACCOUNT_ID}:key/${r.out.key.key_id}`;
    assert.equal(r.out.key.krn, krn);
    assert.equal(r.out.key.description, "created from python");
    assert.equal(r.out.key.key_state, "KEY_STATE_ENABLED");
    assert.equal(r.out.key.key_spec, "KEY_SPEC_SYMMETRIC_DEFAULT");
    assert.equal(r.out.get_by_krn_key_id, r.out.key.key_id, "Python's GetKey by krn");
    const seen = (await r.grpc.keys.GetKey({ key_id: r.out.key.key_id })).key_metadata!;
    assert.equal(seen.description, "created from python");
    assert.deepEqual((await r.grpc.keys.ListResourceTags({ key_id: r.out.key.key_id })).tags, [{ tag_key: "lang", tag_value: "python" }]);
    // This server is this file's alone: Python created exactly one key, and its failed calls
    // stored nothing.
    assert.deepEqual(
      (await r.grpc.keys.ListKeys({ page_size: 1000 })).keys.map((k) => k.key_id),
      [r.out.key.key_id],
    );
  });

  test("GenerateDataKey: Decrypt(ciphertext_blob) is the data key, in Python and in Node", async (t) => {
    const r = ready(t);
    if (r === undefined) return;
    const krn = r.out.key.krn;
    const dataKey = Buffer.from(r.out.data_key.plaintext, "base64");
    assert.equal(dataKey.length, 32);
    assert.equal(r.out.data_key.key_id, krn);
    assert.deepEqual(Buffer.from(r.out.data_key.decrypted, "base64"), dataKey, "Python decrypted the data key");
    assert.equal(r.out.data_key.decrypted_key_id, krn);
    const nodeDecrypt = await r.grpc.crypto.Decrypt({ ciphertext_blob: Buffer.from(r.out.data_key.ciphertext_blob, "base64"), encryption_context: CONTEXT });
    assert.deepEqual(nodeDecrypt.plaintext, dataKey, "grpc-js decrypts Python's data key ciphertext");
    const nodeMessage = await r.grpc.crypto.Decrypt({ ciphertext_blob: Buffer.from(r.out.encrypt.ciphertext_blob, "base64"), encryption_context: CONTEXT });
    assert.deepEqual(nodeMessage.plaintext, Buffer.from(r.out.encrypt.plaintext, "base64"));
    assert.equal(nodeMessage.plaintext.toString("utf8"), "snowman \u2603 from python");
  });

  test("errors decode in Python from grpc-status-details-bin as google.rpc.Status + ErrorInfo", (t) => {
    const r = ready(t);
    if (r === undefined) return;
    const byRpc = new Map(r.out.errors.map((e) => [e.rpc, e]));
    const common = (e: PythonError | undefined, code: string, statusCode: number) => {
      assert.ok(e !== undefined);
      assert.equal(e.code, code);
      assert.equal(e.details_count, 1, "one detail in google.rpc.Status");
      assert.equal(e.status_code, statusCode, "google.rpc.Status.code matches");
      assert.equal(e.status_message, e.message, "google.rpc.Status.message matches");
      assert.equal(e.domain, "keyhold.dev");
      return e;
    };
    const notFound = common(byRpc.get("GetKey"), "NOT_FOUND", 5);
    assert.equal(notFound.reason, "KEY_NOT_FOUND");
    assert.equal(notFound.field, "key_id");
    assert.equal(notFound.message, "key_id: key not found");
    const invalid = common(byRpc.get("GenerateRandom"), "INVALID_ARGUMENT", 3);
    assert.equal(invalid.reason, "INVALID_ARGUMENT");
    assert.equal(invalid.field, "number_of_bytes");
    assert.equal(invalid.message, "number_of_bytes: must be between 1 and 1024");
    const badContext = common(byRpc.get("Decrypt"), "INVALID_ARGUMENT", 3);
    assert.equal(badContext.reason, "INVALID_CIPHERTEXT");
    assert.equal(badContext.field, "ciphertext_blob");
    assert.equal(badContext.message, INVALID_CIPHERTEXT_MESSAGE);
  });

  test("a call without metadata, or with an unknown API key, is UNAUTHENTICATED with an ErrorInfo", (t) => {
    const r = ready(t);
    if (r === undefined) return;
    const byRpc = new Map(r.out.errors.map((e) => [e.rpc, e]));
    for (const [rpc, message] of [
      ["GetKey without metadata", /^missing credential/],
      ["Encrypt with an unknown API key", /^invalid credential$/],
    ] as const) {
      const e = byRpc.get(rpc);
      assert.ok(e !== undefined, rpc);
      assert.equal(e.code, "UNAUTHENTICATED", rpc);
      assert.match(e.message, message, rpc);
      assert.equal(e.details_count, 1, `${rpc}: one detail in google.rpc.Status`);
      assert.equal(e.status_code, 16, rpc);
      assert.equal(e.status_message, e.message, rpc);
      assert.equal(e.reason, "UNAUTHENTICATED", rpc);
      assert.equal(e.domain, "keyhold.dev", rpc);
      assert.equal(e.field, null, `${rpc}: no field`);
    }
  });
});
