// Test fixture: an OCI bundle whose rootfs is Debian's static busybox, with a config made
// from `gantry-runtime spec` defaults and adjusted per test.
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { defaultSpec } from "../../src/runtime/default-spec.ts";
import type { OciConfig } from "../../src/runtime/spec/oci.ts";

export const BUSYBOX = "/bin/busybox";
export const REPO = new URL("../..", import.meta.url).pathname;
export const RUNTIME_BIN = join(REPO, "bin/gantry-runtime");

export function kernelTestSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (namespaces and cgroups)";
  if (!existsSync(BUSYBOX)) return "needs busybox-static (scripts/install-deps.sh installs it)";
  if (!existsSync(join(REPO, "native/build/gantry-helper"))) return "native helper not built (make -C native)";
  if (!existsSync(join(REPO, "dist/gantry-runtime.mjs"))) return "CLI not built (npm run build)";
  return undefined;
}

const APPLETS = ["sh", "echo", "cat", "ls", "sleep", "hostname", "id", "ps", "true", "false", "mkdir", "readlink", "tail", "seq", "grep", "head", "wc", "ip", "stat", "touch", "dd", "kill", "mv"];

export interface Bundle {
  dir: string;
  rootfs: string;
  config: OciConfig;
  write(): void;
  cleanup(): void;
}

export function makeBundle(args: string[] = ["true"], edit?: (c: OciConfig) => void): Bundle {
  const dir = mkdtempSync(join(tmpdir(), "gantry-bundle-"));
  const rootfs = join(dir, "rootfs");
  for (const d of ["bin", "proc", "sys", "dev", "tmp", "etc"]) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, "bin/busybox"));
  for (const a of APPLETS) symlinkSync("busybox", join(rootfs, "bin", a));
  writeFileSync(join(rootfs, "etc/passwd"), "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");
  const config = defaultSpec();
  config.process!.terminal = false;
  config.process!.args = args;
  config.root = { path: "rootfs", readonly: false };
  edit?.(config);
  const bundle: Bundle = {
    dir,
    rootfs,
    config,
    write: () => writeFileSync(join(dir, "config.json"), JSON.stringify(bundle.config, null, 2)),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  bundle.write();
  return bundle;
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs bin/gantry-runtime with a private --root. Output goes to files, not pipes: a
 * created container inherits the runtime's stdio (as with runc), and a pipe would keep
 * the caller waiting until the container exits.
 */
export function runtimeCli(root: string, args: string[], opts: { timeout?: number; input?: string } = {}): CliResult {
  const dir = mkdtempSync(join(tmpdir(), "gantry-cli-"));
  const out = openSync(join(dir, "out"), "w+");
  const err = openSync(join(dir, "err"), "w+");
  try {
    const r = spawnSync(RUNTIME_BIN, ["--root", root, ...args], {
      stdio: [opts.input === undefined ? "ignore" : "pipe", out, err],
      timeout: opts.timeout ?? 30_000,
      input: opts.input,
    });
    return {
      status: r.status ?? -1,
      stdout: readFileSync(join(dir, "out"), "utf8"),
      stderr: readFileSync(join(dir, "err"), "utf8"),
    };
  } finally {
    closeSync(out);
    closeSync(err);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), "gantry-rt-root-"));
}

export function uniqueId(prefix: string): string {
  return `gantry-test-${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Whether a process with this pid exists (signal 0). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
