// Docker events: {Type, Action, Actor:{ID, Attributes}, scope, time, timeNano}, kept in a
// bounded ring for `since` and fanned out to live `GET /events` streams.
import { EventEmitter } from "node:events";

export interface DockerEvent {
  Type: "container" | "image" | "network" | "volume" | "daemon";
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: number;
  // Deprecated fields docker CLI still prints for containers.
  status?: string;
  id?: string;
  from?: string;
}

export type EventFilters = Record<string, string[]>;

export function matchesFilters(ev: DockerEvent, filters: EventFilters): boolean {
  for (const [key, values] of Object.entries(filters)) {
    if (values.length === 0) continue;
    const ok = values.some((v) => {
      switch (key) {
        case "type":
          return ev.Type === v;
        case "event":
          return ev.Action === v || ev.Action.startsWith(`${v}:`);
        case "container":
          return ev.Type === "container" && (ev.Actor.ID.startsWith(v) || ev.Actor.Attributes.name === v);
        case "image":
          return ev.Actor.Attributes.image === v || (ev.Type === "image" && ev.Actor.ID === v);
        case "label": {
          const [k, val] = v.split("=");
          return k !== undefined && (val === undefined ? k in ev.Actor.Attributes : ev.Actor.Attributes[k] === val);
        }
        default:
          return true;
      }
    });
    if (!ok) return false;
  }
  return true;
}

/**
 * How many past events `GET /events?since=` can replay: dockerd's eventsLimit
 * (daemon/events/events.go). Older ones are gone there too.
 */
export const EVENTS_LIMIT = 256;

export class EventBus extends EventEmitter<{ event: [DockerEvent] }> {
  private readonly ring: DockerEvent[] = [];

  constructor(private readonly capacity = EVENTS_LIMIT) {
    super();
    this.setMaxListeners(0);
  }

  publish(type: DockerEvent["Type"], action: string, id: string, attributes: Record<string, string>): DockerEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const ev: DockerEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: "local",
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === "container") {
      ev.status = action;
      ev.id = id;
      if (attributes.image) ev.from = attributes.image;
    }
    this.ring.push(ev);
    if (this.ring.length > this.capacity) this.ring.shift();
    this.emit("event", ev);
    return ev;
  }

  /** Events with time in [sinceSec, untilSec]. */
  history(sinceSec: number, untilSec = Infinity): DockerEvent[] {
    return this.ring.filter((e) => e.timeNano / 1e9 >= sinceSec && e.timeNano / 1e9 <= untilSec);
  }
}
