// The load generator of bench/cluster/service, run inside the client pod's network namespace:
// `concurrency` workers, each doing one HTTP request after another for `seconds`; prints one
// JSON line {requests, errors, seconds, latenciesMs}.
// Usage: node --import tsx load.ts HOST PORT SECONDS CONCURRENCY keepalive|close
import { Agent, request } from "node:http";

const [host, portText, secondsText, concurrencyText, mode] = process.argv.slice(2);
const port = Number(portText);
const seconds = Number(secondsText);
const concurrency = Number(concurrencyText);
const agent = new Agent({ keepAlive: mode === "keepalive", maxSockets: concurrency });
const latenciesMs: number[] = [];
let errors = 0;
const end = Date.now() + seconds * 1000;
const one = () =>
  new Promise<void>((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = request({ host, port, path: "/", agent }, (res) => {
      res.resume();
      res.on("end", () => {
        latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
        resolve();
      });
    });
    req.on("error", () => {
      errors++;
      resolve();
    });
    req.end();
  });
const start = Date.now();
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (Date.now() < end) await one();
}));
agent.destroy();
process.stdout.write(JSON.stringify({ requests: latenciesMs.length, errors, seconds: (Date.now() - start) / 1000, latenciesMs }) + "\n");
