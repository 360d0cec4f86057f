// Legacy container links (`docker run --link NAME:ALIAS`), as dockerd makes them (moby's
// daemon/links and container/links): the parent's /etc/hosts gets a line for each linked
// container ("IP ALIAS HOSTNAME NAME"), and its environment gets ALIAS_NAME, ALIAS_PORT*
// for the child's exposed ports and ALIAS_ENV_* for the child's own variables. The links
// live in HostConfig.Links as "/child:/parent/alias"; `docker rm --link /parent/alias`
// (DELETE /containers/{name}?link=1) takes one away. Pure: the engine supplies the targets.
import { parseExposedPort } from "../image/mod.ts";
import type { ContainerRecord } from "./container-store.ts";
import { compareStrings } from "../common/compare.ts";

/** One link of HostConfig.Links, parsed. */
export interface LinkSpec {
  /** The linked (child) container's name, "/name". */
  child: string;
  /** The alias the parent knows it by. */
  alias: string;
  /** The link's full name, "/parent/alias" (what `docker rm --link` takes). */
  link: string;
}

/** A link whose child was found running, with its address on the parent's network. */
export interface LinkedContainer {
  alias: string;
  link: string;
  target: ContainerRecord;
  ip: string;
}

export function parseLinks(links: string[] | null | undefined): LinkSpec[] {
  return (links ?? []).map((l) => {
    const i = l.indexOf(":");
    const link = l.slice(i + 1);
    return { child: l.slice(0, i), alias: link.slice(link.lastIndexOf("/") + 1), link };
  });
}

/** The /etc/hosts lines for the parent (moby: alias, the child's hostname, and its name when it differs). */
export function linkHostsLines(linked: LinkedContainer[]): string {
  return linked
    .filter((l) => l.ip)
    .map((l) => {
      const name = l.target.Name.slice(1);
      const names = [l.alias, l.target.Config.Hostname || l.target.Id.slice(0, 12), ...(l.alias !== name ? [name] : [])];
      return `${l.ip}\t${names.join(" ")}\n`;
    })
    .join("");
}

/** The parent's environment from its links (moby's Link.ToEnv). */
export function linkEnvironment(linked: LinkedContainer[]): string[] {
  const env: string[] = [];
  for (const l of linked) {
    const prefix = l.alias.toUpperCase().replace(/-/g, "_");
    const ports = Object.keys(l.target.Config.ExposedPorts ?? {})
      .map(parseExposedPort)
      .sort((a, b) => a.port - b.port || compareStrings(a.protocol, b.protocol));
    if (l.ip && ports[0]) env.push(`${prefix}_PORT=${ports[0].protocol}://${l.ip}:${ports[0].port}`);
    for (const p of l.ip ? ports : []) {
      const key = `${prefix}_PORT_${p.port}_${p.protocol.toUpperCase()}`;
      env.push(`${key}=${p.protocol}://${l.ip}:${p.port}`, `${key}_ADDR=${l.ip}`, `${key}_PORT=${p.port}`, `${key}_PROTO=${p.protocol}`);
    }
    env.push(`${prefix}_NAME=${l.link}`);
    for (const e of l.target.Config.Env ?? []) {
      const eq = e.indexOf("=");
      if (eq < 0) continue;
      const name = e.slice(0, eq);
      // Variables every image has (and the build adds) say nothing about the linked container.
      if (name === "HOME" || name === "PATH") continue;
      env.push(`${prefix}_ENV_${name}=${e.slice(eq + 1)}`);
    }
  }
  return env;
}

/** HostConfig.Links without the link named `link` ("/parent/alias"); undefined when it has none such. */
export function withoutLink(links: string[] | null | undefined, link: string): string[] | undefined {
  const kept = (links ?? []).filter((l) => l.slice(l.indexOf(":") + 1) !== link);
  return kept.length === (links ?? []).length ? undefined : kept;
}
