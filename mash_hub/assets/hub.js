// Starts GOV.UK Frontend's components (error summary focus, header menu, buttons).
import { initAll } from "./govuk-frontend.min.js";

initAll();

// Conditional reveal without GOV.UK Frontend's own: its radios carry aria-expanded, which
// WCAG's rules do not allow on a radio (axe-core flags it). A group marked
// data-hub-reveal-for="<radios' name>" with data-hub-reveal-values="<values>" is shown only
// while one of those values is chosen; without JavaScript it is always shown, and the
// server asks for it only when it applies.
for (const group of document.querySelectorAll("[data-hub-reveal-for]")) {
  const name = group.getAttribute("data-hub-reveal-for");
  const values = (group.getAttribute("data-hub-reveal-values") || "").split(" ");
  const radios = document.querySelectorAll(`input[type="radio"][name="${CSS.escape(name)}"]`);
  const update = () => {
    const chosen = Array.from(radios).find((radio) => radio.checked);
    const shown = chosen !== undefined && values.includes(chosen.value);
    group.hidden = !shown && !group.querySelector(".govuk-error-message");
  };
  for (const radio of radios) {
    radio.setAttribute("aria-controls", group.id);
    radio.addEventListener("change", update);
  }
  update();
}
