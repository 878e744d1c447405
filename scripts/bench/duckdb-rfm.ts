/**
 * The DuckDB baseline of the engine comparison, in a process of its own: RFM features and quintile scores of
 * a synthetic transactions file (./generate.ts) with DuckDB 1.5 from npm on `threads` threads (1 by
 * default, the brief's yardstick), printing one JSON line: seconds (query, in process), customers scored,
 * the sum of their monetary values in cents (a check against the engine), peak RSS.
 *
 *   node bench-out/dist-parallel/duckdb-rfm.mjs '{"file":"…","asOf":"2024-12-31","threads":1}'
 *
 * The query follows the data contract as the engine does: lines of one order_id are one order (amounts
 * summed, the first line's customer and date), recency is days from the last order that is not a return to
 * asOf, frequency the distinct days with such orders, monetary the net sum; scores are quintiles (ntile 5).
 */
import { DuckDBInstance } from "@duckdb/node-api";

export interface DuckDbConfig {
  file: string;
  asOf: string;
  threads?: number;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "{}") as DuckDbConfig;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(config.asOf)) throw new Error("asOf must be yyyy-mm-dd");
  const started = performance.now();
  const instance = await DuckDBInstance.create(":memory:", { threads: String(config.threads ?? 1) });
  const connection = await instance.connect();
  const file = config.file.replaceAll("'", "''");
  const sql = `
    CREATE TABLE rfm AS
    WITH lines AS (
      SELECT * FROM read_csv('${file}', header = true, auto_detect = false,
        columns = {'customer_id': 'VARCHAR', 'order_id': 'VARCHAR', 'order_date': 'DATE',
                   'amount': 'DECIMAL(18,2)', 'channel': 'VARCHAR'})
    ), orders AS (
      SELECT order_id, first(customer_id) AS customer_id, first(order_date) AS day, sum(amount) AS amount
      FROM lines GROUP BY order_id
    ), customers AS (
      SELECT customer_id,
        date_diff('day', max(day) FILTER (WHERE amount >= 0), DATE '${config.asOf}') AS recency,
        count(DISTINCT day) FILTER (WHERE amount >= 0) AS frequency,
        sum(amount) AS monetary
      FROM orders GROUP BY customer_id
    )
    SELECT customer_id, recency, frequency, monetary,
      ntile(5) OVER (ORDER BY recency DESC) AS r,
      ntile(5) OVER (ORDER BY frequency) AS f,
      ntile(5) OVER (ORDER BY monetary) AS m
    FROM customers`;
  await connection.run(sql);
  const check = await connection.runAndReadAll(
    "SELECT count(*)::BIGINT, (sum(monetary) * 100)::BIGINT FROM rfm",
  );
  const [customers, monetaryCents] = (check.getRows()[0] ?? []) as [bigint, bigint];
  const seconds = (performance.now() - started) / 1000;
  connection.closeSync();
  process.stdout.write(
    `${JSON.stringify({
      seconds,
      customers: Number(customers),
      monetaryCents: Number(monetaryCents),
      maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    })}\n`,
  );
}

await main();
