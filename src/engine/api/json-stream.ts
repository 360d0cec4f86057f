// The daemon's side of Docker's JSON message stream (see ../json-message.ts). Headers go out
// with the first message, as dockerd does: an operation that fails before it has anything to
// report (an unknown image, refused credentials) still answers with an HTTP error status, which
// is what the docker CLI turns into its messages and exit codes; a later failure becomes an
// error message in the stream.
import type { ServerResponse } from "node:http";
import type { PullProgress, PushProgress } from "../../image/mod.ts";
import { errorMessage, progressBar, type JsonMessage } from "../json-message.ts";

export class JsonMessageStream {
  private started = false;
  constructor(private readonly res: ServerResponse) {}

  write(m: JsonMessage): void {
    if (!this.started) {
      this.res.writeHead(200, { "Content-Type": "application/json" });
      this.started = true;
    }
    if (!this.res.writableEnded) this.res.write(`${JSON.stringify(m)}\n`);
  }

  /** Runs `fn`, then ends the response. An error before the first message is rethrown (the
   * route answers with its status); after it, it is written as the stream's last message. */
  async run(fn: (stream: JsonMessageStream) => Promise<void>, exitCodeOf: (err: unknown) => number | undefined = () => undefined): Promise<void> {
    try {
      await fn(this);
    } catch (err) {
      if (!this.started) throw err;
      this.write(errorMessage(err, exitCodeOf(err)));
    }
    if (!this.started) this.res.writeHead(200, { "Content-Type": "application/json" });
    this.res.end();
  }
}

const shortId = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

/** A pull progress event in dockerd's words. */
export function pullMessage(p: PullProgress): JsonMessage {
  const id = shortId(p.digest);
  switch (p.status) {
    case "exists":
      return { status: "Already exists", progressDetail: {}, id };
    case "downloading":
      return p.current === 0
        ? { status: "Pulling fs layer", progressDetail: {}, id }
        : { status: "Downloading", progressDetail: { current: p.current, total: p.total }, progress: progressBar(p.current, p.total), id };
    case "done":
      return { status: "Download complete", progressDetail: {}, id };
    case "unpacked":
      return { status: "Pull complete", progressDetail: {}, id };
  }
}

/** A push progress event in dockerd's words. */
export function pushMessage(p: PushProgress): JsonMessage {
  const id = shortId(p.digest);
  switch (p.status) {
    case "exists":
      return { status: "Layer already exists", progressDetail: {}, id };
    case "mounted":
      return { status: `Mounted from ${p.from ?? "another repository"}`, progressDetail: {}, id };
    case "uploading":
      return { status: "Pushing", progressDetail: { current: p.current, total: p.total }, progress: progressBar(p.current, p.total), id };
    case "done":
      return { status: "Pushed", progressDetail: {}, id };
  }
}
