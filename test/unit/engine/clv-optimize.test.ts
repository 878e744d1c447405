/**
 * The minimisers behind the CLV fits, on functions whose minimum is known exactly.
 */
import { describe, expect, it } from "vitest";
import {
  atBound,
  bfgs,
  boxed,
  LOG_PARAM_BOUND,
  minimize,
  nelderMead,
  type ValueAndGradient,
} from "../../../shared/engine/clv/optimize";

/** Extended Rosenbrock: Σ 100 (x₂ᵢ − x₂ᵢ₋₁²)² + (1 − x₂ᵢ₋₁)², minimum 0 at (1, …, 1). */
const rosenbrock: ValueAndGradient = (x, g) => {
  g.fill(0);
  let f = 0;
  for (let i = 0; i < x.length; i += 2) {
    const a = x[i] as number;
    const b = x[i + 1] as number;
    const u = b - a * a;
    f += 100 * u * u + (1 - a) * (1 - a);
    g[i] = -400 * a * u - 2 * (1 - a);
    g[i + 1] = 200 * u;
  }
  return f;
};

describe("bfgs", () => {
  it("finds the minimum of the 2-D Rosenbrock valley from the classic start", () => {
    const result = bfgs(rosenbrock, [-1.2, 1]);
    expect(result.converged).toBe(true);
    expect(result.method).toBe("bfgs");
    expect(result.x[0]).toBeCloseTo(1, 7);
    expect(result.x[1]).toBeCloseTo(1, 7);
    expect(result.evaluations).toBeLessThan(200);
  });

  it("finds the minimum of the 4-D extended Rosenbrock function", () => {
    const result = bfgs(rosenbrock, [-1.2, 1, -1.2, 1]);
    expect(result.converged).toBe(true);
    for (const v of result.x) expect(v).toBeCloseTo(1, 7);
  });

  it("solves an ill-conditioned quadratic (condition number 1e6) to its exact minimiser", () => {
    const scales = [1, 1e2, 1e4, 1e6];
    const centre = [3, -2, 0.5, 7];
    const f: ValueAndGradient = (x, g) => {
      let v = 0;
      for (let j = 0; j < 4; j++) {
        const d = (x[j] as number) - (centre[j] as number);
        v += 0.5 * (scales[j] as number) * d * d;
        g[j] = (scales[j] as number) * d;
      }
      return v;
    };
    const result = bfgs(f, [0, 0, 0, 0]);
    expect(result.converged).toBe(true);
    centre.forEach((c, j) => {
      expect(result.x[j]).toBeCloseTo(c, 6);
    });
  });

  it("never accepts a point where the function is not finite", () => {
    // −log x + 10 x has its minimum at x = 0.1 and is NaN for x < 0, where the first full step (to −8) lands.
    let sawNaN = false;
    const f: ValueAndGradient = (x, g) => {
      const v = x[0] as number;
      g[0] = -1 / v + 10;
      const value = -Math.log(v) + 10 * v;
      if (Number.isNaN(value)) sawNaN = true;
      return value;
    };
    const result = bfgs(f, [1]);
    expect(sawNaN).toBe(true);
    expect(result.converged).toBe(true);
    expect(result.x[0]).toBeCloseTo(0.1, 8);
  });

  it("reports no convergence when the iteration limit is reached", () => {
    const result = bfgs(rosenbrock, [-1.2, 1], { maxIterations: 3 });
    expect(result.converged).toBe(false);
    expect(result.iterations).toBe(3);
  });
});

describe("nelderMead", () => {
  const value = (x: Float64Array): number => rosenbrock(x, new Float64Array(x.length));

  it("finds the minimum of the 2-D Rosenbrock valley", () => {
    const result = nelderMead(value, [-1.2, 1]);
    expect(result.converged).toBe(true);
    expect(result.method).toBe("nelder-mead");
    expect(result.x[0]).toBeCloseTo(1, 6);
    expect(result.x[1]).toBeCloseTo(1, 6);
  });

  it("finds the minimum of the 4-D extended Rosenbrock function", () => {
    const result = nelderMead(value, [-1.2, 1, -1.2, 1], { maxEvaluations: 20000 });
    expect(result.converged).toBe(true);
    for (const v of result.x) expect(v).toBeCloseTo(1, 5);
  });

  it("reports no convergence when the evaluation budget runs out", () => {
    const result = nelderMead(value, [-1.2, 1], { maxEvaluations: 30 });
    expect(result.converged).toBe(false);
    expect(result.evaluations).toBeLessThanOrEqual(30 + 4);
    expect(result.fx).toBeLessThan(value(Float64Array.from([-1.2, 1])));
  });

  it("treats NaN as worse than any number", () => {
    const f = (x: Float64Array): number => {
      const v = x[0] as number;
      return v <= 0 ? Number.NaN : (v - 2) * (v - 2);
    };
    const result = nelderMead(f, [0.1], { step: 1 });
    expect(result.converged).toBe(true);
    expect(result.x[0]).toBeCloseTo(2, 6);
  });
});

describe("minimize", () => {
  it("falls back to Nelder–Mead when the gradient is useless and still finds the minimum", () => {
    // The gradient points uphill everywhere, so every BFGS line search fails.
    const misleading: ValueAndGradient = (x, g) => {
      const f = rosenbrock(x, g);
      for (let j = 0; j < g.length; j++) g[j] = -(g[j] as number);
      return f;
    };
    const result = minimize(misleading, [-1.2, 1]);
    expect(result.method).toBe("nelder-mead");
    expect(result.converged).toBe(true);
    expect(result.x[0]).toBeCloseTo(1, 6);
    expect(result.x[1]).toBeCloseTo(1, 6);
  });
});

describe("boxed", () => {
  it("keeps a search whose objective falls forever inside the box, and flags the coordinate", () => {
    // exp(−θ₀) keeps falling as θ₀ grows; (θ₁ − 1)² has an interior minimum.
    const f: ValueAndGradient = (t, g) => {
      const a = t[0] as number;
      const b = t[1] as number;
      g[0] = -Math.exp(-a);
      g[1] = 2 * (b - 1);
      return Math.exp(-a) + (b - 1) * (b - 1);
    };
    const result = minimize(boxed(f), [0, 0]);
    expect(result.x[0]).toBeGreaterThan(LOG_PARAM_BOUND - 0.01);
    expect(result.x[0]).toBeLessThan(LOG_PARAM_BOUND + 0.01);
    expect(result.x[1]).toBeCloseTo(1, 6);
    expect(atBound(result.x)).toEqual([0]);
  });

  it("adds a rising quadratic penalty outside the box, with its gradient", () => {
    const flat: ValueAndGradient = (_t, g) => {
      g.fill(0);
      return 5;
    };
    const g = new Float64Array(1);
    expect(boxed(flat)(Float64Array.from([LOG_PARAM_BOUND + 2]), g)).toBe(5 + 4);
    expect(g[0]).toBe(4);
    expect(boxed(flat)(Float64Array.from([-LOG_PARAM_BOUND - 1]), g)).toBe(5 + 1);
    expect(g[0]).toBe(-2);
  });
});
