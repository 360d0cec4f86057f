// A writer for the durability tests, run as a child process and killed with SIGKILL:
//   node --import tsx test/cluster-store/_writer.ts '<StoreSpec JSON>' [workers] [key tag]
// Each worker loops creating /registry/durable/w<W>-<I> and, every tenth write, updating its
// counter key. Each write is printed as one JSON line only after the store acknowledged it,
// so every printed line is a write the store promised to keep. (stdout to a pipe is
// synchronous on Linux, so a line printed is a line the parent will read.)
import { openStore, type StoreSpec } from "../../src/cluster/store/index.ts";

const spec = JSON.parse(process.argv[2]!) as StoreSpec;
const workers = Number(process.argv[3] ?? 4);
const tag = process.argv[4] ?? ""; // lets several writers share one store
const store = await openStore(spec);
const pad = "x".repeat(200);

async function worker(w: number): Promise<void> {
  const counter = `/registry/durable/${tag}counter-w${w}`;
  let n = 0;
  const c = await store.create(counter, JSON.stringify({ n }));
  process.stdout.write(
    JSON.stringify({ op: "create", key: c.key, rev: c.modRevision, value: c.value }) + "\n",
  );
  for (let i = 0; ; i++) {
    const o =
      i % 10 === 9
        ? await store.update(counter, JSON.stringify({ n: ++n }))
        : await store.create(`/registry/durable/${tag}w${w}-${i}`, JSON.stringify({ w, i, pad }));
    process.stdout.write(
      JSON.stringify({
        op: i % 10 === 9 ? "update" : "create",
        key: o.key,
        rev: o.modRevision,
        value: o.value,
      }) + "\n",
    );
  }
}

await Promise.all(Array.from({ length: workers }, (_, w) => worker(w))).catch((err: unknown) => {
  process.stderr.write(`writer stopped: ${String(err)}\n`);
  process.exit(1);
});
