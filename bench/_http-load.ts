// HTTP load for the benches: `concurrency` workers, each doing one GET / after another for
// `seconds`, keep-alive or a new connection per request.
import { Agent, request } from "node:http";

export interface LoadSample {
  requests: number;
  errors: number;
  latenciesMs: number[];
  seconds: number;
}

export async function httpLoad(host: string, port: number, o: { seconds: number; concurrency: number; keepAlive: boolean }): Promise<LoadSample> {
  const agent = new Agent({ keepAlive: o.keepAlive, maxSockets: o.concurrency });
  const latenciesMs: number[] = [];
  let errors = 0;
  const end = Date.now() + o.seconds * 1000;
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
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (Date.now() < end) await one();
    }),
  );
  agent.destroy();
  return { requests: latenciesMs.length, errors, latenciesMs, seconds: (Date.now() - start) / 1000 };
}
