// The system half of the engine client: info, version and the event stream, typed (routes in
// api/routes/system.ts).
import { createInterface } from "node:readline";
import { apiError, filtersJson, query, readAll, type EngineClient, type Filters } from "./client.ts";

export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> | null };
  time: number;
  timeNano: number;
  [key: string]: unknown;
}

export interface EngineVersion {
  Version: string;
  ApiVersion: string;
  MinAPIVersion: string;
  KernelVersion: string;
  Platform: { Name: string };
  [key: string]: unknown;
}


export class SystemClient {
  constructor(readonly engine: EngineClient) {}

  info(): Promise<Record<string, unknown>> {
    return this.engine.call("GET", "/info");
  }

  version(): Promise<EngineVersion> {
    return this.engine.call("GET", "/version");
  }

  /** Events from `since` (unix seconds; past ones first) until `until` or, without it, until
   * the caller stops reading. */
  async *events(opts: { since?: string; until?: string; filters?: Filters } = {}): AsyncGenerator<EngineEvent> {
    const res = await this.engine.raw("GET", `/events${query({ since: opts.since, until: opts.until, filters: filtersJson(opts.filters) })}`);
    if ((res.statusCode ?? 500) >= 400) throw apiError(res.statusCode ?? 500, await readAll(res));
    for await (const line of createInterface({ input: res, crlfDelay: Infinity })) if (line.trim()) yield JSON.parse(line) as EngineEvent;
  }
}
