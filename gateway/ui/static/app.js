// The dashboard's entry point: hash routing (#/, #/model/<uri>, #/governance) and the token.
import { ApiError, banner, surface, token } from "./api.js";
import { renderCatalogue } from "./catalogue.js";
import { h } from "./dom.js";
import { renderAudit } from "./audit.js";
import { renderGovernance } from "./governance.js";
import { renderImpact } from "./impact.js";
import { renderModel } from "./model.js";
import { renderServing } from "./serving.js";

// [name, pattern of the hash before "?", render(page, match, query parameters)]
const ROUTES = [
  ["model", /^#\/model\/([^?]+)$/, (page, [, uri], q) => renderModel(page, decodeURIComponent(uri), q.get("version"))],
  ["governance", /^#\/governance$/, (page, _match, q) => renderGovernance(page, q)],
  ["impact", /^#\/impact$/, (page, _match, q) => renderImpact(page, q)],
  ["audit", /^#\/audit$/, (page, _match, q) => renderAudit(page, q)],
  ["serving", /^#\/serving$/, (page, _match, q) => renderServing(page, q)],
  ["catalogue", /^(#\/?)?$/, (page, _match, q) => renderCatalogue(page, q)],
];

function route() {
  const [path, query = ""] = (location.hash || "#/").split("?");
  const params = new URLSearchParams(query);
  const [name, pattern, render] = ROUTES.find(([, p]) => p.test(path)) ?? ROUTES.at(-1);
  const view = document.getElementById("view");
  // Each visit renders into a fresh element: a slow answer for a page left
  // behind lands in a detached element and is never seen.
  const page = h("div", { class: "page", "data-page": name });
  view.replaceChildren(page);
  banner.clear();
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  page.setAttribute("aria-busy", "true");
  // Until the first answer arrives the page says it is working, not nothing.
  const loading = h("p", { class: "loading", role: "status" }, "Loading…");
  view.append(loading);
  render(page, path.match(pattern), params)
    .catch((error) => {
      surface(error);
      if (error instanceof ApiError) page.append(h("p", { class: "empty" }, "This page could not be loaded."));
    })
    .finally(() => {
      page.removeAttribute("aria-busy");
      loading.remove();
    });
}

function setUpToken() {
  const form = document.getElementById("token-form");
  const toggle = document.getElementById("token-toggle");
  const input = document.getElementById("token-input");
  const show = (open) => {
    form.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) input.focus();
  };
  const refresh = () => {
    document.getElementById("token-state").textContent = token.get() ? "token set" : "no token";
  };
  toggle.addEventListener("click", () => show(form.hidden));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) token.set(input.value.trim());
    input.value = "";
    show(false);
    refresh();
    route();
  });
  document.getElementById("token-clear").addEventListener("click", () => {
    token.clear();
    show(false);
    refresh();
    route();
  });
  document.addEventListener("modelgate:unauthenticated", () => show(true));
  refresh();
}

/** `modelgate demo` offers personas: act as one to request, as another to approve. */
async function setUpPersonas() {
  const response = await fetch("ui/personas.json").catch(() => null);
  if (!response?.ok) return;
  const { personas } = await response.json();
  const picker = h(
    "select",
    { id: "persona", "aria-label": "Act as" },
    h("option", { value: "" }, "local operator (admin)"),
    personas.map((p) =>
      h("option", { value: p.key, selected: token.get() === p.key }, `${p.name} · ${p.title}${p.roles.length ? ` (${p.roles.join(", ")})` : ""}`),
    ),
  );
  picker.addEventListener("change", () => {
    if (picker.value) token.set(picker.value);
    else token.clear();
    document.getElementById("token-state").textContent = picker.value ? "token set" : "no token";
    route();
  });
  document.querySelector(".auth").prepend(h("label", { class: "persona" }, "Act as ", picker));
}

setUpToken();
window.addEventListener("hashchange", route);
route();
setUpPersonas();
