/**
 * Pareto/NBD (shared/engine/clv/pareto-nbd.ts).
 *
 * - CDNOW sample, calibration period to 1997-09-30 in weeks (test/fixtures/clv/cdnow-sample-summary.csv):
 *   Fader, Hardie & Lee (2005), "A Note on Implementing the Pareto/NBD Model in MATLAB", publish
 *   r = 0.553, α = 10.578, s = 0.606, β = 11.669 and log-likelihood −9595.0; each must be matched within 1%.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fitParetoNbd } from "../../../shared/engine/clv";

function readCdnow() {
  const [header, ...lines] = readFileSync(
    new URL("../../fixtures/clv/cdnow-sample-summary.csv", import.meta.url),
    "utf8",
  )
    .trim()
    .split("\n");
  expect(header?.trim()).toBe("ID,x,t_x,T,zbar");
  const cells = lines.map((line) => line.split(",").map(Number));
  return {
    x: cells.map((c) => c[1] as number),
    tx: cells.map((c) => c[2] as number),
    T: cells.map((c) => c[3] as number),
  };
}

const within = (value: number, published: number, relative: number): boolean =>
  Math.abs(value - published) <= relative * Math.abs(published);

describe("Pareto/NBD on the CDNOW sample", () => {
  const data = readCdnow();

  it("reproduces the published estimates of Fader, Hardie & Lee (2005) within 1%", () => {
    const fit = fitParetoNbd(data.x, data.tx, data.T);
    expect(fit.converged).toBe(true);
    expect(fit.atBoundary).toEqual([]);
    const published = { r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669 } as const;
    for (const name of ["r", "alpha", "s", "beta"] as const) {
      expect(within(fit.params[name], published[name], 0.01), `${name} = ${fit.params[name]}`).toBe(true);
    }
    expect(within(fit.logLikelihood, -9595.0, 0.01), `LL = ${fit.logLikelihood}`).toBe(true);
    // Published to one decimal; the optimum found is closer than that.
    expect(Math.abs(fit.logLikelihood - -9595.0)).toBeLessThan(0.05);
  });
});
