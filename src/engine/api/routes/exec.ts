// The exec routes of the Docker Engine API on the server's ExecTable: create, inspect,
// resize, and start — detached, or with the process's stdio on the client's hijacked
// connection (exec.ts in the engine releases the process only once the relay is in place, so
// no output is lost).
import { invalidArgument } from "../../../common/errors.ts";
import type { Engine } from "../../engine.ts";
import type { ExecConfig, ExecTable } from "../../exec.ts";
import { intParam, readJson, sendJson, sendNoContent, type RouteTable } from "../http.ts";

export function registerExecRoutes(api: RouteTable, e: Engine, execs: ExecTable): void {
  const ID = "([^/]+)";

  api.on("POST", `/containers/${ID}/exec`, async (r, res, m) => {
    const rec = e.containers.get(m[1]!);
    const body = (await readJson<ExecConfig>(r.raw, true)) as ExecConfig;
    const ex = execs.create(rec, body);
    sendJson(res, 201, { Id: ex.ID });
  });

  api.on("GET", `/exec/${ID}/json`, (_r, res, m) => {
    const ex = execs.get(m[1]!);
    sendJson(res, 200, {
      ID: ex.ID,
      Running: ex.Running,
      ExitCode: ex.ExitCode,
      ProcessConfig: { tty: !!ex.Config.Tty, entrypoint: ex.Config.Cmd?.[0] ?? "", arguments: ex.Config.Cmd?.slice(1) ?? [], privileged: !!ex.Config.Privileged, user: ex.Config.User ?? "" },
      OpenStdin: !!ex.Config.AttachStdin,
      OpenStderr: ex.Config.AttachStderr !== false,
      OpenStdout: ex.Config.AttachStdout !== false,
      CanRemove: false,
      ContainerID: ex.ContainerID,
      DetachKeys: "",
      Pid: ex.Pid,
    });
  });

  api.on("POST", `/exec/${ID}/resize`, (r, res, m) => {
    execs.resize(m[1]!, intParam(r.query, "h") ?? 24, intParam(r.query, "w") ?? 80);
    sendNoContent(res, 200);
  });

  api.onStream(`/exec/${ID}/start`, async (_r, client, m, begin, body) => {
    const ex = execs.get(m[1]!);
    let opts: { Detach?: boolean; Tty?: boolean } = {};
    if (body.length) {
      try {
        opts = JSON.parse(body.toString()) as typeof opts;
      } catch (err) {
        throw invalidArgument(`malformed JSON in the request body: ${(err as Error).message}`);
      }
    }
    const rec = e.containers.get(ex.ContainerID);
    if (opts.Detach) {
      void execs.start(ex, rec, undefined).catch(() => {});
      return;
    }
    // dockerd frames the stream by the start request's Tty, whatever the exec was made with.
    const raw = !!(opts.Tty ?? ex.Config.Tty);
    begin(raw);
    await execs.start(ex, rec, client, raw);
  });
}
