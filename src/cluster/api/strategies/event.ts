// Event: stored as given; kubectl get events' columns.
import { humanAge, getPath } from "../objects.ts";
import type { Strategy } from "./types.ts";

export const eventStrategy: Strategy = {
  columns: [
    { name: "Last Seen", type: "string", cell: (o) => humanAge((o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp) as string) },
    { name: "Type", type: "string", cell: (o) => o.type ?? "" },
    { name: "Reason", type: "string", cell: (o) => o.reason ?? "" },
    { name: "Object", type: "string", cell: (o) => `${String(getPath(o, ["involvedObject", "kind"]) ?? "").toLowerCase()}/${getPath(o, ["involvedObject", "name"]) ?? ""}` },
    { name: "Message", type: "string", cell: (o) => o.message ?? "" },
  ],
};
