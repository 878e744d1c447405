import { describeError } from "../api";
import { CONTRACT_COLUMNS, columnsFor, type FileKind, proposeMapping, readHeaders } from "../columns";
import { link, type PageContext, type Run } from "../context";
import { h, notice, replace } from "../dom";
import { describeRun, withReportLink } from "./overview";

/** POSTs the file with the presigned fields, reporting upload progress; resolves on S3's 2xx. */
function postWithProgress(
  url: string,
  fields: Record<string, string>,
  file: File,
  onProgress: (loaded: number, total: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    // S3 reads the fields first and the file last.
    form.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(new Error(`The storage service refused the file (HTTP ${xhr.status}).`));
    });
    xhr.addEventListener("error", () =>
      reject(new Error("The file could not be sent to the storage service.")),
    );
    xhr.send(form);
  });
}

const POLL_MS = 1000;

export async function uploadPage(ctx: PageContext, root: HTMLElement): Promise<void> {
  const suggestions = h(
    "datalist",
    { id: "dataset-ids" },
    ...ctx.datasets.map((d) => h("option", { value: d })),
  );
  const dataset = h("input", {
    id: "upload-dataset",
    name: "datasetId",
    required: true,
    // The same rule as the API's dataset ids. A pattern is compiled with the `v` flag, in whose character
    // classes a '-' must be escaped.
    pattern: "[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}",
    value: ctx.datasetId ?? sessionStorage.getItem("segmentation.dataset") ?? "",
    list: "dataset-ids",
    "aria-describedby": "dataset-help",
  });
  const kind = h(
    "select",
    { id: "upload-kind", name: "kind" },
    h("option", { value: "transactions" }, "Transactions (orders)"),
    h("option", { value: "customers" }, "Customers (attributes)"),
    h("option", { value: "pinpoint-endpoints" }, "Amazon Pinpoint endpoint export (JSON lines)"),
  );
  const mode = h(
    "select",
    { id: "upload-mode", name: "mode" },
    h("option", { value: "append" }, "Add to the dataset"),
    h("option", { value: "replace" }, "Replace the dataset"),
  );
  const file = h("input", {
    id: "upload-file",
    name: "file",
    type: "file",
    required: true,
    accept: ".csv,.ndjson,.json,.gz,.csv.gz,text/csv",
  });
  // The column mapping: one choice per column of the data contract, among the headers of the chosen file.
  const mappingBox = h("fieldset", { id: "upload-columns", class: "form-grid", hidden: true });
  const selects = new Map<string, HTMLSelectElement>();
  const showMapping = async () => {
    const chosen = file.files?.[0];
    selects.clear();
    mappingBox.replaceChildren();
    mappingBox.hidden = true;
    // A Pinpoint export has a fixed shape, mapped as the README documents: no columns to choose.
    if (!chosen || kind.value === "pinpoint-endpoints") return;
    const fileKind = kind.value as FileKind;
    const headers = await readHeaders(chosen);
    if (headers.length === 0) return;
    const proposal = proposeMapping(fileKind, headers);
    mappingBox.append(
      h("legend", {}, "Columns"),
      h(
        "p",
        { id: "columns-help", class: "help" },
        `The file's header names ${headers.length} column${headers.length === 1 ? "" : "s"}. Pick the one that holds each column the service reads; the proposal matches names and common synonyms.`,
      ),
    );
    for (const column of CONTRACT_COLUMNS[fileKind]) {
      const id = `column-${column.name}`;
      const select = h(
        "select",
        { id, name: column.name, "aria-describedby": "columns-help" },
        h(
          "option",
          { value: "" },
          column.required ? "— choose a column (required) —" : "— not in the file —",
        ),
        ...headers.map((header) => h("option", { value: header }, header)),
      );
      select.value = proposal.get(column.name) ?? "";
      selects.set(column.name, select);
      mappingBox.append(
        h("label", { for: id }, `${column.name}${column.required ? "" : " (optional)"}`),
        select,
      );
    }
    mappingBox.hidden = false;
  };
  file.addEventListener("change", () => void showMapping());
  kind.addEventListener("change", () => void showMapping());
  const chosenColumns = () =>
    columnsFor(
      new Map([...selects].map(([name, select]) => [name, select.value === "" ? undefined : select.value])),
    );
  const submit = h("button", { type: "submit" }, "Upload");
  const progress = h("progress", { id: "upload-progress", max: 100, value: 0 });
  const progressText = h("span", { id: "upload-progress-text" }, "0%");
  const progressBox = h(
    "div",
    { class: "progress", hidden: true },
    h("label", { for: "upload-progress" }, "Upload progress"),
    progress,
    progressText,
  );
  const status = h("div", { class: "upload-status", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card form-grid", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Send a file"),
    h("label", { for: "upload-dataset" }, "Upload to dataset"),
    dataset,
    h(
      "p",
      { id: "dataset-help", class: "help" },
      "An existing dataset, or a new name (letters, digits, - and _): the first upload creates it.",
    ),
    h("label", { for: "upload-kind" }, "Kind of file"),
    kind,
    h("label", { for: "upload-mode" }, "Mode"),
    mode,
    h("label", { for: "upload-file" }, "File (CSV or NDJSON, optionally gzip)"),
    file,
    mappingBox,
    submit,
    progressBox,
  );
  suggestions.hidden = true;
  root.append(h("h1", {}, "Upload"), form, suggestions, status);

  let stopped = false;
  ctx.onLeave(() => {
    stopped = true;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    const datasetId = dataset.value.trim();
    if (!chosen || !datasetId) return;
    submit.disabled = true;
    progressBox.hidden = false;
    progress.value = 0;
    progressText.textContent = "0%";
    replace(status, notice("info", "Asking the service where to send the file…"));
    try {
      const upload = await ctx.api.createUpload({
        params: { datasetId },
        body: {
          fileName: chosen.name,
          kind: kind.value as "transactions" | "customers" | "pinpoint-endpoints",
          mode: mode.value as "append" | "replace",
          ...(Object.keys(chosenColumns()).length > 0 ? { columns: chosenColumns() } : {}),
        },
      });
      replace(status, notice("info", `Uploading ${chosen.name}…`));
      await postWithProgress(upload.url, upload.fields, chosen, (loaded, total) => {
        const pct = Math.round((loaded / total) * 100);
        progress.value = pct;
        progressText.textContent = `${pct}%`;
      });
      progress.value = 100;
      progressText.textContent = "100%";
      replace(status, notice("info", "Uploaded. Waiting for the run to start…"));
      const started = Date.now();
      let run: Run | undefined;
      while (!stopped) {
        const runs = await ctx.api.listRuns({ params: { datasetId }, query: { limit: 20 } });
        run = runs.runs.find((r) => r.uploadId === upload.uploadId);
        if (run && run.status !== "running") break;
        const seconds = Math.round((Date.now() - started) / 1000);
        replace(
          status,
          notice(
            "info",
            run ? `Computing… (${seconds} s)` : `Uploaded. Waiting for the run to start… (${seconds} s)`,
          ),
        );
        await new Promise((ok) => setTimeout(ok, POLL_MS));
      }
      if (stopped || !run) return;
      const finished = await withReportLink(ctx.api, datasetId, run);
      if (stopped) return;
      replace(
        status,
        h(
          "section",
          { class: "card", "aria-labelledby": "outcome" },
          h(
            "h2",
            { id: "outcome" },
            run.status === "succeeded" ? "The run finished" : "The run did not succeed",
          ),
          describeRun(finished),
          run.status === "succeeded"
            ? h(
                "p",
                {},
                h("a", { href: link(datasetId, "overview") }, `Open dataset ${datasetId}`),
                " · ",
                h("a", { href: link(datasetId, "segments") }, "See its segments"),
              )
            : null,
        ),
      );
      if (!ctx.datasets.includes(datasetId)) ctx.datasets.push(datasetId);
    } catch (error) {
      replace(status, notice("error", describeError(error)));
    } finally {
      submit.disabled = false;
    }
  });
}
