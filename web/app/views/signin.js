import { api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { signedIn } from "../main.js";

export async function renderSignIn() {
  const email = h("input", { id: "email", type: "email", name: "email", autocomplete: "username",
                             required: true, placeholder: "you@example.com" });
  const password = h("input", { id: "password", type: "password", name: "password",
                                autocomplete: "current-password", required: true });
  const error = h("p.form-error", { role: "alert", "aria-live": "assertive" });
  const submit = h("button.button.red", { type: "submit" }, "Sign in");
  const form = h("form", { "aria-labelledby": "signin-heading", novalidate: true },
    h("div.field", {}, h("label", { for: "email" }, "Email"), email),
    h("div.field", {}, h("label", { for: "password" }, "Password"), password),
    error, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!email.value || !password.value) {
      error.textContent = "Enter your email and password.";
      return;
    }
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      const me = await api.signIn(email.value.trim(), password.value);
      await signedIn(me);
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401
        ? "That email and password don't match an account." : err.message;
      submit.disabled = false;
      submit.textContent = "Sign in";
      password.select();
    }
  });
  const el = h("section.signin-page", {},
    h("div.signin-card", {},
      h("span.brand", { "aria-hidden": "true" }, "reel", h("span", {}, "cloud")),
      h("h1", { id: "signin-heading" }, "Sign in"),
      form,
      h("p.switch", {}, "New here? ", h("a", { href: "#/signup", id: "join-link" }, "Join")),
      h("p.hint", {}, "Demo members: alice, bruno, chen, dana or eve @reelcloud.test, ",
        "password ", h("code", {}, "reelcloud"), ".")));
  return { el, focus: email };
}
