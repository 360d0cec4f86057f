// `gantry server token create|list|delete`: node join tokens. They go through the running
// server with the admin kubeconfig rather than into the data dir directly: the same command
// then works whether the store is DATA_DIR/state.db or a remote etcd, and the server's
// validation and watches see every token like any other object.
import type { Command } from "commander";
import { join } from "node:path";
import { invalidArgument } from "../../common/errors.ts";
import { writeFileAtomic } from "../../common/atomic-file.ts";
import { tokenKubeconfig, describeExpiry, parseDuration, createNodeToken, deleteNodeToken, listNodeTokens } from "../../cluster/api/index.ts";
import { Client } from "../../cluster/client/index.ts";

interface TokenOptions {
  dataDir: string;
  kubeconfig?: string;
}

/** --kubeconfig, else DATA_DIR/admin.kubeconfig (--data-dir is the `server` command's). */
function clientFor(cmd: Command): Client {
  const opts = cmd.optsWithGlobals<TokenOptions>();
  return Client.fromKubeconfig(opts.kubeconfig ?? join(opts.dataDir, "admin.kubeconfig"));
}

export function registerServerTokenCommands(server: Command): void {
  const token = server.command("token").description("Node join tokens: each lets one node's agent reach the API server as system:node:NAME (through the running server: DATA_DIR/admin.kubeconfig from --data-dir, or --kubeconfig)");
  const kubeconfigOption = ["--kubeconfig <file>", "admin kubeconfig of the running server (default: DATA_DIR/admin.kubeconfig)"] as const;

  token
    .command("create")
    .description("Make a token for a node and print it (once: only its hash is kept)")
    .requiredOption("--node <name>", "the node the token identifies")
    .option("--ttl <duration>", "lifetime, e.g. 1h, 24h, 7d (default: no expiry)")
    .option("--write-kubeconfig <file>", "also write a kubeconfig for the node with the token (mode 0600)")
    .option("--server <url>", "with --write-kubeconfig: the API server URL the node uses (default: the admin kubeconfig's)")
    .option(...kubeconfigOption)
    .action(async (opts: { node: string; ttl?: string; writeKubeconfig?: string; server?: string }, cmd: Command) => {
      const ttlMs = opts.ttl === undefined ? undefined : parseDuration(opts.ttl) || undefined;
      const client = clientFor(cmd);
      const caCert = client.caCert();
      if (opts.writeKubeconfig && !caCert) throw invalidArgument("--write-kubeconfig needs the admin kubeconfig to carry the cluster's CA");
      const { token: text } = await createNodeToken(client, opts.node, ttlMs);
      if (opts.writeKubeconfig) {
        const server = opts.server ?? client.server;
        writeFileAtomic(opts.writeKubeconfig, tokenKubeconfig({ server, caCert: caCert!, user: `system:node:${opts.node}`, token: text }), 0o600);
      }
      console.log(text);
    });

  token
    .command("list")
    .description("List node tokens: id, node and expiry (never the secret)")
    .option(...kubeconfigOption)
    .action(async (_opts: unknown, cmd: Command) => {
      const rows = [["ID", "NODE", "EXPIRES", "CREATED"], ...(await listNodeTokens(clientFor(cmd))).map((t) => [t.id, t.node, describeExpiry(t), t.created ?? ""])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) console.log(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join(""));
    });

  token
    .command("delete")
    .description("Revoke a node token by id; requests with it are refused within a second")
    .argument("<id>", "the token id (the part before the dot)")
    .option(...kubeconfigOption)
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await deleteNodeToken(clientFor(cmd), id.split(".")[0]!);
      console.log(`node token ${id.split(".")[0]} deleted`);
    });
}
