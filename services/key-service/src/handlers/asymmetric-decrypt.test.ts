// AsymmetricEncrypt / AsymmetricDecrypt with RSA keys, and interop: data encrypted with
// `openssl pkeyutl` under the public key from GetPublicKey decrypts with AsymmetricDecrypt, and
// the other way round.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { EncryptionAlgorithm, KeySpec, KeyUsage, type KeyMetadata } from "@keyhold/proto";
import { invalid, OTHER_ACCOUNT, refusal, startTestKeyService, type TestKeyService } from "../test-support.ts";

const OAEP = [
  [EncryptionAlgorithm.RSAES_OAEP_SHA_1, "sha1"],
  [EncryptionAlgorithm.RSAES_OAEP_SHA_256, "sha256"],
] as const;

describe("RSA ENCRYPT_DECRYPT keys: AsymmetricEncrypt and AsymmetricDecrypt", () => {
  let service: TestKeyService;
  let dir: string;
  const keys = new Map<KeySpec, KeyMetadata>();
  before(async () => {
    service = await startTestKeyService();
    dir = mkdtempSync(join(tmpdir(), "keyhold-oaep-"));
    for (const spec of [KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096]) {
      keys.set(spec, (await service.keys.createKey({ keySpec: spec, keyUsage: KeyUsage.ENCRYPT_DECRYPT })).keyMetadata!);
    }
  });
  after(async () => {
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("keys describe RSAES_OAEP_SHA_1 and _SHA_256", async () => {
    const key = keys.get(KeySpec.RSA_2048)!;
    assert.deepEqual(key.encryptionAlgorithms, [EncryptionAlgorithm.RSAES_OAEP_SHA_1, EncryptionAlgorithm.RSAES_OAEP_SHA_256]);
    assert.deepEqual(key.signingAlgorithms, []);
    assert.deepEqual((await service.keys.getPublicKey({ keyId: key.keyId })).encryptionAlgorithms, key.encryptionAlgorithms);
  });

  for (const spec of [KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096]) {
    for (const [algorithm, hash] of OAEP) {
      test(`${KeySpec[spec]} ${EncryptionAlgorithm[algorithm]}: openssl pkeyutl encrypts, AsymmetricDecrypt decrypts, and back`, async () => {
        const key = keys.get(spec)!;
        const pem = (await service.keys.getPublicKey({ keyId: key.keyId })).publicKeyPem;
        const plaintext = crypto.randomBytes(64);
        const pemFile = join(dir, `${spec}-${hash}.pem`);
        const inFile = join(dir, `${spec}-${hash}.in`);
        const outFile = join(dir, `${spec}-${hash}.out`);
        writeFileSync(pemFile, pem);
        writeFileSync(inFile, plaintext);
        execFileSync("openssl", ["pkeyutl", "-encrypt", "-pubin", "-inkey", pemFile, "-in", inFile, "-out", outFile,
          "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", `rsa_oaep_md:${hash}`, "-pkeyopt", `rsa_mgf1_md:${hash}`]);
        const ciphertextBlob = readFileSync(outFile);
        const decrypted = await service.crypto.asymmetricDecrypt({ keyId: key.keyId, ciphertextBlob, encryptionAlgorithm: algorithm });
        assert.deepEqual(Buffer.from(decrypted.plaintext), plaintext);
        assert.equal(decrypted.keyId, key.krn);
        assert.equal(decrypted.keyVersionId, key.primaryVersionId);
        assert.equal(decrypted.encryptionAlgorithm, algorithm);
        const encrypted = await service.crypto.asymmetricEncrypt({ keyId: key.keyId, plaintext, encryptionAlgorithm: algorithm });
        assert.equal(encrypted.ciphertextBlob.length, Number(KeySpec[spec].slice(4)) / 8);
        const back = await service.crypto.asymmetricDecrypt({ keyId: key.keyId, ciphertextBlob: encrypted.ciphertextBlob, encryptionAlgorithm: algorithm });
        assert.deepEqual(Buffer.from(back.plaintext), plaintext);
      });
    }
  }

  test("the largest plaintext OAEP allows is accepted, one more byte is refused", async () => {
    const key = keys.get(KeySpec.RSA_2048)!;
    const algorithm = EncryptionAlgorithm.RSAES_OAEP_SHA_256;
    const max = 256 - 2 * 32 - 2;
    const { ciphertextBlob } = await service.crypto.asymmetricEncrypt({ keyId: key.keyId, plaintext: new Uint8Array(max).fill(7), encryptionAlgorithm: algorithm });
    assert.equal((await service.crypto.asymmetricDecrypt({ keyId: key.keyId, ciphertextBlob, encryptionAlgorithm: algorithm })).plaintext.length, max);
    assert.deepEqual(await refusal(service.crypto.asymmetricEncrypt({ keyId: key.keyId, plaintext: new Uint8Array(max + 1), encryptionAlgorithm: algorithm })), invalid("plaintext"));
  });

  test("ciphertext that does not open (tampered, other hash, other key, wrong length) is INVALID_CIPHERTEXT", async () => {
    const key = keys.get(KeySpec.RSA_2048)!;
    const other = (await service.keys.createKey({ keySpec: KeySpec.RSA_2048 })).keyMetadata!;
    const algorithm = EncryptionAlgorithm.RSAES_OAEP_SHA_256;
    const { ciphertextBlob } = await service.crypto.asymmetricEncrypt({ keyId: key.keyId, plaintext: new Uint8Array([1, 2, 3]), encryptionAlgorithm: algorithm });
    const invalidCiphertext = { code: Code.InvalidArgument, reason: "INVALID_CIPHERTEXT", field: "ciphertext_blob" };
    const flipped = Uint8Array.from(ciphertextBlob);
    flipped[100] = flipped[100]! ^ 1;
    assert.deepEqual(await refusal(service.crypto.asymmetricDecrypt({ keyId: key.keyId, ciphertextBlob: flipped, encryptionAlgorithm: algorithm })), invalidCiphertext);
    assert.deepEqual(await refusal(service.crypto.asymmetricDecrypt({ keyId: key.keyId, ciphertextBlob, encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_1 })), invalidCiphertext);
    assert.deepEqual(await refusal(service.crypto.asymmetricDecrypt({ keyId: other.keyId, ciphertextBlob, encryptionAlgorithm: algorithm })), invalidCiphertext);
    assert.deepEqual(await refusal(service.crypto.asymmetricDecrypt({ keyId: key.keyId, ciphertextBlob: ciphertextBlob.subarray(1), encryptionAlgorithm: algorithm })), invalidCiphertext);
  });

  test("refuses bad input naming the field, and keys of other specs or usages", async () => {
    const key = keys.get(KeySpec.RSA_2048)!;
    assert.deepEqual(await refusal(service.crypto.asymmetricEncrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]) })), invalid("encryption_algorithm"));
    assert.deepEqual(await refusal(service.crypto.asymmetricEncrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]), encryptionAlgorithm: EncryptionAlgorithm.SYMMETRIC_DEFAULT })), invalid("encryption_algorithm"));
    assert.deepEqual(await refusal(service.crypto.asymmetricEncrypt({ keyId: key.keyId, plaintext: new Uint8Array(), encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 })), invalid("plaintext"));
    assert.deepEqual(await refusal(service.crypto.asymmetricDecrypt({ keyId: key.keyId, ciphertextBlob: new Uint8Array(), encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 })), invalid("ciphertext_blob"));
    assert.deepEqual(await refusal(service.crypto.asymmetricDecrypt({ keyId: "", ciphertextBlob: new Uint8Array(256), encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 })), invalid("key_id"));
    const signing = (await service.keys.createKey({ keySpec: KeySpec.RSA_2048, keyUsage: KeyUsage.SIGN_VERIFY })).keyMetadata!;
    const symmetric = (await service.keys.createKey({})).keyMetadata!;
    const mismatch = { code: Code.FailedPrecondition, reason: "KEY_USAGE_MISMATCH", field: "key_id" };
    assert.deepEqual(await refusal(service.crypto.asymmetricEncrypt({ keyId: signing.keyId, plaintext: new Uint8Array([1]), encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 })), mismatch);
    assert.deepEqual(await refusal(service.crypto.asymmetricDecrypt({ keyId: symmetric.keyId, ciphertextBlob: new Uint8Array(256), encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 })), mismatch);
  });

  test("states and accounts: disabled refuses, another account sees no key", async () => {
    const key = (await service.keys.createKey({ keySpec: KeySpec.RSA_2048 })).keyMetadata!;
    const algorithm = EncryptionAlgorithm.RSAES_OAEP_SHA_256;
    const { ciphertextBlob } = await service.crypto.asymmetricEncrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]), encryptionAlgorithm: algorithm });
    await service.keys.disableKey({ keyId: key.keyId });
    assert.equal((await refusal(service.crypto.asymmetricDecrypt({ keyId: key.keyId, ciphertextBlob, encryptionAlgorithm: algorithm }))).reason, "KEY_DISABLED");
    assert.equal((await refusal(service.crypto.asymmetricEncrypt({ keyId: key.keyId, plaintext: new Uint8Array([1]), encryptionAlgorithm: algorithm }))).reason, "KEY_DISABLED");
    const them = service.as(OTHER_ACCOUNT);
    assert.equal((await refusal(them.crypto.asymmetricDecrypt({ keyId: keys.get(KeySpec.RSA_2048)!.krn, ciphertextBlob, encryptionAlgorithm: algorithm }))).reason, "KEY_NOT_FOUND");
  });
});
