// The sign-up page: a country (the plans priced in its currency), a plan, an account and a
// card, sent as one POST /api/signup. A free trial is asked for first; when this email or card
// already had one the visitor is offered the first month now instead. A bank's second step is
// confirmed here; a declined card keeps everything typed but the card number.
import { api, ApiError } from "../api.js";
import { countryName, h } from "../dom.js";
import { signedIn } from "../main.js";
import { retryable, Submissions } from "../submission.js";
import { cardFields } from "./card.js";
import { planFacts, planName } from "./plans.js";

export const COUNTRIES = ["US", "CA", "GB", "FR", "DE", "ES", "IT", "BR", "MX"];
const DEFAULT_PLAN = "standard";
const PENDING_POLL_MS = 2000;

// The region of the browser's language ("en-GB" -> GB) when membership is sold there.
export function guessCountry() {
  for (const tag of [navigator.language, ...(navigator.languages || [])]) {
    let region = "";
    try { region = new Intl.Locale(tag).region || ""; } catch { continue; }
    if (COUNTRIES.includes(region)) return region;
  }
  return "US";
}

export async function renderSignUp() {
  const submissions = new Submissions();
  let offer = null; // the plans answer on screen
  let plansAsked = 0; // a slower answer for an earlier country must not overwrite a later one
  let poll = null;

  const country = h("select", { id: "signup-country", name: "country", autocomplete: "country" },
    COUNTRIES.map((code) => new Option(countryName(code), code)));
  country.value = guessCountry();
  const plansBox = h("div.plan-cards", { id: "plan-cards", "aria-live": "polite" });
  const plansNote = h("p.plan-note", { id: "plan-note" });
  const plansError = h("p.form-error", { role: "alert" });

  const email = h("input", { id: "signup-email", type: "email", name: "email", autocomplete: "email",
                             required: true, placeholder: "you@example.com" });
  const password = h("input", { id: "signup-password", type: "password", name: "password",
                                autocomplete: "new-password", required: true, minlength: 8 });
  const name = h("input", { id: "signup-name", name: "name", autocomplete: "name", required: true });
  const emailError = h("p.form-error", { id: "signup-email-error", "aria-live": "polite" });
  email.setAttribute("aria-describedby", "signup-email-error");
  const card = cardFields("signup-card", "Payment");

  const error = h("p.form-error", { id: "signup-error", role: "alert", "aria-live": "assertive" });
  const offerBox = h("div.trial-offer", { id: "trial-offer", hidden: true, role: "alert" });
  const submit = h("button.button.red", { type: "submit", id: "signup-submit" }, "Start your free trial");

  const form = h("form.signup-form", { "aria-labelledby": "signup-heading", novalidate: true },
    h("fieldset.step", {},
      h("legend", {}, "Your plan"),
      h("div.field", {}, h("label", { for: "signup-country" }, "Country"), country),
      plansBox, plansNote, plansError),
    h("fieldset.step", {},
      h("legend", {}, "Your account"),
      h("div.field", {}, h("label", { for: "signup-email" }, "Email"), email, emailError),
      h("div.field", {}, h("label", { for: "signup-password" }, "Password"), password,
        h("small.help", {}, "At least 8 characters.")),
      h("div.field", {}, h("label", { for: "signup-name" }, "Your name"), name)),
    card.el,
    error, offerBox, submit);
  const panel = h("div.signup-outcome", { id: "signup-outcome", hidden: true });
  const el = h("section.signup-page", {},
    h("div.signup-card", {},
      h("span.brand", { "aria-hidden": "true" }, "reel", h("span", {}, "cloud")),
      h("h1", { id: "signup-heading" }, "Join reelcloud"),
      form, panel,
      h("p.switch", {}, "Already a member? ", h("a", { href: "#/signin" }, "Sign in"))));

  const chosenPlan = () => form.querySelector("input[name=plan]:checked")?.value || "";
  const priceOf = (plan) => offer?.plans.find((p) => p.name === plan)?.price || null;

  function showPlans(answer) {
    const previous = chosenPlan() || DEFAULT_PLAN;
    offer = answer;
    plansBox.replaceChildren(...answer.plans.map((plan) =>
      h("label.plan-card", { dataset: { plan: plan.name } },
        h("input", { type: "radio", name: "plan", value: plan.name,
                     checked: plan.name === previous }),
        h("span.plan-name", {}, planName(plan.name)),
        h("span.plan-price", { dataset: { currency: plan.price.currency } }, plan.price.display),
        h("span.plan-period", {}, "a month"),
        h("ul.plan-facts", {}, planFacts(plan)))));
    if (!chosenPlan() && answer.plans.length) plansBox.querySelector("input").checked = true;
    updateOffer();
  }

  // What the button and the note promise: the trial's length, then the chosen plan's price.
  function updateOffer() {
    const price = priceOf(chosenPlan());
    const days = offer ? offer.trial_days : 0;
    submit.textContent = days ? `Start your ${days}-day free trial` : "Join";
    plansNote.textContent = price
      ? (days ? `Free for ${days} days, then ${price.display} a month. Cancel any time.`
              : `${price.display} a month. Cancel any time.`)
      : "";
  }

  async function loadPlans() {
    const asked = ++plansAsked;
    plansError.textContent = "";
    plansBox.setAttribute("aria-busy", "true");
    try {
      const answer = await api.plans(country.value);
      if (asked === plansAsked) showPlans(answer);
    } catch (err) {
      if (asked !== plansAsked) return;
      offer = null;
      plansBox.replaceChildren();
      plansError.textContent = err.message;
      updateOffer();
    } finally {
      if (asked === plansAsked) plansBox.removeAttribute("aria-busy");
    }
  }
  country.addEventListener("change", () => { hideOffer(); loadPlans(); });
  plansBox.addEventListener("change", () => { hideOffer(); updateOffer(); });

  function clearErrors() {
    for (const line of [error, emailError, plansError]) line.textContent = "";
    card.showError("");
    email.removeAttribute("aria-invalid");
  }
  function hideOffer() {
    offerBox.hidden = true;
    offerBox.replaceChildren();
  }
  function problem() {
    if (!chosenPlan()) return "Choose a plan.";
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email.value.trim())) return "Enter your email address.";
    if (password.value.length < 8) return "Choose a password of at least 8 characters.";
    if (!name.value.trim()) return "Enter your name.";
    return "";
  }
  function setBusy(busy, label) {
    for (const control of form.querySelectorAll("input, select, button")) control.disabled = busy;
    if (busy) submit.textContent = label;
    else updateOffer();
  }

  async function send(trial) {
    clearErrors();
    const wrong = problem();
    if (wrong) { error.textContent = wrong; return; }
    const cardWrong = card.problem();
    if (cardWrong) { card.showError(cardWrong); card.number.focus(); return; }
    hideOffer();
    const body = { email: email.value.trim(), password: password.value, name: name.value.trim(),
                   country: country.value, plan: chosenPlan(), card: card.value(), trial };
    const key = submissions.key("signup", body);
    setBusy(true, "Signing you up…");
    let answer;
    try {
      answer = await api.signUp(body, key);
      submissions.answered();
    } catch (err) {
      submissions.failed(err);
      setBusy(false);
      refused(err);
      return;
    }
    await finish(answer);
  }

  function refused(err) {
    if (!(err instanceof ApiError)) { error.textContent = err.message; return; }
    if (err.code === "trial_already_used") {
      const price = priceOf(chosenPlan());
      const pay = h("button.button.primary", { type: "button", id: "pay-now" },
        price ? `Pay ${price.display} now` : "Pay now");
      pay.addEventListener("click", () => send("none"));
      offerBox.replaceChildren(
        h("p", {}, "This email or card has already had a free trial."),
        h("p", {}, price ? `You can join ${planName(chosenPlan())} and pay the first month now.`
                         : "You can join and pay the first month now."),
        pay);
      offerBox.hidden = false;
      pay.focus();
    } else if (err.code === "card_declined" || err.code === "invalid_card") {
      card.showError(err.message);
      if (err.code === "card_declined") card.clearNumber();
      card.number.focus();
    } else if (err.code === "email_taken") {
      emailError.textContent = err.message;
      email.setAttribute("aria-invalid", "true");
      error.replaceChildren(err.message, " ", h("a", { href: "#/signin" }, "Sign in instead"));
      email.focus();
    } else if (retryable(err)) {
      // The outcome is unknown; the same submission again re-sends its key (no double charge).
      error.textContent = `${err.message} Press the button again to retry: you won't be charged twice.`;
    } else {
      error.textContent = err.message;
    }
  }

  // After an answer: signed in (201), or a payment still to finish (202).
  async function finish(answer) {
    if (answer.status === "active") {
      await signedIn(answer);
      return;
    }
    form.hidden = true;
    panel.hidden = false;
    if (answer.status === "requires_action") showConfirm(answer.payment);
    else showPending();
  }

  function showConfirm(payment) {
    const confirmKeys = new Submissions();
    const message = h("p.form-error", { role: "alert" });
    const confirm = h("button.button.red", { type: "button", id: "confirm-payment" }, "Confirm");
    confirm.addEventListener("click", async () => {
      message.textContent = "";
      confirm.disabled = true;
      confirm.textContent = "Confirming…";
      try {
        const change = await api.confirmPayment(payment.id, confirmKeys.key("confirm", payment.id));
        confirmKeys.answered();
        if (change.payment && change.payment.status === "pending") return showPending();
        await signedIn(await api.me());
      } catch (err) {
        confirmKeys.failed(err);
        message.textContent = err.message;
        confirm.disabled = false;
        confirm.textContent = "Confirm";
      }
    });
    panel.replaceChildren(
      h("h2", { id: "confirm-heading" }, "Your bank asks you to confirm this payment"),
      h("p", {}, payment.message || "Confirm the payment to start your membership."),
      h("p.amount", {}, `${payment.amount.display}`),
      message, confirm);
    confirm.focus();
  }

  // The bank has not answered yet: billing finds out and the membership starts by itself.
  function showPending() {
    panel.replaceChildren(
      h("h2", { id: "pending-heading", role: "status" }, "We are confirming your payment…"),
      h("p", {}, "This usually takes a few seconds. You can stay on this page."),
      h("div.spinner.inline", { "aria-hidden": "true" }));
    clearInterval(poll);
    poll = setInterval(async () => {
      try {
        const account = await api.account();
        if (account.member.status !== "active") return;
        clearInterval(poll);
        await signedIn(await api.me());
      } catch { /* keep asking: the next look may work */ }
    }, PENDING_POLL_MS);
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); send("required"); });
  await loadPlans();
  return { el, focus: country, cleanup: () => clearInterval(poll) };
}
