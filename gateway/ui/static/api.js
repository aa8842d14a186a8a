// The one way the dashboard talks to the gateway: its GraphQL API and report
// downloads, with the stored bearer token, and coded errors shown in the banner.
import { h } from "./dom.js";

const TOKEN_KEY = "modelgate.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** Errors the server sent, each with extensions.code. */
export class ApiError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
  }
}

const isRegistryWarning = (e) => e.extensions?.code === "REGISTRY_UNAVAILABLE";

export const banner = {
  element: () => document.getElementById("banner"),

  show(errors) {
    const el = banner.element();
    const shown = new Set([...el.querySelectorAll(".notice")].map((n) => n.dataset.key));
    for (const error of errors) {
      const code = error.extensions?.code ?? "ERROR";
      const key = `${code}:${error.message}`;
      if (shown.has(key)) continue;
      shown.add(key);
      const registry = error.extensions?.registry;
      el.append(
        h(
          "p",
          { class: `notice ${isRegistryWarning(error) ? "warning" : "error"}`, "data-code": code, "data-key": key },
          h("code", {}, code),
          " ",
          error.message,
          registry ? h("span", { class: "muted" }, ` (registry ${registry})`) : null,
        ),
      );
    }
    if (!el.hidden || !errors.length) return;
    el.prepend(h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss", onclick: banner.clear }, "×"));
    el.hidden = false;
  },

  clear() {
    const el = banner.element();
    el.replaceChildren();
    el.hidden = true;
  },
};

function headers(extra = {}) {
  const bearer = token.get();
  return bearer ? { ...extra, authorization: `Bearer ${bearer}` } : extra;
}

async function errorsOf(response) {
  const status = response.status;
  const fallback = [{ message: `the server answered HTTP ${status}`, extensions: { code: `HTTP_${status}` } }];
  try {
    return (await response.json()).errors ?? fallback;
  } catch {
    return fallback;
  }
}

function failed(response, errors, quiet = []) {
  if (response.status === 401) {
    document.dispatchEvent(new CustomEvent("modelgate:unauthenticated"));
  }
  banner.show(errors.filter((e) => !quiet.includes(e.extensions?.code)));
  return new ApiError(errors);
}

/**
 * Run a GraphQL operation. Returns {data, warnings}: warnings are the registries
 * that failed while the answer came from the index (REGISTRY_UNAVAILABLE), for the
 * caller to show next to the data. Any other error is shown and thrown, except
 * that codes in `quiet` are only thrown (the caller shows them where they apply).
 */
export async function gql(query, variables = {}, { quiet = [] } = {}) {
  const response = await fetch("graphql", {
    method: "POST",
    headers: headers({ "content-type": "application/json", accept: "application/json" }),
    body: JSON.stringify({ query, variables }),
  });
  if (!response.ok) throw failed(response, await errorsOf(response));
  const body = await response.json();
  const errors = body.errors ?? [];
  const warnings = errors.filter(isRegistryWarning);
  const failures = errors.filter((e) => !isRegistryWarning(e));
  if (failures.length || !body.data) throw failed(response, errors, quiet);
  banner.show(warnings);
  return { data: body.data, warnings };
}

/** For work a click started: server errors are in the banner already; show the rest too. */
export function surface(error) {
  if (!(error instanceof ApiError)) banner.show([{ message: String(error), extensions: { code: "CLIENT_ERROR" } }]);
}

/** Fetch a download with the token and hand it to the browser as a file. */
export async function download(path, filename) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw failed(response, await errorsOf(response));
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
