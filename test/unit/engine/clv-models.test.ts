/**
 * The registry of repeat-purchase models: every entry answers through the one interface with the same
 * figures as the model's own functions.
 */
import { describe, expect, it } from "vitest";
import { expectedPurchases, fitBgNbd, probabilityAlive, REPEAT_MODELS } from "../../../shared/engine/clv";
import { ClvInputError } from "../../../shared/engine/clv/errors";

const x = [0, 1, 2, 5, 0, 3, 7, 1];
const tx = [0, 10, 20, 30, 0, 5, 35, 2];
const T = [40, 40, 38, 39, 20, 30, 40, 10];

describe("repeat-model registry", () => {
  it("BG/NBD through the registry equals fitBgNbd and its predictions", () => {
    const model = REPEAT_MODELS.bgNbd;
    expect(model?.label).toBe("BG/NBD");
    if (model === undefined) return;
    const fit = model.fit(x, tx, T);
    const direct = fitBgNbd(x, tx, T);
    expect(fit.model).toBe("bgNbd");
    expect(fit.params).toEqual(direct.params);
    expect(fit.logLikelihood).toBe(direct.logLikelihood);
    expect(model.logLikelihood(fit.params, x, tx, T)).toBeCloseTo(direct.logLikelihood, 9);
    expect(model.probabilityAlive(fit.params, 3, 20, 39)).toBe(probabilityAlive(direct.params, 3, 20, 39));
    expect(model.expectedPurchases(fit.params, 10, 3, 20, 39)).toBe(
      expectedPurchases(direct.params, 10, 3, 20, 39),
    );
    expect(model.paramNames).toEqual(["r", "alpha", "a", "b"]);
  });

  it("rejects a parameter record that misses a parameter", () => {
    expect(() => REPEAT_MODELS.bgNbd?.probabilityAlive({ r: 1, alpha: 1, a: 1 }, 1, 1, 2)).toThrow(
      ClvInputError,
    );
  });
});
