/**
 * The dashboard shell: sign-in, the header with the dataset picker and navigation, and a hash router
 * (`#/<dataset>/<page>/<arg>`) so every view has an address that survives a reload and needs no server
 * rewrite rules.
 */
import { type ApiError, describeError, loadConfig, makeClient, token } from "./api";
import { destroyCharts } from "./charts";
import type { PageContext } from "./context";
import { h, notice, replace } from "./dom";
import { customerPage } from "./pages/customer";
import { destinationsPage } from "./pages/destinations";
import { listsPage } from "./pages/lists";
import { modelPage } from "./pages/model";
import { overlapPage } from "./pages/overlap";
import { overviewPage } from "./pages/overview";
import { rulesPage } from "./pages/rules";
import { segmentsPage } from "./pages/segments";
import { uploadPage } from "./pages/upload";

type Page = (ctx: PageContext, root: HTMLElement) => Promise<void>;

const PAGES: Array<{ id: string; label: string; render: Page; needsDataset: boolean }> = [
  { id: "overview", label: "Overview", render: overviewPage, needsDataset: true },
  { id: "segments", label: "Segments", render: segmentsPage, needsDataset: true },
  { id: "overlap", label: "Overlap", render: overlapPage, needsDataset: true },
  { id: "customers", label: "Customer lookup", render: customerPage, needsDataset: true },
  { id: "model", label: "Predictions", render: modelPage, needsDataset: true },
  { id: "rules", label: "Rule segments", render: rulesPage, needsDataset: true },
  { id: "lists", label: "Lists", render: listsPage, needsDataset: true },
  { id: "destinations", label: "Destinations", render: destinationsPage, needsDataset: true },
  { id: "upload", label: "Upload", render: uploadPage, needsDataset: false },
];

const DATASET_KEY = "segmentation.dataset";

async function start() {
  const config = await loadConfig();
  const api = makeClient(config);
  const app = document.getElementById("app") as HTMLElement;
  let datasets: string[] = [];
  let cleanups: Array<() => void> = [];

  const navigate = (hash: string) => {
    if (window.location.hash === hash) void render();
    else window.location.hash = hash;
  };

  function signIn(message?: string) {
    token.clear();
    const input = h("textarea", {
      id: "token",
      name: "token",
      rows: 5,
      required: true,
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": "token-help",
    });
    const status = h("div", { "aria-live": "polite" }, message ? notice("error", message) : null);
    const form = h(
      "form",
      { class: "card signin", "aria-labelledby": "signin-title" },
      h("h1", { id: "signin-title" }, "Sign in"),
      h("label", { for: "token" }, "Access token"),
      input,
      h(
        "p",
        { id: "token-help", class: "help" },
        "Paste a bearer token of the service. Locally, `npm start` prints one (export TOKEN=…) and `npm run token` mints others. It is kept in this tab only.",
      ),
      h("button", { type: "submit" }, "Sign in"),
      status,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = input.value
        .trim()
        .replace(/^(export\s+)?TOKEN=/, "")
        .replace(/^Bearer\s+/i, "");
      if (!value) return;
      token.set(value);
      replace(status, notice("info", "Checking the token…"));
      try {
        await loadDatasets();
        void render();
      } catch (error) {
        token.clear();
        replace(status, notice("error", describeError(error)));
      }
    });
    replace(app, h("main", { id: "main", class: "signin-main" }, form));
    input.focus();
  }

  async function loadDatasets() {
    const found: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.listDatasets({ query: { limit: 50, cursor } });
      for (const d of page.datasets) found.push(d.datasetId);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    datasets = found;
  }

  async function render() {
    for (const cleanup of cleanups) cleanup();
    cleanups = [];
    destroyCharts();
    if (!token.get()) return signIn();
    const parts = window.location.hash
      .replace(/^#\/?/, "")
      .split("/")
      .filter(Boolean)
      .map(decodeURIComponent);
    let datasetId: string | null = null;
    let pageId = parts[0] ?? "";
    let args = parts.slice(1);
    if (pageId !== "upload") {
      datasetId = parts[0] ?? sessionStorage.getItem(DATASET_KEY) ?? datasets[0] ?? null;
      pageId = parts[1] ?? "overview";
      args = parts.slice(2);
    }
    const page = PAGES.find((p) => p.id === pageId) ?? PAGES[0];
    if (!page) return;
    if (page.needsDataset && !datasetId) return navigate("#/upload");
    if (datasetId) sessionStorage.setItem(DATASET_KEY, datasetId);
    const root = h("main", { id: "main", tabindex: "-1" });
    replace(
      app,
      h("a", { class: "skip", href: "#main", onclick: skipToMain }, "Skip to content"),
      header(page.id, datasetId),
      root,
    );
    try {
      await page.render(
        { api, datasetId, datasets, args, navigate, onLeave: (fn) => cleanups.push(fn) },
        root,
      );
    } catch (error) {
      const status = (error as ApiError).status;
      if (status === 401) return signIn(describeError(error));
      root.append(notice("error", describeError(error)));
    }
    document.title = `${page.label}${datasetId ? ` · ${datasetId}` : ""} · Segmentation`;
  }

  function skipToMain(event: Event) {
    event.preventDefault();
    document.getElementById("main")?.focus();
  }

  function header(current: string, datasetId: string | null): HTMLElement {
    const select = h("select", { id: "dataset", name: "dataset" });
    const ids = datasetId && !datasets.includes(datasetId) ? [datasetId, ...datasets] : datasets;
    for (const id of ids) select.append(h("option", { value: id, selected: id === datasetId }, id));
    select.addEventListener("change", () =>
      navigate(`#/${encodeURIComponent(select.value)}/${current === "upload" ? "overview" : current}`),
    );
    const nav = h(
      "nav",
      { "aria-label": "Main" },
      h(
        "ul",
        {},
        ...PAGES.map((p) => {
          const href = p.id === "upload" ? "#/upload" : `#/${encodeURIComponent(datasetId ?? "")}/${p.id}`;
          return h("li", {}, h("a", { href, "aria-current": p.id === current ? "page" : null }, p.label));
        }),
      ),
    );
    return h(
      "header",
      { class: "top" },
      h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "◆"), "Segments"),
      ids.length > 0
        ? h("div", { class: "picker" }, h("label", { for: "dataset" }, "Dataset"), select)
        : null,
      nav,
      h("button", { type: "button", class: "link signout", onclick: () => signIn() }, "Sign out"),
    );
  }

  window.addEventListener("hashchange", () => void render());
  if (token.get()) {
    try {
      await loadDatasets();
    } catch (error) {
      return signIn(describeError(error));
    }
  }
  await render();
}

void start();
