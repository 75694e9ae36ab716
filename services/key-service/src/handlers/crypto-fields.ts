// Request checks shared by the data-plane handlers.
import { EncryptionAlgorithm } from "@keyhold/proto";
import { invalidArgument } from "@keyhold/server-kit";
import { validateEncryptionContext, type EncryptionContext } from "../domain/encryption-context.ts";

export function symmetricAlgorithm(algorithm: EncryptionAlgorithm, field = "encryption_algorithm"): EncryptionAlgorithm {
  if (algorithm === EncryptionAlgorithm.UNSPECIFIED || algorithm === EncryptionAlgorithm.SYMMETRIC_DEFAULT) {
    return EncryptionAlgorithm.SYMMETRIC_DEFAULT;
  }
  throw invalidArgument(field, "only SYMMETRIC_DEFAULT is valid for symmetric keys");
}

export function encryptionContext(context: EncryptionContext, field: string): EncryptionContext {
  validateEncryptionContext(context, field);
  return context;
}
