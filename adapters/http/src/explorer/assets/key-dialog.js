// The dialog that asks for a query API key after a 401, saying why when a key was refused.

import { storedKey } from "./api.js";

const $ = (id) => document.getElementById(id);

/** Resolves to the key typed in, or "" when the person cancels. */
export function askForKey(problem) {
  return new Promise((resolve) => {
    const dialog = $("key-dialog");
    const form = $("key-form");
    // A key that was sent and refused is shown as the reason; the first ask says it is needed.
    $("key-problem").textContent = storedKey() || problem.code === "invalid_api_key" ? problem.message : "";
    $("key-input").value = "";
    const done = (key) => {
      form.removeEventListener("submit", submitted);
      $("key-cancel").removeEventListener("click", cancelled);
      dialog.removeEventListener("cancel", cancelled);
      if (dialog.open) dialog.close();
      resolve(key);
    };
    const submitted = (event) => {
      event.preventDefault();
      done($("key-input").value.trim());
    };
    const cancelled = (event) => {
      event.preventDefault();
      done("");
    };
    form.addEventListener("submit", submitted);
    $("key-cancel").addEventListener("click", cancelled);
    dialog.addEventListener("cancel", cancelled);
    if (!dialog.open) dialog.showModal();
    $("key-input").focus();
  });
}
