// Sign, Verify and GetPublicKey for every asymmetric signing spec, with signatures checked by
// tools nobody here wrote: the openssl CLI and Node's WebCrypto.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { KeySpec, KeyState, KeyUsage, MessageType, SigningAlgorithm, type KeyMetadata } from "@keyhold/proto";
import { invalid, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

const message = new TextEncoder().encode("sign me: the quick brown fox");

interface Case {
  readonly spec: KeySpec;
  readonly algorithm: SigningAlgorithm;
  /** openssl dgst options. */
  readonly hash: string;
  readonly openssl: readonly string[];
}

const CASES: readonly Case[] = [
  { spec: KeySpec.RSA_2048, algorithm: SigningAlgorithm.RSASSA_PSS_SHA_256, hash: "sha256", openssl: ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"] },
  { spec: KeySpec.RSA_2048, algorithm: SigningAlgorithm.RSASSA_PSS_SHA_384, hash: "sha384", openssl: ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"] },
  { spec: KeySpec.RSA_3072, algorithm: SigningAlgorithm.RSASSA_PSS_SHA_512, hash: "sha512", openssl: ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:64"] },
  { spec: KeySpec.RSA_2048, algorithm: SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_256, hash: "sha256", openssl: [] },
  { spec: KeySpec.RSA_2048, algorithm: SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_384, hash: "sha384", openssl: [] },
  { spec: KeySpec.RSA_4096, algorithm: SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_512, hash: "sha512", openssl: [] },
  { spec: KeySpec.EC_P256, algorithm: SigningAlgorithm.ECDSA_SHA_256, hash: "sha256", openssl: [] },
  { spec: KeySpec.EC_P384, algorithm: SigningAlgorithm.ECDSA_SHA_384, hash: "sha384", openssl: [] },
  { spec: KeySpec.EC_SECG_P256K1, algorithm: SigningAlgorithm.ECDSA_SHA_256, hash: "sha256", openssl: [] },
];

describe("asymmetric signing keys: GetPublicKey, Sign, Verify", () => {
  let service: TestKeyService;
  let dir: string;
  const keys = new Map<KeySpec, KeyMetadata>();
  before(async () => {
    service = await startTestKeyService();
    dir = mkdtempSync(join(tmpdir(), "keyhold-sign-"));
    for (const spec of new Set([...CASES.map((c) => c.spec), KeySpec.ED25519])) {
      keys.set(spec, (await service.keys.createKey({ keySpec: spec, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!);
    }
  });
  after(async () => {
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const file = (name: string, content: Uint8Array | string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const opensslVerifies = (pem: string, hash: string | undefined, options: readonly string[], signature: Uint8Array, data: Uint8Array, label: string) => {
    const args = hash === undefined
      ? ["pkeyutl", "-verify", "-pubin", "-inkey", file(`${label}.pem`, pem), "-rawin", "-in", file(`${label}.msg`, data), "-sigfile", file(`${label}.sig`, signature)]
      : ["dgst", `-${hash}`, "-verify", file(`${label}.pem`, pem), ...options, "-signature", file(`${label}.sig`, signature), file(`${label}.msg`, data)];
    return execFileSync("openssl", args, { encoding: "utf8" }).trim();
  };

  test("created keys describe their usage and signing algorithms; GetPublicKey gives DER and PEM of the same key", async () => {
    const rsa = keys.get(KeySpec.RSA_2048)!;
    assert.equal(rsa.keyUsage, KeyUsage.SIGN_VERIFY);
    assert.equal(rsa.signingAlgorithms.length, 6);
    assert.deepEqual(rsa.encryptionAlgorithms, []);
    assert.deepEqual(keys.get(KeySpec.EC_P384)!.signingAlgorithms, [SigningAlgorithm.ECDSA_SHA_384]);
    for (const [spec, key] of keys) {
      const pub = await service.keys.getPublicKey({ keyId: key.keyId });
      assert.equal(pub.keyId, key.krn);
      assert.equal(pub.keySpec, spec);
      assert.equal(pub.keyVersionId, key.primaryVersionId);
      assert.deepEqual(pub.signingAlgorithms, key.signingAlgorithms);
      const fromDer = crypto.createPublicKey({ key: Buffer.from(pub.publicKey), format: "der", type: "spki" });
      const fromPem = crypto.createPublicKey(pub.publicKeyPem);
      assert.ok(fromDer.equals(fromPem));
      // openssl reads it too.
      const text = execFileSync("openssl", ["pkey", "-pubin", "-in", file(`pub-${spec}.pem`, pub.publicKeyPem), "-noout", "-text"], { encoding: "utf8" });
      assert.match(text, /Public-Key|ED25519/);
    }
  });

  for (const c of CASES) {
    test(`${SigningAlgorithm[c.algorithm]} on ${KeySpec[c.spec]}: RAW and DIGEST signatures verify with openssl, WebCrypto and Verify`, async () => {
      const key = keys.get(c.spec)!;
      const pem = (await service.keys.getPublicKey({ keyId: key.keyId })).publicKeyPem;
      const raw = await service.crypto.sign({ keyId: key.keyId, message, signingAlgorithm: c.algorithm });
      assert.equal(raw.keyId, key.krn);
      assert.equal(raw.signingAlgorithm, c.algorithm);
      assert.equal(opensslVerifies(pem, c.hash, c.openssl, raw.signature, message, `raw-${c.algorithm}-${c.spec}`), "Verified OK");
      assert.equal((await service.crypto.verify({ keyId: key.keyId, message, signingAlgorithm: c.algorithm, signature: raw.signature })).signatureValid, true);
      const isRsa = c.spec === KeySpec.RSA_2048 || c.spec === KeySpec.RSA_3072 || c.spec === KeySpec.RSA_4096;
      {
        const digest = crypto.createHash(c.hash).update(message).digest();
        const signed = await service.crypto.sign({ keyId: key.keyId, message: digest, messageType: MessageType.DIGEST, signingAlgorithm: c.algorithm });
        assert.equal(opensslVerifies(pem, c.hash, c.openssl, signed.signature, message, `digest-${c.algorithm}-${c.spec}`), "Verified OK");
        // Verified as DIGEST and as RAW, by the service.
        await service.crypto.verify({ keyId: key.keyId, message: digest, messageType: MessageType.DIGEST, signingAlgorithm: c.algorithm, signature: signed.signature });
        await service.crypto.verify({ keyId: key.keyId, message, signingAlgorithm: c.algorithm, signature: signed.signature });
        await service.crypto.verify({ keyId: key.keyId, message: digest, messageType: MessageType.DIGEST, signingAlgorithm: c.algorithm, signature: raw.signature });
      }
      if (c.spec !== KeySpec.EC_SECG_P256K1) {
        // WebCrypto: ECDSA wants IEEE P1363 (r||s), so convert from DER with Node.
        const spki = (await service.keys.getPublicKey({ keyId: key.keyId })).publicKey;
        const hash = `SHA-${c.hash.slice(3)}`;
        const algorithm = isRsa
          ? c.algorithm <= SigningAlgorithm.RSASSA_PSS_SHA_512
            ? { name: "RSA-PSS", hash }
            : { name: "RSASSA-PKCS1-v1_5", hash }
          : { name: "ECDSA", namedCurve: c.spec === KeySpec.EC_P256 ? "P-256" : "P-384" };
        const imported = await crypto.subtle.importKey("spki", spki, algorithm, false, ["verify"]);
        const signature = isRsa ? raw.signature : derToP1363(raw.signature, c.spec === KeySpec.EC_P256 ? 32 : 48);
        const params = isRsa ? (c.algorithm <= SigningAlgorithm.RSASSA_PSS_SHA_512 ? { name: "RSA-PSS", saltLength: Number(c.hash.slice(3)) / 8 } : { name: "RSASSA-PKCS1-v1_5" }) : { name: "ECDSA", hash };
        assert.equal(await crypto.subtle.verify(params, imported, signature, message), true, "WebCrypto verifies");
      }
    });
  }

  test("ED25519_SHA_512 signatures verify with openssl and WebCrypto", async () => {
    const key = keys.get(KeySpec.ED25519)!;
    const pub = await service.keys.getPublicKey({ keyId: key.keyId });
    const { signature } = await service.crypto.sign({ keyId: key.keyId, message, signingAlgorithm: SigningAlgorithm.ED25519_SHA_512 });
    assert.equal(signature.length, 64);
    assert.match(opensslVerifies(pub.publicKeyPem, undefined, [], signature, message, "ed25519"), /Signature Verified Successfully/);
    const imported = await crypto.subtle.importKey("spki", pub.publicKey, { name: "Ed25519" }, false, ["verify"]);
    assert.equal(await crypto.subtle.verify({ name: "Ed25519" }, imported, signature, message), true);
    await service.crypto.verify({ keyId: key.keyId, message, signingAlgorithm: SigningAlgorithm.ED25519_SHA_512, signature });
  });

  test("a signature that does not verify is INVALID_SIGNATURE", async () => {
    const key = keys.get(KeySpec.EC_P256)!;
    const algorithm = SigningAlgorithm.ECDSA_SHA_256;
    const { signature } = await service.crypto.sign({ keyId: key.keyId, message, signingAlgorithm: algorithm });
    const bad = { code: Code.InvalidArgument, reason: "INVALID_SIGNATURE", field: "signature" };
    assert.deepEqual(await refusal(service.crypto.verify({ keyId: key.keyId, message: new Uint8Array([1]), signingAlgorithm: algorithm, signature })), bad);
    const flipped = Uint8Array.from(signature);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
    assert.deepEqual(await refusal(service.crypto.verify({ keyId: key.keyId, message, signingAlgorithm: algorithm, signature: flipped })), bad);
    assert.deepEqual(await refusal(service.crypto.verify({ keyId: key.keyId, message, signingAlgorithm: algorithm, signature: new Uint8Array(10) })), bad);
    const rsa = keys.get(KeySpec.RSA_2048)!;
    const rsaSig = (await service.crypto.sign({ keyId: rsa.keyId, message, signingAlgorithm: SigningAlgorithm.RSASSA_PSS_SHA_256 })).signature;
    // Same key, other padding or hash: no.
    assert.deepEqual(await refusal(service.crypto.verify({ keyId: rsa.keyId, message, signingAlgorithm: SigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_256, signature: rsaSig })), bad);
    assert.deepEqual(await refusal(service.crypto.verify({ keyId: rsa.keyId, message, signingAlgorithm: SigningAlgorithm.RSASSA_PSS_SHA_384, signature: rsaSig })), bad);
    const digest = crypto.createHash("sha256").update("other").digest();
    assert.deepEqual(await refusal(service.crypto.verify({ keyId: rsa.keyId, message: digest, messageType: MessageType.DIGEST, signingAlgorithm: SigningAlgorithm.RSASSA_PSS_SHA_256, signature: rsaSig })), bad);
  });

  test("refuses bad input naming the field", async () => {
    const ec = keys.get(KeySpec.EC_P256)!;
    const rsa = keys.get(KeySpec.RSA_2048)!;
    const ed = keys.get(KeySpec.ED25519)!;
    const sign = (request: Parameters<typeof service.crypto.sign>[0]) => refusal(service.crypto.sign(request));
    assert.deepEqual(await sign({ keyId: ec.keyId, message }), invalid("signing_algorithm"));
    assert.deepEqual(await sign({ keyId: ec.keyId, message, signingAlgorithm: 77 as SigningAlgorithm }), invalid("signing_algorithm"));
    assert.deepEqual(await sign({ keyId: ec.keyId, message, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_384 }), invalid("signing_algorithm"));
    assert.deepEqual(await sign({ keyId: ec.keyId, message, signingAlgorithm: SigningAlgorithm.RSASSA_PSS_SHA_256 }), invalid("signing_algorithm"));
    assert.deepEqual(await sign({ keyId: ec.keyId, message: new Uint8Array(), signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 }), invalid("message"));
    assert.deepEqual(await sign({ keyId: ec.keyId, message: new Uint8Array(4097), signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 }), invalid("message"));
    assert.ok(await service.crypto.sign({ keyId: ec.keyId, message: new Uint8Array(4096), signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 }));
    assert.deepEqual(await sign({ keyId: ec.keyId, message, messageType: 9 as MessageType, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 }), invalid("message_type"));
    assert.deepEqual(await sign({ keyId: ec.keyId, message: new Uint8Array(31), messageType: MessageType.DIGEST, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 }), invalid("message"));
    assert.deepEqual(await sign({ keyId: ed.keyId, message: new Uint8Array(64), messageType: MessageType.DIGEST, signingAlgorithm: SigningAlgorithm.ED25519_SHA_512 }), invalid("message_type"));
    assert.deepEqual(await sign({ keyId: rsa.keyId, message: new Uint8Array(31), messageType: MessageType.DIGEST, signingAlgorithm: SigningAlgorithm.RSASSA_PSS_SHA_256 }), invalid("message"));
    assert.deepEqual(await sign({ keyId: rsa.keyId, message: new Uint8Array(32), messageType: MessageType.DIGEST, signingAlgorithm: SigningAlgorithm.RSASSA_PSS_SHA_384 }), invalid("message"));
    assert.deepEqual(await sign({ keyId: "", message, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 }), invalid("key_id"));
    assert.deepEqual(await refusal(service.crypto.verify({ keyId: ec.keyId, message, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 })), invalid("signature"));
    assert.deepEqual(await refusal(service.crypto.verify({ keyId: ec.keyId, message, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256, signature: new Uint8Array(1025) })), invalid("signature"));
  });

  test("keys of other usages refuse; symmetric keys have no public key", async () => {
    const symmetric = (await service.keys.createKey({})).keyMetadata!;
    const rsaEncrypt = (await service.keys.createKey({ keySpec: KeySpec.RSA_2048 })).keyMetadata!;
    assert.equal(rsaEncrypt.keyUsage, KeyUsage.ENCRYPT_DECRYPT);
    const mismatch = { code: Code.FailedPrecondition, reason: "KEY_USAGE_MISMATCH", field: "key_id" };
    assert.deepEqual(await refusal(service.crypto.sign({ keyId: symmetric.keyId, message, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 })), mismatch);
    assert.deepEqual(await refusal(service.crypto.sign({ keyId: rsaEncrypt.keyId, message, signingAlgorithm: SigningAlgorithm.RSASSA_PSS_SHA_256 })), mismatch);
    assert.deepEqual(await refusal(service.keys.getPublicKey({ keyId: symmetric.keyId })), mismatch);
    const ec = keys.get(KeySpec.EC_P256)!;
    assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: ec.keyId, plaintext: message })), mismatch);
    assert.deepEqual(await refusal(service.crypto.generateDataKey({ keyId: rsaEncrypt.keyId })), mismatch);
    assert.equal((await refusal(service.keys.rotateKey({ keyId: ec.keyId }))).reason, "UNSUPPORTED_OPERATION");
  });

  test("states: disabled and pending deletion refuse Sign, Verify and GetPublicKey; another account sees no key", async () => {
    const key = (await service.keys.createKey({ keySpec: KeySpec.EC_P256 })).keyMetadata!;
    const algorithm = SigningAlgorithm.ECDSA_SHA_256;
    const { signature } = await service.crypto.sign({ keyId: key.keyId, message, signingAlgorithm: algorithm });
    await service.keys.disableKey({ keyId: key.keyId });
    for (const call of [
      service.crypto.sign({ keyId: key.keyId, message, signingAlgorithm: algorithm }),
      service.crypto.verify({ keyId: key.keyId, message, signingAlgorithm: algorithm, signature }),
      service.keys.getPublicKey({ keyId: key.keyId }),
    ]) {
      assert.equal((await refusal(call)).reason, "KEY_DISABLED");
    }
    await service.keys.scheduleKeyDeletion({ keyId: key.keyId });
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.PENDING_DELETION);
    assert.equal((await refusal(service.crypto.sign({ keyId: key.keyId, message, signingAlgorithm: algorithm }))).reason, "KEY_PENDING_DELETION");
    const them = service.as(OTHER_ACCOUNT);
    const ec = keys.get(KeySpec.EC_P256)!;
    assert.equal((await refusal(them.crypto.sign({ keyId: ec.krn, message, signingAlgorithm: algorithm }))).reason, "KEY_NOT_FOUND");
    assert.equal((await refusal(them.keys.getPublicKey({ keyId: ec.krn }))).reason, "KEY_NOT_FOUND");
  });
});

/** ECDSA DER (SEQUENCE of two INTEGERs) to IEEE P1363 r||s. */
function derToP1363(der: Uint8Array, size: number): Uint8Array {
  const buf = Buffer.from(der);
  let offset = 2;
  if (buf[1]! & 0x80) offset = 2 + (buf[1]! & 0x7f);
  const readInt = () => {
    assert.equal(buf[offset], 0x02);
    const length = buf[offset + 1]!;
    const value = buf.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
    const trimmed = value[0] === 0 ? value.subarray(1) : value;
    return Buffer.concat([Buffer.alloc(size - trimmed.length), trimmed]);
  };
  return Buffer.concat([readInt(), readInt()]);
}
