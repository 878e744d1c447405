/**
 * MBG/NBD (shared/engine/clv/mbg-nbd.ts).
 *
 * - CDNOW sample, calibration period in weeks (test/fixtures/clv/cdnow-sample-summary.csv, the same 2,357
 *   customers as lifetimes/datasets/cdnow_customers_summary.csv): the lifetimes package
 *   (CamDavidsonPilon/lifetimes, tests/test_estimation.py, TestModifiedBetaGammaFitter
 *   .test_params_out_is_close_to_BTYDplus) checks its ModifiedBetaGeoFitter against BTYDplus's estimates
 *   r = 0.525, α = 6.183, a = 0.891, b = 1.614 to 3 decimals; the fit here must round to them as well
 *   (within 0.0005).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fitMbgNbd } from "../../../shared/engine/clv";

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

describe("MBG/NBD on the CDNOW sample", () => {
  const data = readCdnow();

  it("matches the BTYDplus estimates that lifetimes' test suite uses (3 decimals)", () => {
    const fit = fitMbgNbd(data.x, data.tx, data.T);
    expect(fit.converged).toBe(true);
    expect(fit.atBoundary).toEqual([]);
    expect(Math.abs(fit.params.r - 0.525)).toBeLessThan(0.0005);
    expect(Math.abs(fit.params.alpha - 6.183)).toBeLessThan(0.0005);
    expect(Math.abs(fit.params.a - 0.891)).toBeLessThan(0.0005);
    expect(Math.abs(fit.params.b - 1.614)).toBeLessThan(0.0005);
  });

  it("finds the same optimum from a distant start", () => {
    const fit = fitMbgNbd(data.x, data.tx, data.T, { initial: { r: 5, alpha: 0.1, a: 20, b: 0.05 } });
    expect(fit.converged).toBe(true);
    expect(Math.abs(fit.params.r - 0.525)).toBeLessThan(0.0005);
    expect(Math.abs(fit.params.b - 1.614)).toBeLessThan(0.0005);
  });
});
