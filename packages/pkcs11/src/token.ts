// The connection to one token through the PKCS#11 module: C_Initialize (CKF_OS_LOCKING_OK, so
// the module may be called from the libuv thread pool), the slot found by label or id, and one
// session that holds the login for the whole token (PKCS#11 logins are per token: every session
// of the application shares it as long as one session stays open). A lost token is marked down;
// once no operation runs any more the module is finalized, and the next connect() initializes it
// again and finds the token afresh (its slot id may have changed).
import pkcs11js from "pkcs11js";
import type { Logger } from "@keyhold/server-kit";
import type { HsmPin, TokenSelector } from "./pin.ts";
import { ckrOf } from "./ckr.ts";

export type Pkcs11 = pkcs11js.PKCS11;

/** Session states (PKCS#11 2.40 section 5.7; pkcs11js does not export them). */
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;
export type Handle = Buffer;

export interface TokenOptions {
  readonly modulePath: string;
  readonly token: TokenSelector;
  readonly pin: HsmPin;
  readonly logger: Logger;
  /** Loads the module (tests may wrap it); default: new PKCS11().load(path). */
  readonly load?: (path: string) => Pkcs11;
}

/** A failure to reach the token, with the CKR_* name when the module gave one. */
export class TokenUnavailableError extends Error {
  override readonly name = "TokenUnavailableError";
  readonly ckr: string | undefined;
  constructor(message: string, ckr?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.ckr = ckr;
  }
}

export class Token {
  readonly #options: TokenOptions;
  #module: Pkcs11 | undefined;
  #initialized = false;
  #slot: Handle | undefined;
  #loginSession: Handle | undefined;
  #label = "";
  /** Bumped whenever the sessions opened so far become invalid (module finalized or token lost). */
  #generation = 0;

  constructor(options: TokenOptions) {
    this.#options = options;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Connected: initialized, token found, logged in. */
  get up(): boolean {
    return this.#loginSession !== undefined;
  }

  get label(): string {
    return this.#label;
  }

  /** The module, for operations on sessions this token opened (only while up). */
  get module(): Pkcs11 {
    if (this.#module === undefined || !this.up) throw new TokenUnavailableError("the token is not connected");
    return this.#module;
  }

  /** Initializes the module if needed, finds the token and logs in. Synchronous (fast). */
  connect(): void {
    if (this.up) return;
    try {
      if (this.#module === undefined) {
        this.#module = this.#options.load?.(this.#options.modulePath) ?? loadModule(this.#options.modulePath);
      }
      const module = this.#module;
      if (!this.#initialized) {
        try {
          module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
        } catch (error) {
          if (ckrOf(error) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") throw error;
        }
        this.#initialized = true;
      }
      const slot = this.#findSlot(module);
      const session = module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        module.C_Login(session, pkcs11js.CKU_USER, this.#options.pin.reveal());
      } catch (error) {
        if (ckrOf(error) !== "CKR_USER_ALREADY_LOGGED_IN") {
          closeQuietly(module, session);
          throw error;
        }
      }
      this.#slot = slot;
      this.#loginSession = session;
      this.#options.logger.info("hsm token connected", { token: this.#label });
    } catch (error) {
      if (error instanceof TokenUnavailableError) throw error;
      const ckr = ckrOf(error);
      throw new TokenUnavailableError(`cannot connect to the token${ckr === undefined ? "" : `: ${ckr}`}`, ckr, error);
    }
  }

  #findSlot(module: Pkcs11): Handle {
    const selector = this.#options.token;
    for (const slot of module.C_GetSlotList(true)) {
      const info = module.C_GetTokenInfo(slot);
      const label = info.label.trim();
      const matches = "label" in selector ? label === selector.label : slot.readUIntLE(0, Math.min(6, slot.length)) === selector.slot;
      if (matches) {
        if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) throw new TokenUnavailableError("the token is not initialized", "CKR_TOKEN_NOT_RECOGNIZED");
        this.#label = label;
        return slot;
      }
    }
    throw new TokenUnavailableError("the configured token is not present", "CKR_TOKEN_NOT_PRESENT");
  }

  /** A new session for operations (read-write, so it can create and destroy token objects). */
  openSession(): Handle {
    if (this.#slot === undefined) throw new TokenUnavailableError("the token is not connected");
    return this.module.C_OpenSession(this.#slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  }

  closeSession(session: Handle): void {
    if (this.#module !== undefined && this.#initialized) closeQuietly(this.#module, session);
  }

  /** Whether the login session is open and logged in (one fast call). */
  loggedIn(): boolean {
    if (this.#module === undefined || this.#loginSession === undefined) return false;
    try {
      const state = this.#module.C_GetSessionInfo(this.#loginSession).state;
      return state === CKS_RW_USER_FUNCTIONS || state === CKS_RO_USER_FUNCTIONS;
    } catch {
      return false;
    }
  }

  /** Logs in again through a fresh login session (after CKR_USER_NOT_LOGGED_IN). */
  relogin(): void {
    if (this.#module === undefined || this.#loginSession === undefined) return;
    closeQuietly(this.#module, this.#loginSession);
    this.#loginSession = undefined;
    this.connect();
  }

  /** Forgets the token: every session opened so far is invalid from now on. */
  markDown(): void {
    if (this.#loginSession !== undefined) this.#options.logger.warn("hsm token lost: reconnecting", { token: this.#label });
    this.#loginSession = undefined;
    this.#slot = undefined;
    this.#generation++;
  }

  /**
   * Finalizes the module so the next connect() initializes it afresh (rescanning the tokens).
   * Only when no operation runs: the caller (the pool) makes sure of it.
   */
  finalize(): void {
    this.markDown();
    if (this.#module !== undefined && this.#initialized) {
      try {
        this.#module.C_Finalize();
      } catch {
        // Already finalized or broken: initializing again is what matters.
      }
    }
    this.#initialized = false;
  }

  /**
   * Asks the module about the token; throws its Pkcs11Error when the token is gone (SoftHSMv2
   * answers CKR_GENERAL_ERROR once its token directory has disappeared, while searches just find
   * nothing). Called before answering KEY_NOT_FOUND, so a lost token is never reported as a lost key.
   */
  checkPresent(): void {
    if (this.#slot === undefined || this.#loginSession === undefined) throw new TokenUnavailableError("the token is not connected");
    const module = this.module;
    module.C_GetTokenInfo(this.#slot);
    // Private objects are invisible without the login: a lost login must not read as a lost key.
    let state: number;
    try {
      state = module.C_GetSessionInfo(this.#loginSession).state;
    } catch (error) {
      throw new TokenUnavailableError("the login session is gone", "CKR_USER_NOT_LOGGED_IN", error);
    }
    if (state !== CKS_RW_USER_FUNCTIONS && state !== CKS_RO_USER_FUNCTIONS) {
      throw new TokenUnavailableError("the token is not logged in", "CKR_USER_NOT_LOGGED_IN");
    }
  }

  /** Whether the token is present in its slot and logged in, asking the module (fast). */
  probe(): { readonly present: boolean; readonly loggedIn: boolean } {
    if (this.#module === undefined || this.#loginSession === undefined || this.#slot === undefined) return { present: false, loggedIn: false };
    try {
      this.#module.C_GetTokenInfo(this.#slot);
      const info = this.#module.C_GetSessionInfo(this.#loginSession);
      const loggedIn = info.state === CKS_RW_USER_FUNCTIONS || info.state === CKS_RO_USER_FUNCTIONS;
      return { present: true, loggedIn };
    } catch {
      return { present: false, loggedIn: false };
    }
  }

  close(): void {
    this.finalize();
  }
}

function loadModule(path: string): Pkcs11 {
  const module = new pkcs11js.PKCS11();
  module.load(path);
  return module;
}

function closeQuietly(module: Pkcs11, session: Handle): void {
  try {
    module.C_CloseSession(session);
  } catch {
    // The session is gone already.
  }
}
