// Runs the host tools the network layer drives (CNI plugins, ip, iptables, nft) and turns a
// failure into a GantryError that names the command and carries its stderr.
import { spawn } from "node:child_process";
import { GantryError } from "../common/errors.ts";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Milliseconds before the command is killed; plugins normally take 100 ms. */
  timeoutMs?: number;
}

/** Runs a command and resolves with its exit code and output, whatever the code. */
export function runCommand(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 30_000);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new GantryError(
          e.code === "ENOENT" ? "KERNEL_FEATURE_MISSING" : "SYSCALL_FAILED",
          `run ${file}: ${e.message}`,
          {
            errno: e.code,
            hint:
              e.code === "ENOENT"
                ? "apt-get install -y containernetworking-plugins iptables nftables iproute2"
                : undefined,
            cause: e,
          },
        ),
      );
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new GantryError(
            "TIMEOUT",
            `${file} ${args.join(" ")} did not finish in ${opts.timeoutMs ?? 30_000} ms`,
          ),
        );
        return;
      }
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** Runs a command and throws SYSCALL_FAILED when it exits non-zero. */
export async function runChecked(file: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await runCommand(file, args, opts);
  if (r.code !== 0) {
    throw new GantryError(
      "SYSCALL_FAILED",
      `${file} ${args.join(" ")} failed: ${(r.stderr || r.stdout).trim()}`,
      {
        step: `${file} ${args[0] ?? ""}`.trim(),
      },
    );
  }
  return r.stdout;
}
