// The volume routes of the Docker Engine API on src/volume (the daemon's `Volumes`): list
// (with dockerd's filters, list-filters.ts),
// create, inspect, remove (refused while a container uses it unless forced) and prune
// (anonymous volumes only, unless the `all` filter asks for named ones too).
import { fromDockerVolumeCreate, toDockerVolume } from "../../../volume/index.ts";
import type { Engine } from "../../engine.ts";
import { filterVolumes } from "../../list-filters.ts";
import { boolParam, filtersParam, readJson, sendJson, sendNoContent, type RouteTable } from "../http.ts";

type VolumeCreateBody = Parameters<typeof fromDockerVolumeCreate>[0];

export function registerVolumeRoutes(api: RouteTable, e: Engine): void {
  const name = (m: RegExpExecArray) => decodeURIComponent(m[1]!);

  api.on("GET", "/volumes", (r, res) => sendJson(res, 200, { Volumes: filterVolumes(e.volumes.list().map(toDockerVolume), filtersParam(r.query)), Warnings: [] }));
  api.on("POST", "/volumes/create", async (r, res) => {
    const body = await readJson<VolumeCreateBody>(r.raw, true);
    sendJson(res, 201, toDockerVolume(await e.volumes.create(fromDockerVolumeCreate(body as VolumeCreateBody))));
  });
  api.on("GET", "/volumes/([^/]+)", (_r, res, m) => sendJson(res, 200, toDockerVolume(e.volumes.inspect(name(m)))));
  api.on("DELETE", "/volumes/([^/]+)", async (r, res, m) => {
    await e.volumes.remove(name(m), boolParam(r.query, "force"));
    sendNoContent(res);
  });
  api.on("POST", "/volumes/prune", async (r, res) => {
    const f = filtersParam(r.query);
    const out = await e.volumes.prune({ all: (f.all ?? []).some((v) => v === "true" || v === "1") });
    sendJson(res, 200, { VolumesDeleted: out.removed, SpaceReclaimed: out.reclaimedBytes });
  });
}
