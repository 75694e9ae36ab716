// The token user PIN (never printed) and how a token is chosen (by label or slot id).
import { RedactedSecret } from "@keyhold/server-kit";

/** The user PIN; String(pin), JSON and util.inspect show "[redacted]". */
export class HsmPin extends RedactedSecret {
  constructor(value: string) {
    super(value, "HsmPin");
  }
}

/** Which token to use: by label (preferred: slot ids may change) or by slot id. */
export type TokenSelector = { readonly label: string } | { readonly slot: number };
