// `gantry daemon`: runs the engine and serves the Docker Engine API on a unix socket (mode
// 0600, root only) until SIGINT/SIGTERM. Containers keep running when it stops or crashes:
// their monitors own them, and the next start re-adopts them.
import type { Command } from "commander";
import { invalidArgument } from "../../common/errors.ts";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startDashboard } from "../../dashboard/index.ts";
import { DASHBOARD_CERT_HELP, DASHBOARD_KEY_HELP, dashboardCertificateFlags, dashboardNames, parseListen } from "./server-command.ts";
import { ensureCa, ensureServingCertificate } from "../../common/certificates.ts";
import { runShim, DEFAULT_EXEC_ROOT, DEFAULT_ROOT, DEFAULT_SOCKET, socketPathOf, startDaemon, isRootlessChild, reexecInUserNamespace, rootlessPaths } from "../../engine/index.ts";

function parseBytes(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /^(\d+)([kmg]?)$/i.exec(text);
  if (!m) throw invalidArgument(`invalid size ${JSON.stringify(text)}: use e.g. 10m`);
  return Number(m[1]) * ({ "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()] ?? 1);
}

/**
 * The dashboard's login token: the engine's socket has no authentication of its own (whoever
 * may open it is root), so the dashboard asks for a secret only root can read, kept in the
 * data root (mode 0600) and the same across restarts.
 */
function dashboardToken(root: string): { token: string; path: string } {
  const path = join(root, "dashboard-token");
  if (!existsSync(path)) writeFileSync(path, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  return { token: readFileSync(path, "utf8").trim(), path };
}

/**
 * The dashboard's serving certificate, signed by a CA of the daemon's own in
 * DATA_ROOT/dashboard-tls (made at the first start; the engine has no other CA).
 */
function dashboardCertificate(root: string, host: string): { cert: string; key: string; caPath: string } {
  const dir = join(root, "dashboard-tls");
  ensureCa(dir, "gantry-daemon-dashboard-ca");
  return { ...ensureServingCertificate(dir, "dashboard", "gantry-dashboard", dashboardNames(host)), caPath: join(dir, "ca.crt") };
}

export function registerDaemonCommand(program: Command): void {
  program
    .command("_oci-shim", { hidden: true })
    .description("internal: the monitor of a container run by runc or crun")
    .argument("<spec>")
    .action((spec: string) => runShim(spec));
  program
    .command("daemon")
    .description("Run the engine: the Docker Engine API on a unix socket (docker -H unix://SOCKET works against it)")
    .option("-H, --host <socket>", `unix socket to listen on (default unix://${DEFAULT_SOCKET}; rootless: $XDG_RUNTIME_DIR/gantry.sock)`)
    .option("--dashboard-listen <host:port>", "serve the web dashboard here (off unless given); it logs in with the token in DATA_ROOT/dashboard-token")
    .option("--dashboard-cert <file>", DASHBOARD_CERT_HELP)
    .option("--dashboard-key <file>", DASHBOARD_KEY_HELP)
    .option("--data-root <dir>", `persistent state: images and containers (default: $GANTRY_ROOT or ${DEFAULT_ROOT}; rootless: $XDG_DATA_HOME/gantry); the daemon owns it`)
    .option("--exec-root <dir>", `volatile state: runtime state and attach sockets (default ${DEFAULT_EXEC_ROOT}; rootless: $XDG_RUNTIME_DIR/gantry)`)
    .option("--log-max-size <size>", "default json-file max-size per container (e.g. 10m)")
    .option("--log-max-file <n>", "default number of json-file log files kept", "1")
    .option("--runtime <name>", "OCI runtime: gantry (default), runc or crun", "gantry")
    .option("--no-networking", "no bridge networks: containers get an isolated namespace with loopback, -p is refused")
    .option("--bridge-name <dev>", "device of the default bridge network (default gantry0)")
    .option("--bridge-subnet <cidr>", "subnet of the default bridge network (default 172.30.0.0/16)")
    .option("--userns-remap <user>", "user namespaces: every container's root is the first subordinate id of USER[:GROUP] (/etc/subuid, /etc/subgid); `default` creates the gantry user")
    .option("--insecure-registry <host>", "a registry pulls and pushes may reach over plain HTTP (repeatable; loopback always may)", (v: string, prev: string[]) => [...prev, v], [])
    .action(async (o: { host?: string; dashboardListen?: string; dashboardCert?: string; dashboardKey?: string; dataRoot?: string; execRoot?: string; logMaxSize?: string; logMaxFile: string; runtime: string; networking: boolean; bridgeName?: string; bridgeSubnet?: string; insecureRegistry: string[]; usernsRemap?: string }, cmd: Command) => {
      // An ordinary user's daemon is rootless: this process only re-executes the daemon as
      // root of a new user namespace (engine/rootless.ts) and waits for it.
      if (process.getuid?.() !== 0) {
        process.exit(await reexecInUserNamespace([process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)]));
      }
      const dashboardAt = o.dashboardListen === undefined ? undefined : parseListen(o.dashboardListen, "--dashboard-listen");
      const ownDashboardCert = dashboardCertificateFlags(o, dashboardAt !== undefined, (m) => console.error(`gantry daemon: ${m}`));
      const rootless = isRootlessChild();
      if (rootless && o.usernsRemap) {
        throw invalidArgument("--userns-remap is for a root daemon: a rootless daemon's containers already run in the user's own user namespace", {
          hint: "drop --userns-remap (the container's root is you; the host never sees uid 0)",
        });
      }
      const defaults = rootless ? rootlessPaths() : { dataRoot: process.env.GANTRY_ROOT ?? DEFAULT_ROOT, execRoot: DEFAULT_EXEC_ROOT, socket: DEFAULT_SOCKET };
      const root = o.dataRoot ?? (rootless ? undefined : process.env.GANTRY_ROOT) ?? defaults.dataRoot;
      // The client verbs give the program a global -H too; commander hands it to whichever parses first.
      const socket = socketPathOf((cmd.parent?.opts() as { host?: string } | undefined)?.host ?? o.host ?? defaults.socket);
      const daemon = await startDaemon({
        root,
        execRoot: o.execRoot ?? defaults.execRoot,
        rootless,
        socket,
        logMaxSize: parseBytes(o.logMaxSize),
        logMaxFiles: Number(o.logMaxFile),
        // Rootless: no CNI bridge (the host's network namespace is not ours to change).
        networking: o.networking && !rootless,
        runtime: o.runtime,
        // The shim for runc/crun is this same program: `gantry _oci-shim SPEC`.
        shimCommand: { cmd: process.execPath, args: [...process.execArgv, process.argv[1]!, "_oci-shim"] },
        defaultBridge: { ...(o.bridgeName ? { bridge: o.bridgeName } : {}), ...(o.bridgeSubnet ? { subnet: o.bridgeSubnet } : {}) },
        insecureRegistries: o.insecureRegistry,
        ...(o.usernsRemap ? { usernsRemap: o.usernsRemap } : {}),
      });
      console.error(`gantry daemon: serving the Docker API on unix://${socket} (state in ${root}${rootless ? ", rootless" : ""})`);
      let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
      if (dashboardAt) {
        const login = dashboardToken(root);
        let signedBy = "";
        try {
          const made = ownDashboardCert ? undefined : dashboardCertificate(root, dashboardAt.host);
          const tls = ownDashboardCert ?? made!;
          signedBy = made ? `its certificate is signed by ${made.caPath}` : `its certificate is ${o.dashboardCert}`;
          dashboard = await startDashboard({ ...dashboardAt, tls, upstream: { kind: "engine", socketPath: socket, token: login.token }, log: (m) => console.error(m) });
        } catch (err) {
          await daemon.close();
          throw err;
        }
        console.error(`gantry daemon: dashboard on ${dashboard.url} (log in with the token in ${login.path}; ${signedBy})`);
      }
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
        // Rootless: the launcher is the user's handle on the daemon; if it is killed outright
        // (no signal to forward), the daemon is reparented and stops as if told to.
        if (rootless) {
          const launcher = process.ppid;
          setInterval(() => process.ppid !== launcher && resolve(), 1000).unref();
        }
      });
      await dashboard?.close();
      await daemon.close();
      process.exit(0);
    });
}

