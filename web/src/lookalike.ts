/**
 * Lookalikes on the segment page: a form that saves a lookalike of the segment (a name, the top N customers
 * or X % of those outside it) and waits for the recompute that computes it, and, on a lookalike's own page,
 * its model in words: the held-out AUC read on the README's scale and the features that weigh most.
 */
import type { RouteOutput } from "../../shared/client";
import { describeError } from "./api";
import { link, type PageContext } from "./context";
import { fmt, h, notice, replace, stats, table, uid } from "./dom";

type SegmentAnswer = RouteOutput<"getSegment">;
type LookalikeReport = NonNullable<SegmentAnswer["lookalike"]>;

/** How distinctive a seed is, from the held-out AUC (README "Lookalike segments"). */
export function aucInWords(auc: number | null): string {
  if (auc === null) return "no AUC: the seed is too small to hold a part of it out";
  const words =
    auc < 0.6
      ? "the seed does not stand out"
      : auc < 0.7
        ? "the seed is somewhat distinctive"
        : auc < 0.9
          ? "the seed is distinctive"
          : "the seed is highly distinctive";
  return `AUC ${auc.toFixed(2)}: ${words}`;
}

/** A feature's name as a marketer reads it. */
export function featureLabel(name: string): string {
  const fixed: Record<string, string> = {
    recency_days: "Days since last order",
    tenure_days: "Days since first order",
    log1p_frequency: "Number of orders",
    log1p_monetary: "Net spend",
    log1p_average_order_value: "Average order value",
    probability_alive: "Probability still active",
    log1p_clv: "Customer lifetime value",
  };
  if (fixed[name] !== undefined) return fixed[name];
  const share = /^(category|channel)_share\.(.*)$/.exec(name);
  if (share) return `Share of spend in ${share[1]} ${share[2]}`;
  const missing = /^attributes\.(.*) missing$/.exec(name);
  if (missing) return `${missing[1]} unknown`;
  const value = /^attributes\.([^=]*)=(.*)$/.exec(name);
  if (value) return `${value[1]} is ${value[2]}`;
  return name.replace(/^attributes\./, "");
}

/** A weight with its sign, to three decimals. */
export function weightText(weight: number): string {
  return `${weight > 0 ? "+" : weight < 0 ? "−" : ""}${Math.abs(weight).toFixed(3)}`;
}

/** The model behind a lookalike segment. */
export function lookalikeModelSection(datasetId: string, report: LookalikeReport): HTMLElement {
  return h(
    "section",
    { "aria-labelledby": "lookalike-model" },
    h("h2", { id: "lookalike-model" }, "Model"),
    h(
      "p",
      { class: "lead", "data-auc": report.auc === null ? "" : String(report.auc) },
      aucInWords(report.auc),
    ),
    h(
      "p",
      { class: "help" },
      "The chance that a seed member the model never saw scores above another customer it never saw (0.5: no better than chance). ",
      "Weights are per standard deviation of each feature; a positive weight makes a customer more like the seed.",
    ),
    stats([
      ["Seed", h("a", { href: link(datasetId, "segments", report.seed) }, report.seed)],
      ["Seed members", fmt.int(report.seedSize)],
      ["Trained on", `${fmt.int(report.trained.seed)} seed, ${fmt.int(report.trained.rest)} others`],
      ["Held out", `${fmt.int(report.heldOut.seed)} seed, ${fmt.int(report.heldOut.rest)} others`],
    ]),
    report.features.length > 0
      ? table(
          "Features that weigh most",
          ["Feature", "Weight"],
          report.features.map((f) => [
            h("span", { title: f.name }, featureLabel(f.name)),
            weightText(f.weight),
          ]),
          { numeric: [1] },
        )
      : h("p", {}, "No feature tells the customers apart."),
  );
}

function slug(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60);
}

/** "Find lookalikes": saves a lookalike seeded by this segment and links to it once a run has computed it. */
export function lookalikeForm(ctx: PageContext, datasetId: string, segment: SegmentAnswer): HTMLElement {
  const nameId = uid("lookalike-name");
  const modeId = uid("lookalike-mode");
  const amountId = uid("lookalike-amount");
  const name = h("input", { id: nameId, required: true, maxlength: 100, value: `Like ${segment.name}` });
  const mode = h(
    "select",
    { id: modeId },
    h("option", { value: "top" }, "Top N customers"),
    h("option", { value: "percent" }, "Top % of the other customers"),
  );
  const amount = h("input", { id: amountId, type: "number", required: true, min: 1, step: 1, value: 100 });
  mode.addEventListener("change", () => {
    amount.step = mode.value === "top" ? "1" : "any";
    amount.min = mode.value === "top" ? "1" : "0.01";
    amount.max = mode.value === "top" ? "1000000" : "100";
  });
  const status = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Find lookalikes");
  const form = h(
    "form",
    { "aria-label": "Find lookalikes", class: "form-grid" },
    h("span", { class: "field" }, h("label", { for: nameId }, "Name"), name),
    h("span", { class: "field" }, h("label", { for: modeId }, "Size"), mode),
    h("span", { class: "field" }, h("label", { for: amountId }, "How many"), amount),
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const lookalikeId = `lookalike:${slug(name.value) || "lookalike"}`;
    const value = Number(amount.value);
    button.disabled = true;
    replace(status, notice("info", "Saving…"));
    try {
      const saved = await ctx.api.putLookalike({
        params: { datasetId, lookalikeId },
        body: {
          name: name.value.trim(),
          seed: segment.id,
          size: mode.value === "top" ? { top: value } : { percent: value },
        },
      });
      replace(
        status,
        notice("info", `Saved ${saved.lookalikeId}. The dataset is being recomputed to find them…`),
      );
      // The recompute fits the model: wait until the committed version has the segment as saved.
      const deadline = Date.now() + 300_000;
      let found = saved.segment;
      while (saved.recompute === "requested" && Date.now() < deadline) {
        const now = await ctx.api.getLookalike({ params: { datasetId, lookalikeId } });
        found = now.segment;
        if (found?.lookalike?.seed === segment.id && now.updatedAt === saved.updatedAt) {
          const dataset = await ctx.api.getDataset({ params: { datasetId } });
          const runs = await ctx.api.listRuns({ params: { datasetId }, query: { limit: 5 } });
          const run = runs.runs.find((r) => r.trigger === "definitions" && r.startedAt >= saved.updatedAt);
          if (run && run.status !== "running" && dataset.current?.runId === run.runId) break;
        }
        await new Promise((ok) => setTimeout(ok, 1000));
      }
      replace(
        status,
        h(
          "p",
          { class: "notice notice-success", role: "status" },
          `Saved “${saved.name}”${found ? `: ${fmt.int(found.size)} customers` : ""}. `,
          h("a", { href: link(datasetId, "segments", lookalikeId) }, "Open the lookalike"),
        ),
      );
    } catch (error) {
      replace(status, notice("error", describeError(error)));
    } finally {
      button.disabled = false;
    }
  });
  return h(
    "section",
    { "aria-labelledby": "find-lookalikes" },
    h("h2", { id: "find-lookalikes" }, "Find lookalikes"),
    h(
      "p",
      { class: "help" },
      "Customers outside this segment who most resemble its members, by a model refitted on every run.",
    ),
    form,
    status,
  );
}
