// A native version's files in the model store, each with a download link.
import { download, gql, surface, token } from "./api.js";
import { h, section } from "./dom.js";

const DOWNLOAD = `query Download($uri: String!, $path: String!) {
  modelVersion(uri: $uri) { download(path: $path) { url expiresAt } }
}`;

/** "1.5 MiB", "820 bytes". */
export function sizeText(bytes) {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let n = bytes;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[unit]}`;
}

/** The gateway's own route for one file (relative, as every other call of the page). */
function route(v, path) {
  const [registry, model] = [v.uri.split("/")[2], v.uri.split("/").slice(3, -1).join("/")];
  const segments = [registry, model, v.version].map(encodeURIComponent);
  return `artifacts/${segments.join("/")}/${path.split("/").map(encodeURIComponent).join("/")}`;
}

function save(url, filename) {
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
}

/** At the click, ask for a fresh URL: a signed one the store serves goes straight
 * to it; the gateway's route is fetched with the token when one is set. */
async function fetchFile(event, v, file) {
  event.preventDefault();
  const filename = file.path.split("/").pop();
  try {
    const { data } = await gql(DOWNLOAD, { uri: v.uri, path: file.path });
    const found = data.modelVersion?.download;
    if (found?.expiresAt) save(found.url, filename);
    else if (token.get()) await download(route(v, file.path), filename);
    else save(route(v, file.path), filename);
  } catch (error) {
    surface(error);
  }
}

/** Null when the version has no files in the store (remote registries' versions,
 * artifacts kept elsewhere): the page then shows nothing of it. */
export function filesPanel(v) {
  if (!v.files?.length) return null;
  const rows = v.files.map((f) =>
    h(
      "tr",
      { "data-path": f.path },
      h("td", {}, h("code", {}, f.path)),
      h("td", { class: "size" }, sizeText(f.size)),
      h("td", {}, h("code", { class: "digest", title: f.digest }, f.digest.slice(0, 19))),
      h(
        "td",
        {},
        h(
          "a",
          { href: route(v, f.path), class: "download", "aria-label": `Download ${f.path}`, onclick: (e) => fetchFile(e, v, f) },
          "Download",
        ),
      ),
    ),
  );
  return section(
    `Files (${v.files.length})`,
    h(
      "table",
      { class: "files" },
      h("thead", {}, h("tr", {}, ["Path", "Size", "Digest", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows),
    ),
    h("p", { class: "muted" }, "Check a download against its digest: sha256sum prints the hex after sha256:."),
  );
}
