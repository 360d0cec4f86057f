// The network routes of the Docker Engine API on src/network (the daemon's `Networks`): list
// (the library's networks plus Docker's fixed `none` and `host`), create, inspect, remove,
// prune, connect and disconnect (network-connect.ts); list filters as dockerd's (list-filters.ts). A daemon started with --no-networking has no bridge: list shows the fixed two,
// inspect is 404, and what would change something is refused as unsupported.
import { GantryError, notFound } from "../../../common/errors.ts";
import { fromDockerNetworkCreate, toDockerNetwork, type DockerNetworkCreateBody } from "../../../network/index.ts";
import type { Engine } from "../../engine.ts";
import { connectContainer, disconnectContainer, type NetworkConnectBody } from "../../network-connect.ts";
import { filterNetworks } from "../../list-filters.ts";
import { filtersParam, readJson, sendJson, sendNoContent, type RouteTable } from "../http.ts";

export function registerNetworkRoutes(api: RouteTable, e: Engine): void {
  const nets = () => {
    if (!e.networks) throw new GantryError("UNSUPPORTED_OPTION", "bridge networking is unavailable on this daemon");
    return e.networks;
  };
  const name = (m: RegExpExecArray) => decodeURIComponent(m[1]!);

  api.on("GET", "/networks", (r, res) => {
    const list = e.networks ? e.networks.list().map((n) => toDockerNetwork(n, e.networks!.inspect(n.id).endpoints)) : [];
    const all = [...list, ...["none", "host"].map((n) => ({ Name: n, Id: n, Driver: n === "host" ? "host" : "null", Scope: "local", Containers: {}, Options: {}, Labels: {} }))];
    sendJson(res, 200, filterNetworks(all, filtersParam(r.query)));
  });
  api.on("POST", "/networks/create", async (r, res) => {
    const body = await readJson<DockerNetworkCreateBody>(r.raw, true);
    const n = await nets().create(fromDockerNetworkCreate(body as DockerNetworkCreateBody));
    sendJson(res, 201, { Id: n.id, Warning: "" });
  });
  api.on("GET", "/networks/([^/]+)", (_r, res, m) => {
    if (!e.networks) throw notFound(`network ${m[1]} not found`);
    const { network, endpoints } = e.networks.inspect(name(m));
    sendJson(res, 200, toDockerNetwork(network, endpoints));
  });
  api.on("DELETE", "/networks/([^/]+)", async (_r, res, m) => {
    await nets().remove(name(m));
    sendNoContent(res);
  });
  api.on("POST", "/networks/([^/]+)/connect", async (r, res, m) => {
    await connectContainer(e, name(m), (await readJson<NetworkConnectBody>(r.raw, true)) ?? {});
    sendNoContent(res, 200);
  });
  api.on("POST", "/networks/([^/]+)/disconnect", async (r, res, m) => {
    await disconnectContainer(e, name(m), (await readJson<{ Container?: string; Force?: boolean }>(r.raw, true)) ?? {});
    sendNoContent(res, 200);
  });
  api.on("POST", "/networks/prune", async (_r, res) => sendJson(res, 200, { NetworksDeleted: e.networks ? await e.networks.prune({}) : [] }));
}
