// Every key-service RPC through a client Keyhold did not generate: @grpc/grpc-js with
// @grpc/proto-loader reading proto/ at run time, authenticated as the bootstrap administrator
// (authorization metadata). Errors are read from the grpc-status-details-bin trailer
// (google.rpc.Status holding one google.rpc.ErrorInfo).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Metadata, status } from "@grpc/grpc-js";
import { expectGrpcError } from "../support/errors.ts";
import { createGrpcJsClients, type GrpcJsClients, type PlKeyMetadata } from "../support/grpc-js-client.ts";
import { DEV_ACCOUNT_ID, DEV_REGION, startTestServer, type TestServer } from "../support/server.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INVALID_CIPHERTEXT_MESSAGE = "ciphertext_blob: the ciphertext is invalid, or does not match the key or encryption context";

const keyKrn = (keyId: string) => `krn:keyhold:kms:${DEV_REGION}:${DEV_ACCOUNT_ID}:key/${keyId}`;
const aliasKrn = (aliasName: string) => `krn:keyhold:kms:${DEV_REGION}:${DEV_ACCOUNT_ID}:${aliasName}`;

let server: TestServer;
let grpc: GrpcJsClients;
let sequence = 0;
/** A name no other test in this file uses. */
const unique = (prefix: string) => `${prefix}-${process.pid}-${++sequence}`;

before(async () => {
  server = await startTestServer();
  grpc = createGrpcJsClients(server.grpcAddress, server.credential);
});

after(async () => {
  grpc?.close();
  await server?.stop();
});

async function newKey(description = unique("key")): Promise<PlKeyMetadata> {
  const response = await grpc.keys.CreateKey({ description });
  assert.ok(response.key_metadata !== null, "CreateKey returns key_metadata");
  return response.key_metadata;
}

async function allKeyIds(): Promise<string[]> {
  const response = await grpc.keys.ListKeys({ page_size: 1000 });
  assert.equal(response.next_page_token, "", "fewer than 1000 keys fit one page");
  return response.keys.map((k) => k.key_id);
}

describe("KeyService over grpc-js + proto-loader", () => {
  test("CreateKey returns the new key's metadata with the documented defaults", async () => {
    const description = unique("defaults");
    const key = await newKey(description);
    assert.match(key.key_id, UUID);
    assert.equal(key.krn, keyKrn(key.key_id));
    assert.equal(key.account_id, DEV_ACCOUNT_ID);
    assert.equal(key.description, description);
    assert.equal(key.key_spec, "KEY_SPEC_SYMMETRIC_DEFAULT");
    assert.equal(key.key_usage, "KEY_USAGE_ENCRYPT_DECRYPT");
    assert.equal(key.origin, "ORIGIN_SOFTWARE");
    assert.equal(key.key_state, "KEY_STATE_ENABLED");
    assert.equal(key.key_manager, "KEY_MANAGER_CUSTOMER");
    assert.equal(key.enabled, true);
    assert.ok(key.creation_date !== null && Number(key.creation_date.seconds) > 0, "creation_date is set");
    assert.match(key.primary_version_id, UUID);
    assert.deepEqual(key.encryption_algorithms, ["ENCRYPTION_ALGORITHM_SYMMETRIC_DEFAULT"]);
    assert.equal(key.deletion_date, null);
  });

  test("CreateKey with explicit enums and tags stores the tags", async () => {
    const created = await grpc.keys.CreateKey({
      description: "explicit",
      key_usage: "KEY_USAGE_ENCRYPT_DECRYPT",
      key_spec: "KEY_SPEC_SYMMETRIC_DEFAULT",
      origin: "ORIGIN_SOFTWARE",
      tags: [
        { tag_key: "team", tag_value: "payments" },
        { tag_key: "env", tag_value: "" },
      ],
    });
    const keyId = created.key_metadata!.key_id;
    const tags = await grpc.keys.ListResourceTags({ key_id: keyId });
    assert.deepEqual(tags.tags, [
      { tag_key: "env", tag_value: "" },
      { tag_key: "team", tag_value: "payments" },
    ]);
    assert.equal(tags.next_page_token, "");
  });

  test("GetKey by UUID, key krn, alias name and alias krn describes the same key", async () => {
    const key = await newKey();
    const aliasName = `alias/${unique("get")}`;
    await grpc.keys.CreateAlias({ alias_name: aliasName, target_key_id: key.key_id });
    for (const ref of [key.key_id, key.krn, aliasName, aliasKrn(aliasName)]) {
      const got = await grpc.keys.GetKey({ key_id: ref });
      assert.deepEqual(got.key_metadata, key, `GetKey(${ref})`);
    }
  });

  test("ListKeys pages through every key exactly once, in order", async () => {
    const created = new Set<string>();
    for (let i = 0; i < 5; i++) created.add((await newKey()).key_id);
    const everything = await allKeyIds();
    assert.deepEqual([...everything].sort(), everything, "keys are listed in key id order");
    for (const id of created) assert.ok(everything.includes(id), `ListKeys includes ${id}`);

    const paged: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await grpc.keys.ListKeys({ page_size: 2, page_token: token });
      assert.ok(page.keys.length <= 2, "a page holds at most page_size keys");
      for (const entry of page.keys) assert.equal(entry.krn, keyKrn(entry.key_id));
      paged.push(...page.keys.map((k) => k.key_id));
      token = page.next_page_token;
      pages++;
      assert.ok(pages <= everything.length + 1, "paging terminates");
    } while (token !== "");
    assert.deepEqual(paged, everything, "paging yields the same keys, once each, in the same order");
    assert.ok(pages >= 3, "more than two pages were needed");

    // page_size 0 is the default (100): every key here fits one page.
    const defaults = await grpc.keys.ListKeys({});
    assert.deepEqual(
      defaults.keys.map((k) => k.key_id),
      everything.slice(0, 100),
    );
  });

  test("UpdateKey changes the description and GetKey sees it", async () => {
    const key = await newKey("before");
    const updated = await grpc.keys.UpdateKey({ key_id: key.key_id, description: "after" });
    assert.equal(updated.key_metadata!.description, "after");
    assert.equal(updated.key_metadata!.key_id, key.key_id);
    const got = await grpc.keys.GetKey({ key_id: key.krn });
    assert.equal(got.key_metadata!.description, "after");
    // Other fields are untouched.
    assert.deepEqual({ ...got.key_metadata!, description: "before" }, key);
    const cleared = await grpc.keys.UpdateKey({ key_id: key.key_id, description: "" });
    assert.equal(cleared.key_metadata!.description, "");
  });

  test("DisableKey makes crypto fail with KEY_DISABLED; EnableKey restores it", async () => {
    const key = await newKey();
    const before = await grpc.crypto.Encrypt({ key_id: key.key_id, plaintext: Buffer.from("before disabling") });

    const disabled = await grpc.keys.DisableKey({ key_id: key.key_id });
    assert.equal(disabled.key_metadata!.key_state, "KEY_STATE_DISABLED");
    assert.equal(disabled.key_metadata!.enabled, false);
    assert.equal((await grpc.keys.GetKey({ key_id: key.key_id })).key_metadata!.key_state, "KEY_STATE_DISABLED");
    // Disabling a disabled key is a no-op.
    assert.equal((await grpc.keys.DisableKey({ key_id: key.key_id })).key_metadata!.key_state, "KEY_STATE_DISABLED");

    const keyDisabled = { code: status.FAILED_PRECONDITION, reason: "KEY_DISABLED", field: "key_id", message: /disabled/ };
    await expectGrpcError(grpc.crypto.Encrypt({ key_id: key.key_id, plaintext: Buffer.from("x") }), keyDisabled, "Encrypt");
    await expectGrpcError(grpc.crypto.Decrypt({ ciphertext_blob: before.ciphertext_blob }), keyDisabled, "Decrypt");
    await expectGrpcError(grpc.crypto.GenerateDataKey({ key_id: key.key_id }), keyDisabled, "GenerateDataKey");
    await expectGrpcError(grpc.crypto.GenerateDataKeyWithoutPlaintext({ key_id: key.key_id }), keyDisabled, "GenerateDataKeyWithoutPlaintext");
    const other = await newKey();
    // ReEncryptRequest has no key_id: the disabled source key is named as source_key_id.
    await expectGrpcError(
      grpc.crypto.ReEncrypt({ ciphertext_blob: before.ciphertext_blob, destination_key_id: other.key_id }),
      { ...keyDisabled, field: "source_key_id", message: "source_key_id: the key is disabled" },
      "ReEncrypt from a disabled key",
    );
    const otherCiphertext = await grpc.crypto.Encrypt({ key_id: other.key_id, plaintext: Buffer.from("y") });
    await expectGrpcError(
      grpc.crypto.ReEncrypt({ ciphertext_blob: otherCiphertext.ciphertext_blob, destination_key_id: key.key_id }),
      { ...keyDisabled, field: "destination_key_id" },
      "ReEncrypt to a disabled key",
    );

    const enabled = await grpc.keys.EnableKey({ key_id: key.key_id });
    assert.equal(enabled.key_metadata!.key_state, "KEY_STATE_ENABLED");
    assert.equal(enabled.key_metadata!.enabled, true);
    const after = await grpc.crypto.Encrypt({ key_id: key.key_id, plaintext: Buffer.from("after enabling") });
    assert.equal((await grpc.crypto.Decrypt({ ciphertext_blob: after.ciphertext_blob })).plaintext.toString(), "after enabling");
    assert.equal((await grpc.crypto.Decrypt({ ciphertext_blob: before.ciphertext_blob })).plaintext.toString(), "before disabling");
  });

  test("aliases: create, list (all and by key, paged), update, delete", async () => {
    const keyA = await newKey();
    const keyB = await newKey();
    const prefix = `alias/${unique("list")}`;
    const names = [`${prefix}/a`, `${prefix}/b`, `${prefix}/c`, `${prefix}/d`, `${prefix}/e`];

    for (const name of names.slice(0, 3)) {
      const created = await grpc.keys.CreateAlias({ alias_name: name, target_key_id: keyA.key_id });
      assert.equal(created.alias!.alias_name, name);
      assert.equal(created.alias!.alias_krn, aliasKrn(name));
      assert.equal(created.alias!.target_key_id, keyA.key_id);
      assert.ok(created.alias!.creation_date !== null && created.alias!.last_updated_date !== null);
    }
    // target_key_id also accepts the key krn.
    for (const name of names.slice(3)) await grpc.keys.CreateAlias({ alias_name: name, target_key_id: keyB.krn });

    await expectGrpcError(
      grpc.keys.CreateAlias({ alias_name: names[0], target_key_id: keyB.key_id }),
      { code: status.ALREADY_EXISTS, reason: "ALREADY_EXISTS", field: "alias_name" },
      "duplicate alias",
    );
    assert.equal((await grpc.keys.GetKey({ key_id: names[0]! })).key_metadata!.key_id, keyA.key_id, "the duplicate did not repoint the alias");

    // All aliases, two per page.
    const listed: string[] = [];
    let token = "";
    do {
      const page = await grpc.keys.ListAliases({ page_size: 2, page_token: token });
      assert.ok(page.aliases.length <= 2);
      listed.push(...page.aliases.map((a) => a.alias_name));
      token = page.next_page_token;
    } while (token !== "");
    assert.deepEqual([...listed].sort(), listed, "aliases are listed by name");
    assert.equal(new Set(listed).size, listed.length, "no alias is listed twice");
    for (const name of names) assert.ok(listed.includes(name), `ListAliases includes ${name}`);

    // By key: key id and key krn filter alike; paging stays within the key.
    const ofA = await grpc.keys.ListAliases({ key_id: keyA.key_id });
    assert.deepEqual(
      ofA.aliases.map((a) => a.alias_name),
      names.slice(0, 3),
    );
    const ofB = await grpc.keys.ListAliases({ key_id: keyB.krn });
    assert.deepEqual(
      ofB.aliases.map((a) => [a.alias_name, a.target_key_id]),
      names.slice(3).map((n) => [n, keyB.key_id]),
    );
    const first = await grpc.keys.ListAliases({ key_id: keyA.key_id, page_size: 2 });
    assert.equal(first.aliases.length, 2);
    assert.notEqual(first.next_page_token, "");
    const second = await grpc.keys.ListAliases({ key_id: keyA.key_id, page_size: 2, page_token: first.next_page_token });
    assert.deepEqual(
      [...first.aliases, ...second.aliases].map((a) => a.alias_name),
      names.slice(0, 3),
    );
    assert.equal(second.next_page_token, "");

    // UpdateAlias repoints; the alias then resolves to the new key everywhere.
    const updated = await grpc.keys.UpdateAlias({ alias_name: names[0], target_key_id: keyB.key_id });
    assert.equal(updated.alias!.target_key_id, keyB.key_id);
    assert.equal(updated.alias!.alias_krn, aliasKrn(names[0]!));
    assert.equal((await grpc.keys.GetKey({ key_id: names[0]! })).key_metadata!.key_id, keyB.key_id);
    const encrypted = await grpc.crypto.Encrypt({ key_id: names[0], plaintext: Buffer.from("via alias") });
    assert.equal(encrypted.key_id, keyB.krn, "Encrypt through the alias used the new target");
    assert.deepEqual(
      (await grpc.keys.ListAliases({ key_id: keyA.key_id })).aliases.map((a) => a.alias_name),
      names.slice(1, 3),
    );

    // DeleteAlias removes it; the key stays.
    assert.deepEqual(await grpc.keys.DeleteAlias({ alias_name: names[0] }), {});
    await expectGrpcError(grpc.keys.GetKey({ key_id: names[0]! }), { code: status.NOT_FOUND, reason: "ALIAS_NOT_FOUND", field: "key_id" });
    await expectGrpcError(grpc.keys.DeleteAlias({ alias_name: names[0] }), { code: status.NOT_FOUND, reason: "ALIAS_NOT_FOUND", field: "alias_name" });
    await expectGrpcError(grpc.keys.UpdateAlias({ alias_name: names[0], target_key_id: keyA.key_id }), {
      code: status.NOT_FOUND,
      reason: "ALIAS_NOT_FOUND",
      field: "alias_name",
    });
    assert.equal((await grpc.keys.GetKey({ key_id: keyB.key_id })).key_metadata!.key_state, "KEY_STATE_ENABLED");
    assert.ok(!(await grpc.keys.ListAliases({ page_size: 1000 })).aliases.some((a) => a.alias_name === names[0]));
  });

  test("tags: add, overwrite, list (paged), untag", async () => {
    const key = await newKey();
    assert.deepEqual(await grpc.keys.TagResource({ key_id: key.key_id, tags: [{ tag_key: "b", tag_value: "1" }, { tag_key: "a", tag_value: "2" }] }), {});
    await grpc.keys.TagResource({ key_id: key.krn, tags: [{ tag_key: "c", tag_value: "3" }, { tag_key: "b", tag_value: "overwritten" }] });
    const all = await grpc.keys.ListResourceTags({ key_id: key.key_id });
    assert.deepEqual(all.tags, [
      { tag_key: "a", tag_value: "2" },
      { tag_key: "b", tag_value: "overwritten" },
      { tag_key: "c", tag_value: "3" },
    ]);

    const paged: string[] = [];
    let token = "";
    do {
      const page = await grpc.keys.ListResourceTags({ key_id: key.krn, page_size: 1, page_token: token });
      assert.ok(page.tags.length <= 1);
      paged.push(...page.tags.map((t) => t.tag_key));
      token = page.next_page_token;
    } while (token !== "");
    assert.deepEqual(paged, ["a", "b", "c"]);

    assert.deepEqual(await grpc.keys.UntagResource({ key_id: key.key_id, tag_keys: ["b", "not-there"] }), {});
    assert.deepEqual((await grpc.keys.ListResourceTags({ key_id: key.key_id })).tags, [
      { tag_key: "a", tag_value: "2" },
      { tag_key: "c", tag_value: "3" },
    ]);

    // Tags of one key are not another's.
    const other = await newKey();
    assert.deepEqual((await grpc.keys.ListResourceTags({ key_id: other.key_id })).tags, []);
  });

  test("CreateKey is idempotent with idempotency_token", async () => {
    const token = unique("token");
    const body = { description: "idempotent", tags: [{ tag_key: "k", tag_value: "v" }], idempotency_token: token };
    const before = await allKeyIds();
    const first = await grpc.keys.CreateKey(body);
    const second = await grpc.keys.CreateKey(body);
    assert.equal(second.key_metadata!.key_id, first.key_metadata!.key_id);
    assert.deepEqual(second.key_metadata, first.key_metadata);
    const afterIds = await allKeyIds();
    assert.equal(afterIds.length, before.length + 1, "only one key was created");

    await expectGrpcError(
      grpc.keys.CreateKey({ ...body, description: "a different body" }),
      { code: status.ALREADY_EXISTS, reason: "IDEMPOTENCY_CONFLICT", field: "idempotency_token", message: /idempotency_token/ },
      "same token, different body",
    );
    assert.equal((await allKeyIds()).length, afterIds.length, "the conflicting request created nothing");

    // Another token is another key.
    const third = await grpc.keys.CreateKey({ ...body, idempotency_token: unique("token") });
    assert.notEqual(third.key_metadata!.key_id, first.key_metadata!.key_id);
  });
});

describe("CryptoService over grpc-js + proto-loader", () => {
  test("Encrypt / Decrypt round trip with an encryption context", async () => {
    const key = await newKey();
    const plaintext = Buffer.from("attack at dawn \u00e9\u00e8 \u{1f511}");
    const context = { tenant: "acme", purpose: "interop", "\u00e9": "\u00fc" };
    const encrypted = await grpc.crypto.Encrypt({ key_id: key.key_id, plaintext, encryption_context: context });
    assert.equal(encrypted.key_id, key.krn);
    assert.equal(encrypted.key_version_id, key.primary_version_id);
    assert.equal(encrypted.encryption_algorithm, "ENCRYPTION_ALGORITHM_SYMMETRIC_DEFAULT");
    assert.ok(encrypted.ciphertext_blob.length > plaintext.length);
    assert.equal(encrypted.ciphertext_blob.indexOf(plaintext), -1, "the plaintext does not appear in the ciphertext");

    // Map order never matters.
    const reordered = { "\u00e9": "\u00fc", purpose: "interop", tenant: "acme" };
    const decrypted = await grpc.crypto.Decrypt({ ciphertext_blob: encrypted.ciphertext_blob, encryption_context: reordered });
    assert.deepEqual(decrypted.plaintext, plaintext);
    assert.equal(decrypted.key_id, key.krn);
    assert.equal(decrypted.key_version_id, key.primary_version_id);
    assert.equal(decrypted.encryption_algorithm, "ENCRYPTION_ALGORITHM_SYMMETRIC_DEFAULT");

    // Two encryptions of the same plaintext differ (fresh nonce).
    const again = await grpc.crypto.Encrypt({ key_id: key.key_id, plaintext, encryption_context: context });
    assert.notDeepEqual(again.ciphertext_blob, encrypted.ciphertext_blob);

    // Optional key_id on Decrypt: the right key (any spelling) passes, another key fails.
    const aliasName = `alias/${unique("decrypt")}`;
    await grpc.keys.CreateAlias({ alias_name: aliasName, target_key_id: key.key_id });
    for (const ref of [key.key_id, key.krn, aliasName, aliasKrn(aliasName)]) {
      const viaRef = await grpc.crypto.Decrypt({ ciphertext_blob: encrypted.ciphertext_blob, encryption_context: context, key_id: ref });
      assert.deepEqual(viaRef.plaintext, plaintext, `Decrypt with key_id ${ref}`);
    }
    const other = await newKey();
    await expectGrpcError(
      grpc.crypto.Decrypt({ ciphertext_blob: encrypted.ciphertext_blob, encryption_context: context, key_id: other.key_id }),
      { code: status.INVALID_ARGUMENT, reason: "INVALID_CIPHERTEXT", field: "ciphertext_blob", message: INVALID_CIPHERTEXT_MESSAGE },
      "Decrypt naming another key",
    );

    // Encrypt through an alias and an alias krn.
    for (const ref of [aliasName, aliasKrn(aliasName), key.krn]) {
      const viaAlias = await grpc.crypto.Encrypt({ key_id: ref, plaintext: Buffer.from(ref) });
      assert.equal(viaAlias.key_id, key.krn);
      assert.equal((await grpc.crypto.Decrypt({ ciphertext_blob: viaAlias.ciphertext_blob })).plaintext.toString(), ref);
    }
  });

  test("Decrypt with a wrong, missing or extra context is INVALID_CIPHERTEXT, all alike", async () => {
    const key = await newKey();
    const context = { tenant: "acme", purpose: "interop" };
    const { ciphertext_blob } = await grpc.crypto.Encrypt({ key_id: key.key_id, plaintext: Buffer.from("secret"), encryption_context: context });
    const cases: [string, Record<string, string>][] = [
      ["wrong value", { tenant: "acme", purpose: "other" }],
      ["wrong key", { tenant: "acme", Purpose: "interop" }],
      ["missing context", {}],
      ["missing entry", { tenant: "acme" }],
      ["extra entry", { ...context, extra: "1" }],
      ["empty value instead of a value", { tenant: "acme", purpose: "" }],
    ];
    for (const [label, encryption_context] of cases) {
      await expectGrpcError(
        grpc.crypto.Decrypt({ ciphertext_blob, encryption_context }),
        { code: status.INVALID_ARGUMENT, reason: "INVALID_CIPHERTEXT", field: "ciphertext_blob", message: INVALID_CIPHERTEXT_MESSAGE },
        label,
      );
    }
    // A ciphertext made without a context needs none, and refuses one.
    const bare = await grpc.crypto.Encrypt({ key_id: key.key_id, plaintext: Buffer.from("bare") });
    assert.equal((await grpc.crypto.Decrypt({ ciphertext_blob: bare.ciphertext_blob })).plaintext.toString(), "bare");
    await expectGrpcError(grpc.crypto.Decrypt({ ciphertext_blob: bare.ciphertext_blob, encryption_context: { a: "b" } }), {
      code: status.INVALID_ARGUMENT,
      reason: "INVALID_CIPHERTEXT",
      message: INVALID_CIPHERTEXT_MESSAGE,
    });
  });

  test("ReEncrypt moves a ciphertext to another key and context", async () => {
    const source = await newKey();
    const destination = await newKey();
    const plaintext = Buffer.from("re-encrypt me");
    const sourceContext = { stage: "one" };
    const destinationContext = { stage: "two" };
    const original = await grpc.crypto.Encrypt({ key_id: source.key_id, plaintext, encryption_context: sourceContext });

    const moved = await grpc.crypto.ReEncrypt({
      ciphertext_blob: original.ciphertext_blob,
      source_encryption_context: sourceContext,
      source_key_id: source.key_id,
      destination_key_id: destination.krn,
      destination_encryption_context: destinationContext,
    });
    assert.equal(moved.source_key_id, source.krn);
    assert.equal(moved.source_key_version_id, source.primary_version_id);
    assert.equal(moved.key_id, destination.krn);
    assert.equal(moved.key_version_id, destination.primary_version_id);
    assert.notDeepEqual(moved.ciphertext_blob, original.ciphertext_blob);

    const decrypted = await grpc.crypto.Decrypt({ ciphertext_blob: moved.ciphertext_blob, encryption_context: destinationContext });
    assert.deepEqual(decrypted.plaintext, plaintext);
    assert.equal(decrypted.key_id, destination.krn);
    const invalid = { code: status.INVALID_ARGUMENT, reason: "INVALID_CIPHERTEXT", message: INVALID_CIPHERTEXT_MESSAGE };
    await expectGrpcError(grpc.crypto.Decrypt({ ciphertext_blob: moved.ciphertext_blob, encryption_context: sourceContext }), invalid, "old context");
    await expectGrpcError(
      grpc.crypto.Decrypt({ ciphertext_blob: moved.ciphertext_blob, encryption_context: destinationContext, key_id: source.key_id }),
      invalid,
      "source key named on the new ciphertext",
    );
    // The wrong source context, or naming the wrong source key, refuses the re-encryption.
    await expectGrpcError(
      grpc.crypto.ReEncrypt({ ciphertext_blob: original.ciphertext_blob, destination_key_id: destination.key_id }),
      invalid,
      "ReEncrypt without the source context",
    );
    await expectGrpcError(
      grpc.crypto.ReEncrypt({
        ciphertext_blob: original.ciphertext_blob,
        source_encryption_context: sourceContext,
        source_key_id: destination.key_id,
        destination_key_id: destination.key_id,
      }),
      invalid,
      "ReEncrypt naming another source key",
    );
    // Re-encrypting under the same key works too.
    const same = await grpc.crypto.ReEncrypt({
      ciphertext_blob: original.ciphertext_blob,
      source_encryption_context: sourceContext,
      destination_key_id: source.key_id,
    });
    assert.equal(same.key_id, source.krn);
    assert.deepEqual((await grpc.crypto.Decrypt({ ciphertext_blob: same.ciphertext_blob })).plaintext, plaintext);
  });

  test("GenerateDataKey: default 32 bytes, AES_128 16, number_of_bytes 64; its ciphertext decrypts to its plaintext", async () => {
    const key = await newKey();
    const context = { bucket: "photos" };
    const cases: [string, Record<string, unknown>, number][] = [
      ["default", {}, 32],
      ["AES_256", { key_spec: "DATA_KEY_SPEC_AES_256" }, 32],
      ["AES_128", { key_spec: "DATA_KEY_SPEC_AES_128" }, 16],
      ["number_of_bytes 64", { number_of_bytes: 64 }, 64],
      ["number_of_bytes 1", { number_of_bytes: 1 }, 1],
      ["number_of_bytes 1024", { number_of_bytes: 1024 }, 1024],
    ];
    for (const [label, extra, length] of cases) {
      const dataKey = await grpc.crypto.GenerateDataKey({ key_id: key.key_id, encryption_context: context, ...extra });
      assert.equal(dataKey.plaintext.length, length, `${label}: plaintext length`);
      assert.equal(dataKey.key_id, key.krn);
      assert.equal(dataKey.key_version_id, key.primary_version_id);
      const decrypted = await grpc.crypto.Decrypt({ ciphertext_blob: dataKey.ciphertext_blob, encryption_context: context });
      assert.deepEqual(decrypted.plaintext, dataKey.plaintext, `${label}: Decrypt(ciphertext_blob) is the data key`);
    }
    const a = await grpc.crypto.GenerateDataKey({ key_id: key.key_id });
    const b = await grpc.crypto.GenerateDataKey({ key_id: key.key_id });
    assert.notDeepEqual(a.plaintext, b.plaintext, "data keys are fresh");
  });

  test("GenerateDataKeyWithoutPlaintext returns only a ciphertext that decrypts to a data key", async () => {
    const key = await newKey();
    const response = await grpc.crypto.GenerateDataKeyWithoutPlaintext({ key_id: key.key_id, encryption_context: { a: "b" } });
    assert.equal(response.key_id, key.krn);
    assert.equal(response.key_version_id, key.primary_version_id);
    assert.ok(!("plaintext" in response), "no plaintext field on the response");
    const decrypted = await grpc.crypto.Decrypt({ ciphertext_blob: response.ciphertext_blob, encryption_context: { a: "b" } });
    assert.equal(decrypted.plaintext.length, 32);
    const sized = await grpc.crypto.GenerateDataKeyWithoutPlaintext({ key_id: key.key_id, key_spec: "DATA_KEY_SPEC_AES_128" });
    assert.equal((await grpc.crypto.Decrypt({ ciphertext_blob: sized.ciphertext_blob })).plaintext.length, 16);
    const counted = await grpc.crypto.GenerateDataKeyWithoutPlaintext({ key_id: key.key_id, number_of_bytes: 48 });
    assert.equal((await grpc.crypto.Decrypt({ ciphertext_blob: counted.ciphertext_blob })).plaintext.length, 48);
  });

  test("GenerateRandom returns the requested number of fresh bytes", async () => {
    for (const n of [1, 32, 1024]) {
      const response = await grpc.crypto.GenerateRandom({ number_of_bytes: n });
      assert.equal(response.plaintext.length, n);
    }
    const a = await grpc.crypto.GenerateRandom({ number_of_bytes: 32 });
    const b = await grpc.crypto.GenerateRandom({ number_of_bytes: 32 });
    assert.notDeepEqual(a.plaintext, b.plaintext);
  });
});

describe("grpc.health.v1 over grpc-js + proto-loader", () => {
  test("Check reports SERVING overall and for both key services", async () => {
    for (const service of ["", "keyhold.key.v1.KeyService", "keyhold.key.v1.CryptoService"]) {
      assert.equal((await grpc.health.Check({ service })).status, "SERVING", `health of "${service}"`);
    }
  });

  test("Check needs no credential (probes have none)", async () => {
    assert.equal((await grpc.health.Check({ service: "" }, new Metadata())).status, "SERVING");
  });
});
