// A secret held in configuration (an HSM PIN, an admin token): reveal() is the only way to its
// value, and everything that prints or serializes an object (String(), template strings, JSON,
// util.inspect, so also log fields) shows "[redacted]" instead.
export class RedactedSecret {
  readonly #value: string;
  readonly #kind: string;

  /** kind: how util.inspect names it, e.g. "HsmPin". */
  constructor(value: string, kind: string) {
    this.#value = value;
    this.#kind = kind;
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
    return `${this.#kind}([redacted])`;
  }
}
