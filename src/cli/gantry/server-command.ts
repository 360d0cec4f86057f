// `gantry server`: runs the Kubernetes-compatible API server (the control plane) until
// SIGINT/SIGTERM. State and credentials live in --data-dir; the admin kubeconfig is
// written to DATA_DIR/admin.kubeconfig on every start.
import type { Command } from "commander";
import { invalidArgument } from "../../common/errors.ts";
import { startApiServer } from "../../cluster/api/server.ts";

export const DEFAULT_DATA_DIR = "/var/lib/gantry/server";
export const DEFAULT_LISTEN = "127.0.0.1:6443";

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalidArgument(`--listen must be HOST:PORT (e.g. ${DEFAULT_LISTEN}), not "${text}"`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

export function registerServerCommand(program: Command): void {
  program
    .command("server")
    .description("Run the cluster control plane: a Kubernetes-compatible API server (kubectl works against it)")
    .option("--data-dir <dir>", "state, TLS material, admin token and admin.kubeconfig", DEFAULT_DATA_DIR)
    .option("--listen <host:port>", "address to serve HTTPS on", DEFAULT_LISTEN)
    .action(async (opts: { dataDir: string; listen: string }) => {
      const { host, port } = parseListen(opts.listen);
      const server = await startApiServer({ dataDir: opts.dataDir, host, port, log: (m) => console.error(m) });
      console.log(`gantry server: listening on ${server.url}`);
      console.log(`gantry server: export KUBECONFIG=${server.kubeconfigPath}`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await server.close();
    });
}
