// Swarm mode, which Gantry does not run: every swarm route answers as a dockerd that is in no
// swarm does (503 with its words, checked against dockerd 20.10), so `docker swarm leave`,
// `docker node ls`, `docker service ls` and client libraries see "not in a swarm" rather
// than a 404 that reads as an old daemon. Joining or making a swarm is refused as unsupported.
import { GantryError } from "../../../common/errors.ts";
import type { RouteTable } from "../http.ts";

const NOT_A_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NOT_IN_A_SWARM = "This node is not part of a swarm";

/** The swarm resources a manager serves: list, inspect, create, update, delete, logs. */
const MANAGER_RESOURCES = ["nodes", "services", "tasks", "secrets", "configs"];

export function registerSwarmRoutes(api: RouteTable): void {
  const unavailable = (message: string) => () => {
    throw new GantryError("UNAVAILABLE", message);
  };
  const every = (pattern: string, message: string) => {
    for (const method of ["GET", "POST", "DELETE"]) api.on(method, pattern, unavailable(message));
  };
  every("/swarm", NOT_A_MANAGER);
  every("/swarm/unlockkey", NOT_A_MANAGER);
  every("/swarm/update", NOT_A_MANAGER);
  every("/swarm/leave", NOT_IN_A_SWARM);
  every("/swarm/unlock", NOT_IN_A_SWARM);
  for (const what of ["init", "join"]) {
    api.on("POST", `/swarm/${what}`, () => {
      throw new GantryError("UNSUPPORTED_OPTION", `swarm mode is not supported by Gantry (swarm ${what})`, {
        hint: "run several engines with `gantry cluster` and Kubernetes objects instead",
      });
    });
  }
  for (const r of MANAGER_RESOURCES) every(`/${r}(?:/.*)?`, NOT_A_MANAGER);
}
