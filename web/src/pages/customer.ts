import type { RouteOutput } from "../../../shared/client";
import { describeError } from "../api";
import { FAMILY_LABEL, link, type PageContext, type Segment } from "../context";
import { fmt, h, notice, replace, stats } from "../dom";
import { MODEL_LABEL } from "./model";

type Customer = RouteOutput<"getCustomer">;
type History = RouteOutput<"getCustomerHistory">;

/** One line per segment entered or left: "Entered Champions on 2025-10-01 (run …)". */
function historyLines(entries: History["entries"]): HTMLLIElement[] {
  return entries.flatMap((e) =>
    (
      [...e.entered.map((s) => ["Entered", s] as const), ...e.left.map((s) => ["Left", s] as const)] as const
    ).map(([verb, s]) =>
      h(
        "li",
        { "data-segment-id": s.segmentId, "data-version": String(e.version) },
        `${verb} ${s.name ?? s.segmentId} on ${e.asOf} (run ${e.runId})`,
      ),
    ),
  );
}

/** The customer's membership changes, newest first, with a button for older pages. */
function historySection(
  ctx: PageContext,
  datasetId: string,
  customerId: string,
  first: History,
): HTMLElement {
  const list = h("ol", { class: "history" }, ...historyLines(first.entries));
  const section = h(
    "section",
    { "aria-labelledby": "history" },
    h("h3", { id: "history" }, "History"),
    first.entries.length === 0 ? h("p", { class: "help" }, "No membership changes recorded.") : list,
  );
  let cursor = first.nextCursor;
  if (cursor !== null) {
    const more = h("button", { type: "button" }, "Show older changes");
    more.addEventListener("click", async () => {
      if (cursor === null) return;
      more.disabled = true;
      try {
        const page = await ctx.api.getCustomerHistory({
          params: { datasetId, customerId },
          query: { limit: 20, cursor },
        });
        list.append(...historyLines(page.entries));
        cursor = page.nextCursor;
        if (cursor === null) more.remove();
        else more.disabled = false;
      } catch (error) {
        more.replaceWith(notice("error", describeError(error)));
      }
    });
    section.append(more);
  }
  return section;
}

/** What a quintile score says: 5 is the top fifth of customers, 1 the bottom fifth. */
function quintile(score: number, what: string): string {
  const low = (score - 1) * 20;
  return `${score} of 5: ${what} than about ${low}% of customers${score === 5 ? " (the top fifth)" : score === 1 ? " (the bottom fifth)" : ""}`;
}

function explain(c: Customer): Array<[string, string]> {
  const lines: Array<[string, string]> = [
    [
      "Recency",
      `Last bought on ${c.lastPurchase}, ${fmt.int(c.recencyDays)} days before ${c.asOf}. R score ${quintile(c.scores.r, "bought more recently")}.`,
    ],
    [
      "Frequency",
      `${fmt.num(c.frequency, 0)} orders since ${c.firstPurchase}. F score ${quintile(c.scores.f, "ordered more often")}.`,
    ],
    ["Monetary", `Spent ${fmt.money(c.monetary)} in all. M score ${quintile(c.scores.m, "spent more")}.`],
  ];
  const p = c.predictions;
  if (p) {
    const days = fmt.int(p.horizonDays ?? 365);
    lines.push([
      "Still a customer?",
      p.churnRisk === null || p.probabilityAlive === null
        ? `Unknown. ${p.churnRiskNote}`
        : `${fmt.pct(p.probabilityAlive)} likely to still be buying (churn risk ${fmt.pct(p.churnRisk)}, by the ${MODEL_LABEL[p.model]} model).`,
    ]);
    if (p.expectedPurchases !== null)
      lines.push([
        "Expected purchases",
        `About ${fmt.num(p.expectedPurchases, 2)} purchases in the next ${days} days` +
          (p.expectedPurchasesInterval
            ? ` (80% interval ${fmt.num(p.expectedPurchasesInterval.low, 2)} to ${fmt.num(p.expectedPurchasesInterval.high, 2)}).`
            : "."),
      ]);
    if (p.clv !== null)
      lines.push([
        "Predicted lifetime value",
        `${fmt.money(p.clv)} over the next ${days} days` +
          (p.clvInterval
            ? ` (80% interval ${fmt.money(p.clvInterval.low)} to ${fmt.money(p.clvInterval.high)}).`
            : "."),
      ]);
  }
  return lines;
}

type Dataset = RouteOutput<"getDataset">;

/**
 * The next best category and one line of why: the segment of the family it is measured in (the dataset's
 * nextBestCategory.family, RFM by default) buys it more often than the average customer, and this customer has
 * not bought it yet.
 */
function nextBestSection(c: Customer, dataset: Dataset | null): HTMLElement {
  const family = dataset?.settings.nextBestCategory?.family ?? "rfm";
  const off = dataset?.settings.nextBestCategory?.enabled === false;
  const segment = c.segments.find((s) => s.family === family);
  const category = c.nextBestCategory;
  const why =
    category !== null
      ? `Customers in ${segment?.name ?? "the same segment"} buy ${category} more often than the average customer, ` +
        "and this customer has not bought it yet."
      : off
        ? "Turned off in the dataset's settings."
        : "None: the orders carry no category, or this customer has bought every category their segment buys often enough.";
  return h(
    "section",
    { "aria-labelledby": "next-best" },
    h("h3", { id: "next-best" }, "Next best category"),
    h(
      "p",
      { id: "next-best-category", ...(category !== null ? { "data-category": category } : {}) },
      `Next best category: ${category ?? "none"}`,
    ),
    h("p", { id: "next-best-why", class: "help" }, why),
  );
}

/** CLV with its 80% interval, e.g. "41.20 (33.10–50.75)". */
function clvText(c: Customer): string {
  const p = c.predictions;
  if (!p || p.clv === null) return "—";
  return p.clvInterval
    ? `${fmt.money(p.clv)} (${fmt.money(p.clvInterval.low)}–${fmt.money(p.clvInterval.high)})`
    : fmt.money(p.clv);
}

/** Churn risk, or "unknown" where the model cannot tell: never a certainty the model does not have. */
function churnText(c: Customer): string {
  const p = c.predictions;
  if (!p) return "—";
  return p.churnRisk === null ? "unknown" : fmt.pct(p.churnRisk);
}

export async function customerPage(ctx: PageContext, root: HTMLElement): Promise<void> {
  const datasetId = ctx.datasetId as string;
  const current = ctx.args[0] ?? "";
  const input = h("input", {
    id: "customer-id",
    name: "customerId",
    type: "search",
    value: current,
    required: true,
    autocomplete: "off",
  });
  const form = h(
    "form",
    { class: "inline-form", role: "search", "aria-label": "Find a customer" },
    h("label", { for: "customer-id" }, "Customer id"),
    input,
    h("button", { type: "submit" }, "Look up"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = input.value.trim();
    if (id) ctx.navigate(link(datasetId, "customers", id));
  });
  const result = h("div", { "aria-live": "polite" });
  root.append(h("h1", {}, "Customer lookup"), form, result);
  if (!current) {
    input.focus();
    return;
  }
  try {
    const [customer, list, history, dataset] = await Promise.all([
      ctx.api.getCustomer({ params: { datasetId, customerId: current } }),
      ctx.api.listSegments({ params: { datasetId } }).catch(() => null),
      ctx.api
        .getCustomerHistory({ params: { datasetId, customerId: current }, query: { limit: 20 } })
        .catch(() => null),
      ctx.api.getDataset({ params: { datasetId } }).catch(() => null),
    ]);
    const described = new Map<string, Segment>((list?.segments ?? []).map((s) => [s.id, s]));
    replace(
      result,
      h("h2", { id: "customer-title" }, `Customer ${customer.customerId}`),
      stats(
        [
          ["R score", String(customer.scores.r)],
          ["F score", String(customer.scores.f)],
          ["M score", String(customer.scores.m)],
          ["RFM", customer.scores.rfm],
          ["Lifecycle", customer.lifecycle?.name ?? "—"],
          ["Cluster", customer.cluster?.name ?? "—"],
          ["CLV", clvText(customer)],
          ["Churn risk", churnText(customer)],
        ],
        "stats tiles",
      ),
      h(
        "section",
        { "aria-labelledby": "in-words" },
        h("h3", { id: "in-words" }, "In words"),
        h(
          "dl",
          { class: "explain" },
          ...explain(customer).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
        ),
      ),
      nextBestSection(customer, dataset),
      h(
        "section",
        { "aria-labelledby": "memberships" },
        h("h3", { id: "memberships" }, `Member of ${customer.segments.length} segments`),
        h(
          "ul",
          { class: "memberships" },
          ...customer.segments.map((s) =>
            h(
              "li",
              { "data-segment-id": s.id },
              h("a", { href: link(datasetId, "segments", s.id) }, s.name),
              h("span", { class: "kind" }, ` · ${FAMILY_LABEL[s.family]}`),
              h(
                "p",
                {},
                s.family === "cluster" && customer.cluster?.description
                  ? customer.cluster.description
                  : (described.get(s.id)?.description ?? ""),
              ),
            ),
          ),
        ),
      ),
      ...(history ? [historySection(ctx, datasetId, current, history)] : []),
      h("p", { class: "help" }, `From version ${customer.version}, evaluated as of ${customer.asOf}.`),
    );
  } catch (error) {
    replace(result, notice("error", describeError(error)));
  }
}
