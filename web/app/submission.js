// One Idempotency-Key per submission of a form. A retry of the same submission after the
// network failed or the platform said 503 (the outcome unknown: the card may have been
// charged) re-sends that key, so the platform answers with the first attempt's outcome
// instead of charging twice; any other submission gets a fresh key.
import { ApiError } from "./api.js";

export function retryable(err) {
  return err instanceof ApiError && (err.status === 0 || err.status === 503);
}

function freshKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; a plain-http address other than loopback lacks one.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class Submissions {
  constructor() {
    this.last = null; // {fingerprint, key, unknown}
  }

  // The key for sending `body` as `what`: the previous one when this is that submission again
  // and its outcome was never heard.
  key(what, body) {
    const fingerprint = `${what} ${JSON.stringify(body)}`;
    if (this.last && this.last.unknown && this.last.fingerprint === fingerprint) {
      return this.last.key;
    }
    this.last = { fingerprint, key: freshKey(), unknown: false };
    return this.last.key;
  }

  // An answer was heard (success or refusal): the next submission is a new one.
  answered() {
    this.last = null;
  }

  failed(err) {
    if (!this.last) return;
    if (retryable(err)) this.last.unknown = true;
    else this.last = null;
  }
}
