// The container routes of the Docker Engine API on the Engine: list, create, prune, inspect,
// the life-cycle verbs (start, stop, restart, kill, pause, unpause, rename, remove), resize,
// wait, logs, top, stats, changes, export, the archive (cp) and attach. Each route parses its
// request, makes one Engine call and answers in dockerd's shapes and statuses.
import type { ServerResponse } from "node:http";
import { GantryError, invalidArgument, notFound } from "../../../common/errors.ts";
import { exportFilesystem } from "../../../image/mod.ts";
import type { CreateBody } from "../../api-types.ts";
import { getArchive, putArchive, statArchive } from "../../archive.ts";
import { remappedRoot } from "../../userns-rootfs.ts";
import { ownersInside } from "../../userns.ts";
import { connectMonitor, parseDetachKeys, relayAttach, sendResize, type AttachOptions, type ClientStream, type RelayEnd } from "../../attach.ts";
import { hasProcess, isUp } from "../../container-state.ts";
import type { ContainerRecord } from "../../container-store.ts";
import type { Engine, WaitCondition } from "../../engine.ts";
import type { UpdateBody } from "../../update.ts";
import type { ExecTable } from "../../exec.ts";
import { streamLogs } from "../../logs.ts";
import { explainOf, glassOf } from "../../glass.ts";
import { checkHealthFilter } from "../../health/status.ts";
import { changesOf, containerSummary, dockerStats, inspectContainer, matchesPsFilters, topOf } from "../../views.ts";
import { boolParam, compareVersions, filtersParam, intParam, readJson, sendJson, sendNoContent, type Request, type RouteTable } from "../http.ts";
import { timeContainerAction } from "./metrics.ts";

const ID = "([^/]+)";

/** Paths the engine writes into every container, left out of `docker diff` as dockerd does. */
const ENGINE_WRITTEN = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/dev", "/proc", "/sys"];

export function registerContainerRoutes(api: RouteTable, e: Engine, execs: ExecTable): void {
  api.on("GET", "/containers/json", (r, res) => {
    const all = boolParam(r.query, "all");
    const filters = filtersParam(r.query);
    for (const v of filters.health ?? []) checkHealthFilter(v);
    let list = e.containers.all().filter((c) => all || isUp(c.State.Status) || Object.keys(filters).some((k) => k === "status" || k === "exited"));
    list = list.filter((c) => matchesPsFilters(e, c, filters));
    const limit = intParam(r.query, "limit");
    if (limit !== undefined && limit > 0) list = list.slice(0, limit);
    sendJson(res, 200, list.map((c) => containerSummary(e, c)));
  });

  api.on("POST", "/containers/create", async (r, res) => {
    const body = await readJson<CreateBody>(r.raw, true);
    const name = r.query.get("name") || undefined;
    const created = await timeContainerAction("create", () => e.createContainer(name, body as CreateBody));
    sendJson(res, 201, created);
  });

  api.on("POST", "/containers/prune", async (_r, res) => sendJson(res, 200, await e.prune()));

  api.on("GET", `/containers/${ID}/json`, (r, res, m) => {
    const rec = e.containers.get(m[1]!);
    sendJson(res, 200, inspectContainer(e, rec, execs.forContainer(rec.Id), r.apiVersion));
  });

  registerLifecycleRoutes(api, e);

  // Gantry's own: the recorded kernel steps and the live glass box (glass.ts has the shapes).
  api.on("GET", `/gantry/containers/${ID}/explain`, (_r, res, m) => sendJson(res, 200, explainOf(e, m[1]!)));
  api.on("GET", `/gantry/containers/${ID}/glass`, (_r, res, m) => sendJson(res, 200, glassOf(e, m[1]!)));

  api.on("POST", `/containers/${ID}/resize`, async (r, res, m) => {
    const rec = e.containers.get(m[1]!);
    if (!hasProcess(rec.State.Status)) throw new GantryError("CONFLICT", `Container ${rec.Id} is not running`);
    const sock = await connectMonitor(e.attachSocket(rec.Id));
    // The program may be exiting (docker run -t resizes right after start): a reset
    // connection is no daemon error.
    sock.on("error", () => sock.destroy());
    sendResize(sock, intParam(r.query, "h") ?? 24, intParam(r.query, "w") ?? 80);
    sock.end();
    sendNoContent(res, 200);
  });

  api.on("POST", `/containers/${ID}/wait`, async (r, res, m) => {
    const cond = (r.query.get("condition") || "not-running") as WaitCondition;
    if (!["not-running", "next-exit", "removed"].includes(cond)) throw invalidArgument(`invalid condition: "${cond}"`);
    const w = e.waitFor(m[1]!, cond);
    // Docker flushes the headers at once and sends the body when the condition is met.
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    res.on("close", () => w.cancel());
    const result = await w.promise;
    res.end(`${JSON.stringify(result)}\n`);
  });

  api.on("GET", `/containers/${ID}/logs`, (r, res, m) => logs(e, r, res, e.containers.get(m[1]!)));

  api.on("GET", `/containers/${ID}/top`, (r, res, m) => {
    const rec = e.containers.get(m[1]!);
    if (!hasProcess(rec.State.Status)) throw new GantryError("CONFLICT", `Container ${rec.Id} is not running`);
    sendJson(res, 200, topOf(e.runtime.pids(rec.Id), r.query.get("ps_args") ?? undefined));
  });

  api.on("GET", `/containers/${ID}/stats`, (r, res, m) => stats(e, r, res, e.containers.get(m[1]!)));

  api.on("GET", `/containers/${ID}/changes`, (_r, res, m) => {
    const rec = e.containers.get(m[1]!);
    const dir = `${e.images.root}/containers/${rec.Id}`;
    sendJson(res, 200, changesOf(`${dir}/upper`, []).filter((c) => !ENGINE_WRITTEN.includes(c.Path)));
  });

  registerFilesystemRoutes(api, e);

  api.onStream(`/containers/${ID}/attach`, async (r, client, m, begin) => {
    const rec = e.containers.get(m[1]!);
    if (!boolParam(r.query, "stream") && boolParam(r.query, "logs")) {
      begin(!!rec.Config.Tty);
      client.end();
      return;
    }
    await attachContainer(e, rec, client, attachOptions(r, rec), begin);
  });

  // The WebSocket attach: the streams unframed (stdout and stderr as they come), stdin from
  // the client's messages; binary messages from API 1.42 on, text before, as dockerd.
  api.onWebSocket(`/containers/${ID}/attach/ws`, async (r, m, accept) => {
    const rec = e.containers.get(m[1]!);
    const opts = { ...attachOptions(r, rec), rawStream: true };
    const client = await accept(compareVersions(r.apiVersion, "1.42") >= 0);
    await attachContainer(e, rec, client, opts, () => {});
  });
}

/** The attach query (stdin, stdout, stderr, detachKeys) for one container. */
function attachOptions(r: Request, rec: ContainerRecord): AttachOptions {
  return {
    stdin: boolParam(r.query, "stdin"),
    stdout: boolParam(r.query, "stdout"),
    stderr: boolParam(r.query, "stderr"),
    tty: !!rec.Config.Tty,
    stdinOnce: !!rec.Config.StdinOnce,
    detachKeys: parseDetachKeys(r.query.get("detachKeys") ?? undefined),
  };
}

/** Relays the client to the container's monitor: now when it runs, else from its start
 * (docker run attaches before start). A detach by the client's keys is a `detach` event. */
async function attachContainer(e: Engine, rec: ContainerRecord, client: ClientStream, opts: AttachOptions, begin: (tty: boolean) => void): Promise<void> {
  const relayed = (how: RelayEnd) => {
    if (how === "detached") e.publish(rec, "detach");
  };
  if (hasProcess(rec.State.Status)) {
    let sock: Awaited<ReturnType<typeof connectMonitor>>;
    try {
      sock = await connectMonitor(e.attachSocket(rec.Id));
    } catch (err) {
      // It exited between the look and the connect (a one-off `compose run` ends fast): as
      // with dockerd, the attach succeeds and its stream ends at once.
      if (hasProcess(e.containers.get(rec.Id).State.Status)) throw err;
      begin(opts.tty);
      client.end();
      return;
    }
    begin(opts.tty);
    relayed(await relayAttach(sock, client, opts));
    return;
  }
  // Not started yet: connect once the monitor exists.
  begin(opts.tty);
  await new Promise<void>((resolve) => {
    const remove = e.addPreStart(
      rec.Id,
      async (path) => {
        const sock = await connectMonitor(path);
        void relayAttach(sock, client, opts).then((how) => {
          relayed(how);
          resolve();
        });
      },
      () => {
        client.end();
        resolve();
      },
    );
    client.onClose(() => {
      remove();
      resolve();
    });
  });
}

/** start, stop, restart, kill, pause, unpause, rename, remove: 204, or 304 when there was
 * nothing to do (start of a running container, stop of a stopped one). */
function registerLifecycleRoutes(api: RouteTable, e: Engine): void {
  api.on("POST", `/containers/${ID}/start`, async (_r, res, m) => {
    const rec = e.containers.get(m[1]!);
    if (hasProcess(rec.State.Status)) return sendNoContent(res, 304);
    await timeContainerAction("start", () => e.start(rec.Id));
    sendNoContent(res);
  });
  api.on("POST", `/containers/${ID}/stop`, async (r, res, m) => {
    const stopped = await e.stop(m[1]!, intParam(r.query, "t") ?? intParam(r.query, "timeout"), r.query.get("signal") || undefined);
    sendNoContent(res, stopped ? 204 : 304);
  });
  api.on("POST", `/containers/${ID}/restart`, async (r, res, m) => {
    await e.restart(m[1]!, intParam(r.query, "t") ?? intParam(r.query, "timeout"), r.query.get("signal") || undefined);
    sendNoContent(res);
  });
  api.on("POST", `/containers/${ID}/kill`, async (r, res, m) => {
    await e.kill(m[1]!, r.query.get("signal") || "SIGKILL");
    sendNoContent(res);
  });
  api.on("POST", `/containers/${ID}/pause`, async (_r, res, m) => {
    await e.pause(m[1]!);
    sendNoContent(res);
  });
  api.on("POST", `/containers/${ID}/unpause`, async (_r, res, m) => {
    await e.unpause(m[1]!);
    sendNoContent(res);
  });
  api.on("POST", `/containers/${ID}/update`, async (r, res, m) => {
    const body = await readJson<UpdateBody>(r.raw, true);
    sendJson(res, 200, e.update(m[1]!, body as UpdateBody));
  });
  api.on("POST", `/containers/${ID}/rename`, (r, res, m) => {
    e.rename(m[1]!, r.query.get("name") ?? "");
    sendNoContent(res);
  });
  // `docker rm --link /parent/alias`: the link goes, both containers stay.
  api.on("DELETE", `/containers/${ID}/${ID}`, (r, res, m) => {
    if (!boolParam(r.query, "link")) throw notFound(`No such container: ${m[1]}/${m[2]}`);
    e.removeLink(`/${m[1]}/${m[2]}`);
    sendNoContent(res);
  });
  api.on("DELETE", `/containers/${ID}`, async (r, res, m) => {
    if (boolParam(r.query, "link")) throw new GantryError("CONFLICT", "Conflict, cannot remove the default link name of the container");
    await timeContainerAction("delete", () => e.removeContainer(m[1]!, { force: boolParam(r.query, "force"), volumes: boolParam(r.query, "v") }));
    sendNoContent(res);
  });
}

/** export and the archive (docker cp): the container's merged filesystem, mounted on demand
 * for a stopped container. */
function registerFilesystemRoutes(api: RouteTable, e: Engine): void {
  api.on("GET", `/containers/${ID}/export`, async (_r, res, m) => {
    const rec = e.containers.get(m[1]!);
    res.writeHead(200, { "Content-Type": "application/x-tar" });
    await exportFilesystem(e.mountedRootfs(rec), res, rec.Userns && ownersInside(rec.Userns));
    res.end();
  });
  api.on("HEAD", `/containers/${ID}/archive`, (r, res, m) => {
    const rec = e.containers.get(m[1]!);
    const stat = statArchive(e.mountedRootfs(rec), r.query.get("path") ?? "");
    res.writeHead(200, { "X-Docker-Container-Path-Stat": Buffer.from(JSON.stringify(stat)).toString("base64"), "Content-Type": "application/json" });
    res.end();
  });
  api.on("GET", `/containers/${ID}/archive`, async (r, res, m) => {
    const rec = e.containers.get(m[1]!);
    await getArchive(e.mountedRootfs(rec), r.query.get("path") ?? "", res);
  });
  api.on("PUT", `/containers/${ID}/archive`, async (r, res, m) => {
    const rec = e.containers.get(m[1]!);
    await putArchive(e.mountedRootfs(rec), r.query.get("path") ?? "", r.raw, rec.Userns && remappedRoot(rec.Userns));
    sendNoContent(res, 200);
  });
}

async function logs(e: Engine, r: Request, res: ServerResponse, rec: ContainerRecord): Promise<void> {
  if (rec.HostConfig.LogConfig?.Type === "none") throw new GantryError("NOT_IMPLEMENTED", "configured logging driver does not support reading");
  const stdout = boolParam(r.query, "stdout");
  const stderr = boolParam(r.query, "stderr");
  if (!stdout && !stderr) throw invalidArgument("Bad parameters: you must choose at least one stream");
  const tailText = r.query.get("tail");
  const tail = !tailText || tailText === "all" ? undefined : Number(tailText);
  if (tail !== undefined && !Number.isFinite(tail)) throw invalidArgument(`invalid tail value ${tailText}`);
  const since = r.query.get("since");
  const until = r.query.get("until");
  res.writeHead(200, { "Content-Type": rec.Config.Tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream" });
  res.flushHeaders();
  await streamLogs(
    rec.LogPath,
    {
      stdout,
      stderr,
      follow: boolParam(r.query, "follow"),
      tail: tail !== undefined && tail < 0 ? undefined : tail,
      sinceSec: since && Number(since) !== 0 ? Number(since) : undefined,
      untilSec: until && Number(until) !== 0 ? Number(until) : undefined,
      timestamps: boolParam(r.query, "timestamps"),
      tty: !!rec.Config.Tty,
    },
    res,
    () => {
      const cur = e.containers.find(rec.Id);
      return !!cur && isUp(cur.State.Status);
    },
  );
  res.end();
}

/** One sample (taken twice, so precpu is filled), or one a second until the container stops. */
async function stats(e: Engine, r: Request, res: ServerResponse, rec: ContainerRecord): Promise<void> {
  const stream = boolParam(r.query, "stream", true);
  const oneShot = boolParam(r.query, "one-shot");
  const sample = () => {
    try {
      return e.runtime.stats(rec.Id);
    } catch {
      return undefined;
    }
  };
  const empty = { read: "0001-01-01T00:00:00Z", preread: "0001-01-01T00:00:00Z", id: rec.Id, name: rec.Name, pids_stats: {}, blkio_stats: {}, cpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: {} }, precpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: {} }, memory_stats: {}, networks: {} };
  let pre: ReturnType<typeof dockerStats> | undefined;
  const next = () => {
    const s = sample();
    if (!s) return empty;
    const d = dockerStats(rec, s, pre, e.host.cgroupVersion);
    pre = d;
    return d;
  };
  if (!stream) {
    let first = next();
    if (!oneShot && first !== empty) {
      // Docker samples twice so precpu_stats is filled and the CLI can compute CPU %.
      await new Promise((x) => setTimeout(x, 500));
      first = next();
    }
    return sendJson(res, 200, first);
  }
  res.writeHead(200, { "Content-Type": "application/json" });
  let closed = false;
  res.on("close", () => (closed = true));
  while (!closed) {
    res.write(`${JSON.stringify(next())}\n`);
    const cur = e.containers.find(rec.Id);
    if (!cur || !hasProcess(cur.State.Status)) break;
    await new Promise((x) => setTimeout(x, 1000));
  }
  res.end();
}
