// The account page: the member's plan and status (a banner when something needs doing), the
// next bill, the card on file and the invoices; actions to change plan, cancel, rejoin and
// update the card. Each action says what happened (the payment's message, or the refusal's)
// and the page is read again after it.
import { api, ApiError } from "../api.js";
import { h } from "../dom.js";
import { session } from "../main.js";
import { retryable, Submissions } from "../submission.js";
import { cardFields } from "./card.js";
import { day, money, planName, resolution, screens } from "./plans.js";

const STATUS_LABELS = {
  incomplete: "Waiting for the first payment",
  trialing: "Free trial",
  active: "Active",
  past_due: "Payment overdue",
  on_hold: "On hold",
  cancelled: "Ended",
};
const KIND_LABELS = { signup: "Sign-up", renewal: "Renewal", proration: "Plan change", rejoin: "Rejoin" };
// Billing states a plan can be changed or the membership cancelled in.
const CHANGEABLE = new Set(["trialing", "active", "past_due"]);

// What needs saying at the top, most urgent first: [kind, text].
export function banners(sub) {
  if (!sub) return [];
  const said = [];
  if (sub.status === "on_hold") {
    said.push(["on_hold", "Your membership is on hold: update your payment method"
      + (sub.balance_due?.amount_minor ? ` (${sub.balance_due.display} due).` : ".")]);
  } else if (sub.status === "past_due") {
    said.push(["past_due", "Your last payment didn't go through"
      + (sub.retry_at ? `: we'll try again on ${day(sub.retry_at)}.` : ".")
      + " Update your payment method to keep watching."]);
  } else if (sub.status === "incomplete") {
    said.push(["incomplete", "Your first payment isn't finished: update your payment method to start watching."]);
  } else if (sub.status === "cancelled") {
    said.push(["cancelled", "Your membership has ended. Rejoin to watch again."]);
  }
  if (sub.status === "trialing") said.push(["trialing", `Free trial until ${day(sub.trial_ends_at)}`]);
  if (sub.cancel_at_period_end && sub.status !== "cancelled") {
    said.push(["cancel_at_period_end", `Ends on ${day(sub.period_end)}`]);
  }
  if (sub.pending_plan) {
    said.push(["pending_plan", `Changes to ${planName(sub.pending_plan)} on ${day(sub.period_end)}`]);
  }
  return said;
}

export async function renderAccount() {
  const submissions = new Submissions();
  const message = h("p.account-message", { id: "account-message", role: "status", "aria-live": "polite" });
  const error = h("p.form-error", { id: "account-error", role: "alert", "aria-live": "assertive" });
  const confirmBox = h("div.confirm-box", { id: "account-confirm", hidden: true });
  const body = h("div.account-body", {});
  const card = cardFields("account-card", "A new card");
  const saveCard = h("button.button.primary", { type: "submit", id: "save-card" }, "Save card");
  const cardForm = h("form.card-form", { novalidate: true, "aria-label": "Update payment method" },
    card.el, saveCard);
  let offered = {}; // plan name -> the plan as sold in the member's country (its price, screens)
  let busy = false;

  const el = h("section.account-page", { "aria-labelledby": "account-heading" },
    h("h1", { id: "account-heading" }, "Account"),
    message, error, confirmBox, body);

  function setBusy(value) {
    busy = value;
    for (const control of el.querySelectorAll("button")) control.disabled = value;
    card.setDisabled(value);
  }

  // An action's outcome, read plainly: the payment's message when it made one.
  function tell(change, fallback) {
    const payment = change.payment;
    if (payment && payment.status === "requires_action") {
      showConfirm(payment);
      return;
    }
    if (payment && payment.status === "pending") {
      message.textContent = payment.message || "We are confirming your payment…";
      return;
    }
    message.textContent = (payment && payment.message) || fallback(change.subscription);
  }

  async function act(what, args, call, fallback, { onCard = false } = {}) {
    if (busy) return;
    message.textContent = "";
    error.textContent = "";
    card.showError("");
    const key = submissions.key(what, args);
    setBusy(true);
    try {
      const change = await call(key);
      submissions.answered();
      if (onCard) card.reset();
      tell(change, fallback);
    } catch (err) {
      submissions.failed(err);
      const text = retryable(err)
        ? `${err.message} Try again: you won't be charged twice.` : err.message;
      if (onCard && err instanceof ApiError && ["card_declined", "invalid_card"].includes(err.code)) {
        card.showError(text);
        if (err.code === "card_declined") card.clearNumber();
      } else {
        error.textContent = text;
      }
    } finally {
      setBusy(false);
    }
    await refresh();
  }

  function showConfirm(payment) {
    const confirm = h("button.button.red", { type: "button", id: "account-confirm-payment" }, "Confirm");
    confirm.addEventListener("click", async () => {
      await act("confirm", payment.id, (key) => api.confirmPayment(payment.id, key),
        () => "Payment confirmed. Thank you.");
      if (!error.textContent) { confirmBox.hidden = true; confirmBox.replaceChildren(); }
    });
    confirmBox.replaceChildren(
      h("h2", {}, "Your bank asks you to confirm this payment"),
      h("p", {}, `${payment.message || ""} ${payment.amount.display}`.trim()),
      confirm);
    confirmBox.hidden = false;
    confirm.focus();
  }

  function membership(member, sub) {
    // Billing's plan: accounts follows it through events, so it can lag just after a change.
    const name = sub ? sub.plan : member.plan.name;
    const plan = offered[name] || (member.plan.name === name ? member.plan : null);
    const rows = [
      ["Plan", plan ? `${planName(name)} · ${screens(plan.max_streams)} · ${resolution(plan.max_height)}`
                    : planName(name), "plan"],
      ["Status", sub ? STATUS_LABELS[sub.status] || sub.status : planName(member.status), "status"],
    ];
    if (sub) {
      rows.push(["Next bill", sub.next_bill_at && sub.next_bill
        ? `${day(sub.next_bill_at)} · ${sub.next_bill.display}` : "None", "next-bill"]);
      if (sub.balance_due?.amount_minor) rows.push(["Due now", sub.balance_due.display, "balance-due"]);
      const pm = sub.payment_method;
      rows.push(["Card", pm
        ? `${planName(pm.brand)} ending ${pm.last4} · expires ${String(pm.exp_month).padStart(2, "0")}/${pm.exp_year}`
        : "None", "card"]);
    }
    return h("dl.account-facts", {},
      rows.flatMap(([k, v, stat]) => [h("dt", {}, k), h("dd", { dataset: { fact: stat } }, v)]));
  }

  function actions(sub) {
    if (!sub) return null;
    const buttons = [];
    if (CHANGEABLE.has(sub.status) && !sub.cancel_at_period_end) {
      for (const plan of ["basic", "standard", "premium"].filter((p) => p !== sub.plan)) {
        const price = offered[plan]?.price;
        buttons.push(h("button.button.secondary", { type: "button", dataset: { action: "plan", plan },
          onclick: () => act("plan", plan, (key) => api.changePlan(plan, key),
            (s) => s.pending_plan ? `You'll move to ${planName(s.pending_plan)} on ${day(s.period_end)}.`
                                  : `You're on ${planName(s.plan)} now.`) },
          `Switch to ${planName(plan)}${price ? ` · ${price.display}` : ""}`));
      }
      buttons.push(h("button.button.secondary", { type: "button", dataset: { action: "cancel" },
        onclick: () => act("cancel", {}, (key) => api.cancel(key),
          (s) => `Your membership ends on ${day(s.period_end)}. You can rejoin until then.`) },
        "Cancel membership"));
    }
    if (sub.cancel_at_period_end || sub.status === "cancelled") {
      buttons.push(h("button.button.red", { type: "button", dataset: { action: "rejoin" },
        onclick: () => act("rejoin", {}, (key) => api.rejoin({}, key),
          () => "Welcome back: your membership goes on.") },
        "Rejoin"));
    }
    return buttons.length ? h("div.account-actions", {}, buttons) : null;
  }

  function invoiceTable(invoices) {
    if (!invoices.length) return h("p.empty-note", {}, "No invoices yet.");
    return h("table.invoices", { id: "invoices" },
      h("thead", {}, h("tr", {}, ["Date", "Kind", "Plan", "Amount", "Status", "Refunded"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, invoices.map((inv) =>
        h("tr", { dataset: { invoice: inv.id, kind: inv.kind, status: inv.status } },
          h("td", {}, day(inv.issued_at)),
          h("td", {}, KIND_LABELS[inv.kind] || inv.kind),
          h("td", {}, planName(inv.plan)),
          h("td", { dataset: { col: "amount" } }, money(inv.amount)),
          h("td", {}, planName(inv.status)),
          h("td", {}, inv.refunded?.amount_minor ? inv.refunded.display : "—")))));
  }

  function show(account, invoices) {
    const sub = account.subscription;
    const notes = banners(sub).map(([kind, text]) =>
      h(`p.banner.${["trialing", "pending_plan"].includes(kind) ? "info" : "warn"}`,
        { dataset: { banner: kind } }, text));
    body.replaceChildren(
      h("div.banners", { id: "account-banners" }, notes),
      h("section.account-section", { "aria-labelledby": "membership-heading" },
        h("h2", { id: "membership-heading" }, "Membership"),
        membership(account.member, sub),
        sub ? actions(sub)
          : h("p.empty-note", {}, "This membership isn't billed by reelcloud's sign-up (a demo member).")),
      sub ? h("section.account-section", { "aria-labelledby": "payment-heading" },
        h("h2", { id: "payment-heading" }, "Payment method"), cardForm) : null,
      h("section.account-section", { "aria-labelledby": "invoices-heading" },
        h("h2", { id: "invoices-heading" }, "Invoices"), invoiceTable(invoices)));
    if (busy) setBusy(true);
  }

  async function refresh() {
    try {
      const [account, list] = await Promise.all([api.account(), api.invoices()]);
      show(account, list.invoices);
    } catch (err) {
      error.textContent = `${error.textContent} Couldn't read your account again: ${err.message}`.trim();
    }
  }

  cardForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const wrong = card.problem();
    if (wrong) { card.showError(wrong); card.number.focus(); return; }
    const value = card.value();
    act("payment-method", value, (key) => api.paymentMethod(value, key),
      (s) => s.payment_method ? `Card ending ${s.payment_method.last4} saved.` : "Card saved.",
      { onCard: true });
  });

  const [account, list, offer] = await Promise.all([
    api.account(), api.invoices(),
    api.plans(session.member.country).catch(() => null), // the buttons go without prices
  ]);
  if (offer) offered = Object.fromEntries(offer.plans.map((p) => [p.name, p]));
  show(account, list.invoices);
  return { el };
}
