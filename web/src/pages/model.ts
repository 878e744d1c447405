/**
 * The predictions page: which repeat-purchase model serves the dataset's predictions and why, how well each
 * model predicted the held-out recent orders (GET …/model), and each model's fitted parameters. The chart
 * sets the mean actual repeat purchases in the holdout window beside each model's mean prediction, by the
 * customers' repeat purchases before it (0 … 7+), as Fader, Hardie & Lee (2005) do.
 */
import type { RouteOutput } from "../../../shared/client";
import { barConfig, chartFigure } from "../charts";
import type { PageContext } from "../context";
import { fmt, h, notice, stats, table } from "../dom";

type ValueModel = RouteOutput<"getModel">;
type ModelName = NonNullable<ValueModel["selectedModel"]>;

export const MODEL_LABEL: Record<ModelName, string> = {
  bgNbd: "BG/NBD",
  paretoNbd: "Pareto/NBD",
  mbgNbd: "MBG/NBD",
};
const MODEL_ORDER: ModelName[] = ["bgNbd", "paretoNbd", "mbgNbd"];

/** A fitted parameter to five significant digits: rates per day can be small, shapes large. */
const significant = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 5 });
const parameter = (n: number) => significant.format(n);

/** A mean number of purchases in the holdout table, to three decimals. */
const mean = (n: number | undefined) => (n === undefined ? "—" : n.toFixed(3));

function validationSection(model: ValueModel): HTMLElement | null {
  const v = model.validation;
  if (!v) return null;
  const names = MODEL_ORDER.filter((name) => v.models[name] !== undefined);
  const rows = v.conditionalExpectations;
  const labels = rows.map((r) => r.label);
  const figure = chartFigure({
    title: `Repeat purchases in the last ${fmt.int(v.holdoutDays)} days: actual and predicted`,
    summary:
      `Mean repeat purchases per customer between ${v.calibrationEnd} and ${v.asOf}, by the customer's repeat ` +
      `purchases up to ${v.calibrationEnd}: what customers did, and what each model fitted on the earlier orders predicted.`,
    config: barConfig(
      labels,
      [
        { label: "Actual", data: rows.map((r) => r.meanActual) },
        ...names.map((name) => ({
          label: `${MODEL_LABEL[name]} predicted`,
          data: rows.map((r) => r.meanPredicted[name] ?? 0),
        })),
      ],
      {
        titles: {
          index: `Repeat purchases up to ${v.calibrationEnd}`,
          value: "Mean purchases",
        },
      },
    ),
    table: table(
      "Mean repeat purchases in the holdout window by repeat purchases before it",
      [
        "Repeat purchases before",
        "Customers",
        "Actual",
        ...names.map((name) => `${MODEL_LABEL[name]} predicted`),
      ],
      rows.map((r) => [
        r.label,
        fmt.int(r.customers),
        mean(r.meanActual),
        ...names.map((name) => mean(r.meanPredicted[name])),
      ]),
      { numeric: [1, 2, ...names.map((_, i) => 3 + i)] },
    ),
  });
  figure.id = "holdout-chart";
  const accuracy = table(
    `Accuracy of each model on the ${fmt.int(v.customers)} customers who had bought by ${v.calibrationEnd}`,
    [
      "Model",
      "Predicted repeat purchases",
      "Actual",
      "Mean absolute error",
      "Root mean squared error",
      "Log-likelihood",
    ],
    names.map((name) => {
      const m = v.models[name];
      return [
        name === model.selectedModel ? `${MODEL_LABEL[name]} (serves the predictions)` : MODEL_LABEL[name],
        fmt.num(m?.predictedRepeatPurchases, 1),
        fmt.int(v.actualRepeatPurchases),
        fmt.num(m?.mae, 4),
        fmt.num(m?.rmse, 4),
        fmt.num(m?.fit.logLikelihood, 1),
      ];
    }),
    { numeric: [1, 2, 3, 4, 5] },
  );
  accuracy.id = "model-accuracy";
  return h(
    "section",
    { "aria-labelledby": "holdout" },
    h("h2", { id: "holdout" }, "How well the models predicted the recent past"),
    h(
      "p",
      { class: "help" },
      `Each model was fitted on the orders up to ${v.calibrationEnd} only, then asked how many purchases ` +
        `each of those customers would make in the ${fmt.int(v.holdoutDays)} days after it; the figures below ` +
        "set that beside what the customers did. The model with the lowest mean absolute error per customer " +
        "is chosen, then fitted again on all the orders.",
    ),
    figure,
    h("div", { class: "table-scroll" }, accuracy),
  );
}

function parametersSection(model: ValueModel): HTMLElement {
  const rows: Array<[string, string, string, string]> = [];
  for (const name of MODEL_ORDER) {
    const fit = model.models[name];
    if (!fit) continue;
    const params = Object.entries(fit.params)
      .map(([k, value]) => `${k} = ${parameter(value)}`)
      .join(", ");
    rows.push([
      MODEL_LABEL[name],
      params,
      fmt.num(fit.logLikelihood, 1),
      fit.converged
        ? fit.atBoundary.length > 0
          ? `yes, ${fit.atBoundary.join(", ")} at a bound`
          : "yes"
        : "no",
    ]);
  }
  const gg = model.gammaGamma;
  if (gg) {
    const params = Object.entries(gg.params)
      .map(([k, value]) => `${k} = ${parameter(value)}`)
      .join(", ");
    rows.push([
      "Gamma-Gamma (order value)",
      params,
      fmt.num(gg.logLikelihood, 1),
      gg.converged === null ? "—" : gg.converged ? "yes" : "no",
    ]);
  }
  return h(
    "section",
    { "aria-labelledby": "parameters" },
    h("h2", { id: "parameters" }, "Fitted on all the orders"),
    h(
      "div",
      { class: "table-scroll" },
      table("Parameters (rates per day)", ["Model", "Parameters", "Log-likelihood", "Converged"], rows, {
        numeric: [2],
      }),
    ),
  );
}

type NbcReport = NonNullable<NonNullable<RouteOutput<"getDataset">["current"]>["nextBestCategory"]>;

/**
 * This run's next best category against the most popular category, in words: how often each was right for
 * the customers who bought a category new to them in the held-out days, or why it was not measured.
 */
function nextBestSection(report: NbcReport | undefined): HTMLElement | null {
  if (report === undefined) return null;
  const text =
    "skipped" in report
      ? `Not measured in this run: ${report.skipped.message} (${report.skipped.code}).`
      : `Next best category was right for ${fmt.pct(report.hitRate)} of the ${fmt.int(report.customersEvaluated)} ` +
        `customers who tried a new category in the last ${fmt.int(report.holdoutDays)} days; the most popular ` +
        `category would have been right for ${fmt.pct(report.baselineHitRate)}.`;
  return h(
    "section",
    { "aria-labelledby": "next-best" },
    h("h2", { id: "next-best" }, "Next best category"),
    h("p", { id: "nbc-summary" }, text),
    "skipped" in report
      ? ""
      : h(
          "p",
          { class: "help" },
          `Recommended from the orders up to ${report.calibrationEnd}, in the ${report.family === "rfm" ? "RFM segments" : "lifecycle stages"}; ` +
            `a hit is a recommendation the customer then bought (${fmt.int(report.hits)} against ${fmt.int(report.baselineHits)}).`,
        ),
  );
}

export async function modelPage(ctx: PageContext, root: HTMLElement): Promise<void> {
  const datasetId = ctx.datasetId as string;
  const [model, dataset] = await Promise.all([
    ctx.api.getModel({ params: { datasetId } }),
    ctx.api.getDataset({ params: { datasetId } }).catch(() => null),
  ]);
  const nextBest = nextBestSection(dataset?.current?.nextBestCategory);
  root.append(h("h1", {}, "Predictions"));
  const sentence = h("p", { id: "model-summary", class: "lead" }, model.summary);
  if (!model.fitted || !model.selectedModel) {
    root.append(sentence, notice("info", "This version has no purchase or value predictions."));
    if (nextBest) root.append(nextBest);
    return;
  }
  root.append(
    sentence,
    stats(
      [
        ["Model serving the predictions", MODEL_LABEL[model.selectedModel]],
        [
          "Chosen by",
          model.selection === "holdout"
            ? "its accuracy on recent orders"
            : model.selection === "setting"
              ? "the dataset's settings"
              : "default",
        ],
        ["Horizon", `${fmt.int(model.horizonDays ?? 0)} days`],
        ["Customers fitted", fmt.int(model.customers ?? 0)],
        ["With a repeat purchase", fmt.int(model.repeatCustomers ?? 0)],
      ],
      "stats tiles",
    ),
    h("p", { id: "model-selection" }, model.selectionReason ?? ""),
  );
  if (model.validationSkipped) root.append(notice("info", model.summary));
  const validation = validationSection(model);
  if (validation) root.append(validation);
  root.append(parametersSection(model));
  if (nextBest) root.append(nextBest);
  if (model.issues.length > 0) {
    root.append(
      h(
        "section",
        { "aria-labelledby": "model-issues" },
        h("h2", { id: "model-issues" }, "Notes from the run"),
        h("ul", {}, ...model.issues.map((i) => h("li", {}, `${i.message} (${i.code})`))),
      ),
    );
  }
  root.append(
    h(
      "p",
      { class: "help" },
      "Each customer's expected purchases and lifetime value come with an 80% interval from the uncertainty " +
        "of the fitted parameters. Under BG/NBD a customer with a single purchase day cannot be judged gone, " +
        "so their churn risk shows as unknown.",
    ),
    h("p", { class: "help" }, `From version ${model.version}, evaluated as of ${model.asOf}.`),
  );
}
