// Runs nft scripts as transactions, in a network namespace when one is given (a node of
// `gantry cluster create` lives in its own; `gantry server`'s node is the host's). Used by the
// node's service proxy and its NetworkPolicy enforcer.
//
// Two ways, one result: `apply` writes a large script (a full sync, a table written as a block)
// to `nft -f -`, which reads the whole file before committing, so a rejected line changes
// nothing. A small one of standalone commands (a partial sync: a few lines for the Services or
// pods that changed) goes to one long-lived `nft -i` as a single line of `;`-separated
// commands, which nft also commits as one batch — saving the start of two
// processes (nsenter, nft) per sync, about half of a partial sync's time next to a table of
// 1,000 Services (the other half is nft reading the table's chains back, which it does before
// every batch). After the batch the session is asked `describe meta mark`, which touches no
// kernel state: everything printed before its answer is the batch's error (stderr is merged
// into stdout so the order holds). The session is restarted after a failure, a timeout, and
// every SESSION_BATCHES batches (nft's line editor keeps every line in its history).
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { GantryError } from "./errors.ts";

export interface NftRunner {
  /** Applies the lines as one transaction. */
  apply(lines: string[]): Promise<void>;
  /** `nft` with arguments (list, delete), in the same namespace; resolves with stdout. */
  run(args: string[]): Promise<string>;
  /** Ends the long-lived session, if one runs. */
  close(): void;
}

/** Scripts of at most this many lines go through the session; longer ones through `nft -f`. */
export const SESSION_MAX_LINES = 400;
const SESSION_BATCHES = 1000;
const SESSION_TIMEOUT_MS = 30_000;
const SENTINEL = "describe meta mark";
/** The first words of nft's answer to SENTINEL, on a line of its own. */
const SENTINEL_ANSWER = /^meta expression, datatype mark\b.*\n/m;

/** A command of one line, not part of a block written across lines (`table ip t {` … `}`). */
const standalone = (line: string) => !line.includes("\n") && !/[{]\s*$/.test(line) && !/^\s*}/.test(line);

export function nftRunner(netns?: string): NftRunner {
  const command = (args: string[]): [string, string[]] => (netns ? ["nsenter", [`--net=${netns}`, "--", ...args]] : [args[0]!, args.slice(1)]);
  const where = netns ? ` in ${netns}` : "";
  const cannotRun = (cmd: string, err: Error) => new GantryError("KERNEL_FEATURE_MISSING", `cannot run ${cmd}: ${err.message}`, { hint: "install nftables (scripts/install-deps.sh does)" });
  const exec = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const [cmd, argv] = command(["nft", ...args]);
      const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      child.on("error", (err) => reject(cannotRun(cmd, err)));
      child.on("close", (code) => {
        if (code === 0) resolve(stdout);
        else reject(new GantryError("INTERNAL", `nft ${args.join(" ")}${where} exited ${code}: ${stderr.trim().split("\n").slice(0, 6).join(" | ")}`));
      });
      child.stdin.on("error", () => undefined); // nft exited early: its stderr says why
      child.stdin.end(input ?? "");
    });

  let session: Session | undefined;
  const sessionApply = async (line: string) => {
    if (!session || session.exited || session.batches >= SESSION_BATCHES) {
      session?.end();
      session = openSession(command, (cmd, err) => cannotRun(cmd, err));
    }
    const s = session;
    try {
      const out = await s.batch(line);
      if (out.trim()) throw new GantryError("INTERNAL", `nft -i${where}: ${out.trim().split("\n").slice(0, 6).join(" | ")}`);
    } catch (err) {
      s.end(); // a fresh session for the next batch: this one's state is unknown
      if (session === s) session = undefined;
      throw err;
    }
  };

  return {
    apply: async (lines) => {
      if (!lines.length) return;
      if (lines.length <= SESSION_MAX_LINES && lines.every(standalone)) await sessionApply(lines.join("; "));
      else await exec(["-f", "-"], lines.join("\n") + "\n");
    },
    run: (args) => exec(args),
    close: () => {
      session?.end();
      session = undefined;
    },
  };
}

interface Session {
  exited: boolean;
  batches: number;
  /** Sends one line; resolves with what nft printed before the sentinel's answer (empty: success). */
  batch(line: string): Promise<string>;
  end(): void;
}

function openSession(command: (args: string[]) => [string, string[]], cannotRun: (cmd: string, err: Error) => Error): Session {
  // stderr joins stdout in order; HOME elsewhere keeps nft's line editor from writing a history file.
  const [cmd, argv] = command(["sh", "-c", "exec nft -i 2>&1"]);
  const child: ChildProcessWithoutNullStreams = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, HOME: "/nonexistent" } });
  let buffered = "";
  let waiting: { resolve: (out: string) => void; reject: (err: Error) => void } | undefined;
  const fail = (err: Error) => {
    s.exited = true;
    waiting?.reject(err);
    waiting = undefined;
  };
  child.stdout.on("data", (b: Buffer) => {
    buffered += b.toString();
    const m = SENTINEL_ANSWER.exec(buffered);
    if (!m || !waiting) return;
    const out = buffered.slice(0, m.index);
    buffered = buffered.slice(m.index + m[0].length);
    const w = waiting;
    waiting = undefined;
    w.resolve(out);
  });
  // Only nsenter or sh write here (nft's stderr is merged into stdout): kept for the exit message.
  let launcherErrors = "";
  child.stderr.on("data", (b: Buffer) => (launcherErrors += b.toString()));
  child.on("error", (err) => fail(cannotRun(cmd, err)));
  // 'close', not 'exit': the exit can come before the launcher's last stderr (nsenter's reason) is read
  child.on("close", (code, signal) => fail(new GantryError("INTERNAL", `nft -i exited (${signal ?? code}): ${(launcherErrors + buffered).trim().split("\n").slice(0, 6).join(" | ")}`)));
  child.stdin.on("error", () => undefined); // it exited: the exit handler says so
  const s: Session = {
    exited: false,
    batches: 0,
    batch(line) {
      if (s.exited) return Promise.reject(new GantryError("INTERNAL", "nft -i is not running"));
      s.batches++;
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => fail(new GantryError("INTERNAL", `nft -i did not answer within ${SESSION_TIMEOUT_MS / 1000} s`)), SESSION_TIMEOUT_MS);
        waiting = {
          resolve: (out) => {
            clearTimeout(timer);
            resolve(out);
          },
          reject: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        };
        child.stdin.write(`${line}\n${SENTINEL}\n`);
      });
    },
    end() {
      s.exited = true;
      child.stdin.end();
      child.kill();
    },
  };
  return s;
}
