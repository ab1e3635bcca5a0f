// The platform's HTTP APIs through the gateway (same origin; the session is an HttpOnly
// cookie set at sign-in). Errors come back as {error: {code, message}}: ApiError keeps both.
import { settings } from "./store.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let reply;
  try {
    reply = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", "Cannot reach reelcloud. Check your connection and try again.");
  }
  const text = await reply.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!reply.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(reply.status, error.code || `http_${reply.status}`,
                       error.message || `The request failed (${reply.status}).`);
  }
  return data;
}

// A mutating call that may charge carries the submission's Idempotency-Key: the same key again
// gets the first request's answer, never a second charge.
const keyed = (key) => (key ? { "Idempotency-Key": key } : {});

export const api = {
  signIn: (email, password) => request("POST", "/api/accounts/login", { email, password }),
  signOut: () => request("POST", "/api/accounts/logout"),
  me: () => request("GET", "/api/accounts/me"),
  plans: (country) => request("GET", `/api/signup/plans?country=${encodeURIComponent(country)}`),
  signUp: (body, key) => request("POST", "/api/signup", body, keyed(key)),
  account: () => request("GET", "/api/signup/account"),
  invoices: () => request("GET", "/api/signup/account/invoices"),
  changePlan: (plan, key) => request("POST", "/api/signup/account/plan", { plan }, keyed(key)),
  cancel: (key) => request("POST", "/api/signup/account/cancel", {}, keyed(key)),
  rejoin: (body, key) => request("POST", "/api/signup/account/rejoin", body, keyed(key)),
  paymentMethod: (card, key) =>
    request("PUT", "/api/signup/account/payment-method", { card }, keyed(key)),
  confirmPayment: (id, key) =>
    request("POST", `/api/signup/account/payments/${encodeURIComponent(id)}/confirm`, {}, keyed(key)),
  titles: (params = {}) => {
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
    return request("GET", "/api/catalog/titles" + (query ? `?${query}` : ""));
  },
  title: (id) => request("GET", `/api/catalog/titles/${encodeURIComponent(id)}`),
  // The simulated network rides along so steering picks that network's OCAs.
  play: (body) => {
    const network = settings.networkAddress();
    return request("POST", "/api/play", body, network ? { "X-Reelcloud-Network": network } : {});
  },
  heartbeat: (url, body) => request("POST", url, body),
  // On leaving the page a normal fetch may be cancelled; keepalive lets the stop get out.
  stop: (url, body) => fetch(url, {
    method: "POST", credentials: "same-origin", keepalive: true,
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  }).catch(() => null),
};
