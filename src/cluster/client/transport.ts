// How the client reaches the API server. The typed Client builds paths and decodes answers;
// a transport only moves one request and its answer. Two exist: HTTPS (https-transport.ts,
// for every process outside the server) and in-process (provided by src/cluster/api for
// code inside `gantry server`, which hands it over at start-up), so both go through the
// same authorization, admission, defaulting and validation.
import { StringDecoder } from "node:string_decoder";

export interface ApiRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Absolute path with the query, e.g. "/api/v1/namespaces/default/pods?limit=500". */
  path: string;
  /** Serialised JSON (or YAML for apply patches). */
  body?: string;
  /** Content-Type of the body; JSON when absent. */
  contentType?: string;
}

export interface ApiResponse {
  status: number;
  /** The body as text. */
  text: string;
}

/** A streaming answer (a watch): lines arrive on onLine until the stream ends. */
export interface ApiStream {
  /** The HTTP status; for status >= 400 the body was read into `text` and no line comes. */
  status: number;
  text?: string;
  /** Ends the stream from this side; onEnd is then called with no error. */
  cancel(): void;
}

export interface ApiTransport {
  /** Where requests go, for messages ("https://127.0.0.1:6443", "in-process"). */
  readonly server: string;
  request(req: ApiRequest): Promise<ApiResponse>;
  /** Opens a long GET whose body is newline-separated JSON; onEnd is called once when it ends. */
  stream(req: ApiRequest, onLine: (line: string) => void, onEnd: (err?: Error) => void): Promise<ApiStream>;
  /** The CA that signs the API server's certificate, when the transport knows it (PEM). */
  caCert?(): string | undefined;
}

/** Splits a byte stream into lines, keeping a partial last line (or character) until its end arrives. */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer | string): void; flush(): void } {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  return {
    push(chunk) {
      rest += typeof chunk === "string" ? chunk : decoder.write(chunk);
      let i;
      while ((i = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, i).trim();
        rest = rest.slice(i + 1);
        if (line) onLine(line);
      }
    },
    flush() {
      rest += decoder.end();
      if (rest.trim()) onLine(rest.trim());
      rest = "";
    },
  };
}
