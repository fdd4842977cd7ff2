// Starts GOV.UK Frontend's components (error summary focus, header menu, buttons).
import { initAll } from "./govuk-frontend.min.js";

initAll();
