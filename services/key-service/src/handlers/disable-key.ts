import { KeyState, type DisableKeyRequestSchema, type DisableKeyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { changeKeyState } from "./key-state-change.ts";

export function disableKey(ctx: AppContext): UnaryHandler<typeof DisableKeyRequestSchema, typeof DisableKeyResponseSchema> {
  return (request, call) => changeKeyState(ctx, request.keyId, call, KeyState.DISABLED);
}
