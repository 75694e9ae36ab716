// GenerateDataKey's length rules, as AWS KMS: key_spec or number_of_bytes, never both.
import { DataKeySpec } from "@keyhold/proto";
import { invalidArgument } from "@keyhold/server-kit";

export const MIN_DATA_KEY_BYTES = 1;
export const MAX_DATA_KEY_BYTES = 1024;
/** Length when the request names neither key_spec nor number_of_bytes: AES_256. */
export const DEFAULT_DATA_KEY_BYTES = 32;

/**
 * The data key length in bytes. `numberOfBytes` 0 means unset (proto3 default), as does
 * DataKeySpec.UNSPECIFIED. Neither set → 32 bytes (Keyhold defaults to AES_256 where AWS
 * requires one of the two).
 */
export function dataKeyLength(keySpec: DataKeySpec, numberOfBytes: number): number {
  const specSet = keySpec !== DataKeySpec.UNSPECIFIED;
  const bytesSet = numberOfBytes !== 0;
  if (specSet && bytesSet) throw invalidArgument("key_spec", "specify key_spec or number_of_bytes, not both");
  if (bytesSet) {
    if (!Number.isInteger(numberOfBytes) || numberOfBytes < MIN_DATA_KEY_BYTES || numberOfBytes > MAX_DATA_KEY_BYTES) {
      throw invalidArgument("number_of_bytes", `must be between ${MIN_DATA_KEY_BYTES} and ${MAX_DATA_KEY_BYTES}`);
    }
    return numberOfBytes;
  }
  switch (keySpec) {
    case DataKeySpec.UNSPECIFIED:
    case DataKeySpec.AES_256:
      return DEFAULT_DATA_KEY_BYTES;
    case DataKeySpec.AES_128:
      return 16;
    default:
      throw invalidArgument("key_spec", "unknown data key spec");
  }
}
