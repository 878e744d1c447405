/**
 * Free TCP ports, chosen by the operating system: listen on port 0, read the port it gave, close.
 */
import { createServer } from "node:net";

/**
 * A port that was free a moment ago. Another process may take it before the caller binds it, so callers that
 * did not ask for a fixed port retry with a fresh one when the bind fails.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    // No host: the same wildcard address DynamoDB Local binds, so a port taken on any interface is refused.
    server.listen(0, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}

/** Whether a port can be bound right now on the wildcard address. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}
