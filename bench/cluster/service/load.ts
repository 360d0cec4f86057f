// The load generator of bench/cluster/service, run inside the client pod's network namespace
// (bench/_http-load.ts); prints one JSON line {requests, errors, seconds, latenciesMs}.
// Usage: node --import tsx load.ts HOST PORT SECONDS CONCURRENCY keepalive|close
import { httpLoad } from "../../_http-load.ts";

const [host, port, seconds, concurrency, mode] = process.argv.slice(2);
const sample = await httpLoad(host!, Number(port), { seconds: Number(seconds), concurrency: Number(concurrency), keepAlive: mode === "keepalive" });
process.stdout.write(JSON.stringify(sample) + "\n");
