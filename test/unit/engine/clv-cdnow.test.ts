/**
 * The published CDNOW results, reproduced from the sample the papers used
 * (test/fixtures/clv/cdnow-sample-summary.csv: 2,357 customers, weeks, calibration period to 1997-09-30;
 * columns ID, x, t_x, T, zbar = mean value of the repeat purchases).
 *
 * - BG/NBD, Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way", table in section 4:
 *   r = 0.243, α = 4.414, a = 0.793, b = 2.426, log-likelihood −9582.4. Published to 3 decimals (1 for the
 *   log-likelihood), so the estimate must round to them: within 0.0005 (0.05).
 * - Gamma-Gamma, Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": p = 6.25, q = 3.74,
 *   γ = 15.44. Published to 2 decimals; zbar in this file is rounded to cents, which moves γ in its second
 *   decimal (15.448 here), so the tolerance is 0.01 for p and q and 0.02 for γ. The log-likelihood of the fit
 *   of m_x densities on this file is about −4055.92 (CLVTools' test suite has −4055.918 from its copy of the
 *   data).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fitBgNbd, fitGammaGamma, fitValueModels, predictAll } from "../../../shared/engine/clv";

function readSummary() {
  const [header, ...lines] = readFileSync(
    new URL("../../fixtures/clv/cdnow-sample-summary.csv", import.meta.url),
    "utf8",
  )
    .trim()
    .split("\n");
  expect(header?.trim()).toBe("ID,x,t_x,T,zbar");
  const n = lines.length;
  const x = new Float64Array(n);
  const tx = new Float64Array(n);
  const T = new Float64Array(n);
  const mx = new Float64Array(n);
  lines.forEach((line, i) => {
    const cells = line.split(",").map(Number);
    x[i] = cells[1] as number;
    tx[i] = cells[2] as number;
    T[i] = cells[3] as number;
    mx[i] = cells[4] as number;
  });
  return { x, tx, T, mx };
}

describe("CDNOW sample (2,357 customers)", () => {
  const data = readSummary();

  it("has the papers' sample: 2,357 customers, 946 with a repeat purchase", () => {
    expect(data.x.length).toBe(2357);
    expect(data.x.filter((v) => v > 0).length).toBe(946);
  });

  it("reproduces the BG/NBD estimates of Fader, Hardie & Lee (2005)", () => {
    const fit = fitBgNbd(data.x, data.tx, data.T);
    expect(fit.converged).toBe(true);
    expect(fit.params.r).toBeCloseTo(0.243, 3);
    expect(fit.params.alpha).toBeCloseTo(4.414, 3);
    expect(fit.params.a).toBeCloseTo(0.793, 3);
    expect(fit.params.b).toBeCloseTo(2.426, 3);
    expect(fit.logLikelihood).toBeCloseTo(-9582.4, 1);
  });

  it("reproduces the Gamma-Gamma estimates of Fader & Hardie (2013)", () => {
    const fit = fitGammaGamma(data.x, data.mx);
    expect(fit.converged).toBe(true);
    expect(fit.customers).toBe(946);
    expect(Math.abs(fit.params.p - 6.25)).toBeLessThan(0.01);
    expect(Math.abs(fit.params.q - 3.74)).toBeLessThan(0.01);
    expect(Math.abs(fit.params.gamma - 15.44)).toBeLessThan(0.02);
    expect(Math.abs(fit.logLikelihood - -4055.92)).toBeLessThan(0.02);
  });

  it("finds the same optimum from a distant start", () => {
    const fit = fitBgNbd(data.x, data.tx, data.T, { initial: { r: 5, alpha: 0.1, a: 20, b: 0.05 } });
    expect(fit.converged).toBe(true);
    expect(fit.params.r).toBeCloseTo(0.243, 3);
    expect(fit.params.b).toBeCloseTo(2.426, 3);
  });

  it("scores every customer with finite values in range", () => {
    const fits = fitValueModels(data);
    expect(fits.issues).toEqual([]);
    const scores = predictAll(data, fits.models);
    for (let i = 0; i < data.x.length; i++) {
      const alive = scores.probabilityAlive[i] as number;
      expect(alive >= 0 && alive <= 1).toBe(true);
      expect(Number.isFinite(scores.clv[i]) && (scores.clv[i] as number) >= 0).toBe(true);
      expect(scores.valueFromModel[i]).toBe(1);
    }
  });
});
