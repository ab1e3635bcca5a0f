// Card fields (number, expiry month and year, CVC) shared by the sign-up and account pages,
// with their own error line so a decline is shown next to the card, not the whole form.
import { h } from "../dom.js";

const YEARS_AHEAD = 15;

export function cardFields(prefix, legend = "Card") {
  const id = (name) => `${prefix}-${name}`;
  const number = h("input", { id: id("number"), name: "cc-number", inputmode: "numeric",
                              autocomplete: "cc-number", placeholder: "1234 5678 9012 3456",
                              maxlength: 23, required: true });
  const month = h("select", { id: id("exp-month"), name: "cc-exp-month", autocomplete: "cc-exp-month" },
    Array.from({ length: 12 }, (_, i) => new Option(String(i + 1).padStart(2, "0"), String(i + 1))));
  const thisYear = new Date().getFullYear();
  const year = h("select", { id: id("exp-year"), name: "cc-exp-year", autocomplete: "cc-exp-year" },
    Array.from({ length: YEARS_AHEAD + 1 }, (_, i) => new Option(String(thisYear + i), String(thisYear + i))));
  year.value = String(thisYear + 3);
  const cvc = h("input", { id: id("cvc"), name: "cc-csc", inputmode: "numeric", autocomplete: "cc-csc",
                           maxlength: 4, required: true, placeholder: "123" });
  const error = h("p.form-error.card-error", { id: id("error"), role: "alert", "aria-live": "assertive" });
  number.setAttribute("aria-describedby", id("error"));
  const el = h("fieldset.card-fields", {},
    h("legend", {}, legend),
    h("div.field", {}, h("label", { for: id("number") }, "Card number"), number),
    h("div.card-row", {},
      h("div.field", {}, h("label", { for: id("exp-month") }, "Expiry month"), month),
      h("div.field", {}, h("label", { for: id("exp-year") }, "Expiry year"), year),
      h("div.field", {}, h("label", { for: id("cvc") }, "CVC"), cvc)),
    error);
  return {
    el,
    number,
    error,
    value: () => ({
      number: number.value.replace(/[\s-]/g, ""),
      exp_month: Number(month.value),
      exp_year: Number(year.value),
      cvc: cvc.value.trim(),
    }),
    // What is wrong with the card as typed ("" when it can be sent).
    problem() {
      const card = this.value();
      if (!/^[0-9]{12,19}$/.test(card.number)) return "Enter the card number: 12 to 19 digits.";
      if (!/^[0-9]{3,4}$/.test(card.cvc)) return "Enter the CVC: the 3 or 4 digits on the card.";
      return "";
    },
    showError(message) {
      error.textContent = message;
      number.setAttribute("aria-invalid", message ? "true" : "false");
    },
    // After a decline the number goes (never left in the page), the rest stays as typed.
    clearNumber() {
      number.value = "";
    },
    reset() {
      number.value = "";
      cvc.value = "";
      this.showError("");
    },
    setDisabled(disabled) {
      for (const control of [number, month, year, cvc]) control.disabled = disabled;
    },
  };
}
