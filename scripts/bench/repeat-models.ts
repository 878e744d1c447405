/**
 * Fit time of each repeat-purchase model (BG/NBD, Pareto/NBD, MBG/NBD; shared/engine/clv/models.ts) on
 * simulated customer summaries shaped like the benchmark's data (scripts/bench/generate.ts, DEFAULT_SPEC: BG/NBD
 * purchasing with r = 0.4, α = 8 per day, a = 1, b = 12, ages of 185 to 730 days on a day grid), compressed to
 * unique (x, t_x, T) triples as the value stage does. Prints one line per model: seconds, parameters,
 * log-likelihood, whether the fit converged, and its likelihood evaluations.
 */
import { compressSummary, REPEAT_MODEL_NAMES, REPEAT_MODELS } from "../../shared/engine/clv";
import type { RepeatModelName } from "../../shared/engine/types";
import { simulateBgNbd } from "../../test/fixtures/clv/simulate";
import { checkOrExit, oneOf, parseOrExit, size } from "../cli";
import { DEFAULT_SPEC } from "./generate";

const CLI = {
  name: "bench:repeat-models",
  usage: `usage: npx tsx scripts/bench/repeat-models.ts [--customers 100k] [--models bgNbd,paretoNbd,mbgNbd] [--seed 7]
  --customers  simulated customers (default 100k; e.g. 1m)
  --models     models to fit, comma-separated (default all three)
  --seed       simulation seed (default 7)
`,
  options: {
    customers: { type: "string", default: "100k" },
    models: { type: "string", default: REPEAT_MODEL_NAMES.join(",") },
    seed: { type: "string", default: "7" },
  },
} as const;
const { values } = parseOrExit(CLI);
const customers = checkOrExit(CLI, () => size("customers", values.customers));
const models = checkOrExit(CLI, () =>
  values.models.split(",").map((name) => oneOf<RepeatModelName>("models", name, REPEAT_MODEL_NAMES)),
);
const seed = checkOrExit(CLI, () => size("seed", values.seed));

const spec = DEFAULT_SPEC;
const simulated = simulateBgNbd({ r: spec.r, alpha: spec.alpha, a: spec.a, b: spec.b }, customers, {
  minT: spec.days - spec.acquisitionDays,
  maxT: spec.days,
  seed,
  grid: 1,
});
const triples = compressSummary(simulated);
console.log(`${customers} customers, ${triples.x.length} unique (x, t_x, T) triples`);
for (const name of models) {
  const model = REPEAT_MODELS[name];
  const started = performance.now();
  const fit = model.fit(triples.x, triples.tx, triples.T, { weights: triples.weight });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${model.label}: ${seconds.toFixed(2)} s, ${JSON.stringify(fit.params)}, LL ${fit.logLikelihood.toFixed(1)}, converged ${fit.converged}, ${fit.evaluations} evaluations`,
  );
}
