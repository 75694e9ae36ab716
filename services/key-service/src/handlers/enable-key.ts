import { KeyState, type EnableKeyRequestSchema, type EnableKeyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { changeKeyState } from "./key-state-change.ts";

export function enableKey(ctx: AppContext): UnaryHandler<typeof EnableKeyRequestSchema, typeof EnableKeyResponseSchema> {
  return (request, call) => changeKeyState(ctx, request.keyId, call, KeyState.ENABLED);
}
