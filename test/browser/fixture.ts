/**
 * A transactions file of a few hundred customers with varied habits (one-off buyers, regulars, big
 * spenders, lapsed ones), made from a seeded generator so every run uploads the same bytes. Large enough
 * that segments have several pages of members and the value models have something to fit; small enough that
 * its run takes seconds.
 */
/** The evaluation date that suits the file: two days after its last possible order. */
export const FIXTURE_AS_OF = "2025-08-25";

export function makeTransactions(customers = 400, seed = 7): string {
  let state = seed >>> 0;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const start = Date.UTC(2024, 0, 1);
  const span = 600;
  const lines = ["customer_id,order_id,order_date,amount,channel"];
  let order = 0;
  for (let c = 1; c <= customers; c++) {
    const id = `C${String(c).padStart(4, "0")}`;
    const orders = 1 + Math.floor(random() ** 2 * 12);
    const first = Math.floor(random() * span * 0.8);
    const last = first + Math.floor(random() * (span - first));
    const basket = 10 + random() ** 3 * 400;
    for (let o = 0; o < orders; o++) {
      order += 1;
      const day = orders === 1 ? first : first + Math.round(((last - first) * o) / (orders - 1));
      const date = new Date(start + day * 86_400_000).toISOString().slice(0, 10);
      const amount = (basket * (0.5 + random())).toFixed(2);
      lines.push(`${id},O${order},${date},${amount},${random() < 0.6 ? "web" : "store"}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * A transactions file with a category on every order, for the next best category: a fifth of the customers
 * buy often and lately, and Jazz three times as often per order as the others; everyone else buys now and then
 * over the last two years. Orders run up to FIXTURE_AS_OF, so the last 90 days hold new categories to check.
 */
export function makeCategorizedTransactions(customers = 300, seed = 5): string {
  let state = seed >>> 0;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const categories = ["Blues", "Classical", "Country", "Folk", "Jazz", "Pop", "Rock", "Soul"];
  const end = Date.parse(`${FIXTURE_AS_OF}T00:00:00Z`);
  const lines = ["customer_id,order_id,order_date,amount,category"];
  let order = 0;
  for (let c = 1; c <= customers; c++) {
    const often = random() < 0.2;
    const weights = [3.5, 2, 3, 3, often ? 7.5 : 2.5, 4, 4, 3.5];
    const total = weights.reduce((a, b) => a + b, 0);
    const orders = often ? 5 + Math.floor(random() * 4) : 1 + Math.floor(random() * 4);
    for (let o = 0; o < orders; o++) {
      const daysBack = Math.floor(random() * (often ? 150 : 720));
      let u = random() * total;
      let k = 0;
      while (k < weights.length - 1 && u >= (weights[k] as number)) u -= weights[k++] as number;
      const date = new Date(end - daysBack * 86_400_000).toISOString().slice(0, 10);
      lines.push(
        `R${String(c).padStart(4, "0")},O${++order},${date},${(5 + random() * 95).toFixed(2)},${categories[k]}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
