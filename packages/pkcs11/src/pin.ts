// The token user PIN (never printed) and how a token is chosen (by label or slot id).
/** The user PIN; String(pin), JSON and util.inspect show "[redacted]". */
export class HsmPin {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return "[redacted]";
  }
  toJSON(): string {
    return "[redacted]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "HsmPin([redacted])";
  }
}

/** Which token to use: by label (preferred: slot ids may change) or by slot id. */
export type TokenSelector = { readonly label: string } | { readonly slot: number };
