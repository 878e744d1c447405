import type { Client } from "../../../shared/client";
import { link, type PageContext, type Run, type RunDetail } from "../context";
import { fmt, h, notice, stats, table } from "../dom";

/**
 * A running run in words, with how far it has got when its runner reports it: "Loading the data: 41% —
 * writing 980 of 2,357 customers" for a dataset's first result, "A run is working…" otherwise.
 */
export function runningText(run: Run | undefined, first: boolean): string {
  const lead = first ? "Loading the data" : "A run is working on this dataset";
  const p = run?.progress;
  if (!p) return `${lead} right now.`;
  const step =
    p.phase === "reading"
      ? "reading the file"
      : p.phase === "computing"
        ? "computing the segments"
        : p.customersTotal !== undefined
          ? `writing ${fmt.int(p.customersWritten ?? 0)} of ${fmt.int(p.customersTotal)} customers`
          : "writing";
  return `${lead}: ${Math.floor(p.percent)}% — ${step}.`;
}

export function runStatusBadge(status: string): HTMLElement {
  return h("span", { class: `badge badge-${status}` }, status);
}

/** A run's outcome in words: what it read, kept and rejected, or why it failed. */
export function describeRun(run: Run | RunDetail): HTMLElement {
  const c = run.counts ?? {};
  const parts: Array<[string, string | HTMLElement]> = [
    ["Status", runStatusBadge(run.status)],
    ["Trigger", run.trigger],
    ["Started", fmt.date(run.startedAt)],
    ["Finished", fmt.date(run.finishedAt)],
  ];
  if (c.rowsRead !== undefined) parts.push(["Rows read", fmt.int(c.rowsRead)]);
  if (c.rowsAccepted !== undefined) parts.push(["Rows accepted", fmt.int(c.rowsAccepted)]);
  if (c.rowsRejected !== undefined) parts.push(["Rows rejected", fmt.int(c.rowsRejected)]);
  if (c.customers !== undefined) parts.push(["Customers", fmt.int(c.customers)]);
  if (c.orders !== undefined) parts.push(["Orders", fmt.int(c.orders)]);
  const box = h("div", { class: "run" }, stats(parts));
  // Only a failure reads as one: a skipped run (a stale event, the service's own rewrite of a file) or an
  // abandoned one, whose work was started again, is information. Each message says what to do, if anything.
  if (run.error)
    box.append(
      run.status === "failed" && !run.error.code.startsWith("RETRY_")
        ? notice("error", `The run failed: ${run.error.message} (${run.error.code})`)
        : notice("info", `${run.error.message} (${run.error.code})`),
    );
  if (run.reportKey && (c.rowsRejected ?? 0) > 0) {
    const reportUrl = "reportUrl" in run ? run.reportUrl : undefined;
    box.append(
      reportUrl
        ? h(
            "p",
            { class: "help" },
            // A link to another origin is a navigation, not a fetch: the presigned URL answers with
            // Content-Disposition: attachment, so the browser saves the file and the page stays.
            h(
              "a",
              { href: reportUrl, download: "rejected-rows.csv" },
              "Download the rejected-rows report (CSV)",
            ),
            ` — every rejected row with its line in the file (the header is line 1), column, code and reason. The link works for 15 minutes (reload the page for a new one); the report is `,
            h("code", {}, run.reportKey),
            " in the service's bucket.",
          )
        : h(
            "p",
            { class: "help" },
            `Every rejected row (its line in the file, column, code and reason) is listed in the report `,
            h("code", {}, run.reportKey),
            " in the service's bucket.",
          ),
    );
  }
  return box;
}

/**
 * The run as its own route answers it when it rejected rows, for the report's download link (the list
 * route carries no links: each is signed per call); the run as listed otherwise, or if that call fails.
 */
export async function withReportLink(api: Client, datasetId: string, run: Run): Promise<Run | RunDetail> {
  if (!run.reportKey || (run.counts?.rowsRejected ?? 0) === 0) return run;
  return api.getRun({ params: { datasetId, runId: run.runId } }).catch(() => run);
}

export async function overviewPage(ctx: PageContext, root: HTMLElement): Promise<void> {
  const datasetId = ctx.datasetId as string;
  root.append(h("h1", {}, `Dataset ${datasetId}`));
  const [dataset, runs] = await Promise.all([
    ctx.api.getDataset({ params: { datasetId } }),
    ctx.api.listRuns({ params: { datasetId }, query: { limit: 10 } }),
  ]);
  // A recompute or refresh reads no file: the rows read and rejected are those of the last upload. Both
  // are fetched before anything is shown, so the page does not jump as their report links arrive.
  const lastListed = runs.runs[0];
  const lastUploadListed = runs.runs.find((r) => r.trigger === "upload");
  const last = lastListed && (await withReportLink(ctx.api, datasetId, lastListed));
  const lastUpload =
    lastUploadListed && lastUploadListed.runId !== last?.runId
      ? await withReportLink(ctx.api, datasetId, lastUploadListed)
      : undefined;
  const current = dataset.current;
  const currency = dataset.settings.currency ? ` ${dataset.settings.currency}` : "";
  if (current) {
    root.append(
      h(
        "section",
        { "aria-labelledby": "figures" },
        h("h2", { id: "figures" }, "Current result"),
        stats(
          [
            ["Customers", fmt.int(current.customerCount)],
            ["Orders", fmt.int(current.orderCount)],
            [`Revenue${currency}`, fmt.money(current.revenue)],
            ["Segments", fmt.int(current.segmentCount)],
            ["Evaluated as of", current.asOf],
            ["Version", String(current.version)],
          ],
          "stats tiles",
        ),
        h(
          "p",
          { class: "help" },
          `Computed by run ${current.runId}, completed ${fmt.date(current.completedAt)}.`,
        ),
        current.sharded
          ? notice(
              "info",
              "This dataset is computed sharded, from one file of all its transactions: appends and customers files are refused. To change it, upload a full transactions file with mode=replace.",
            )
          : null,
        // Issues with the data as a whole (STALE_DATA: orders that end long before the evaluation date), in
        // the words the run gave them, next to the date they concern.
        ...(current.issues ?? [])
          .filter((issue) => issue.stage === "data")
          .map((issue) => {
            const box = notice("error", issue.message);
            box.dataset.issue = issue.code;
            return box;
          }),
      ),
    );
  } else {
    root.append(notice("info", "This dataset has no result yet: upload a transactions file to compute one."));
  }
  const inProgress = runs.runs.find((r) => r.status === "running");
  if (dataset.running || inProgress) {
    const box = h("div", { id: "run-progress" }, notice("info", runningText(inProgress, !current)));
    root.append(box);
    // Follow the run: its progress as it goes, then the page again with what it computed.
    let left = false;
    ctx.onLeave(() => {
      left = true;
    });
    void (async () => {
      while (!left) {
        await new Promise((ok) => setTimeout(ok, 2_000));
        if (left) return;
        const latest = await ctx.api
          .listRuns({ params: { datasetId }, query: { limit: 10 } })
          .catch(() => undefined);
        if (!latest || left) continue;
        const running = latest.runs.find((r) => r.status === "running");
        if (!running) {
          ctx.navigate(link(datasetId, "overview"));
          return;
        }
        box.replaceChildren(notice("info", runningText(running, !current)));
      }
    })();
  }

  const lastSection = h(
    "section",
    { "aria-labelledby": "last-run" },
    h("h2", { id: "last-run" }, "Last run"),
  );
  lastSection.append(last ? describeRun(last) : h("p", {}, "No run yet."));
  root.append(lastSection);
  if (lastUpload)
    root.append(
      h(
        "section",
        { "aria-labelledby": "last-upload" },
        h("h2", { id: "last-upload" }, "Last upload"),
        describeRun(lastUpload),
      ),
    );

  if (runs.runs.length > 0)
    root.append(
      h(
        "section",
        { "aria-labelledby": "runs" },
        h("h2", { id: "runs" }, "Recent runs"),
        h(
          "div",
          { class: "table-scroll" },
          table(
            "Recent runs, newest first",
            ["Run", "Trigger", "Status", "Finished", "Customers", "Rows rejected"],
            runs.runs.map((r) => [
              h("code", {}, r.runId),
              r.trigger,
              runStatusBadge(r.status),
              fmt.date(r.finishedAt),
              r.counts?.customers === undefined ? "—" : fmt.int(r.counts.customers),
              r.counts?.rowsRejected === undefined ? "—" : fmt.int(r.counts.rowsRejected),
            ]),
            { numeric: [4, 5], captionHidden: true },
          ),
        ),
      ),
    );
}
