// Hooks that run from the runtime CLI itself (poststart after `start`, poststop after
// `delete`); hooks during create run in the helper (native/src/hooks.c).
import { childProcess } from "../common/lazy-builtins.ts";
import { GantryError } from "../common/errors.ts";
import type { OciHook, OciState } from "./spec/oci.ts";

export async function runHook(hook: OciHook, state: OciState): Promise<void> {
  const args = hook.args ?? [hook.path];
  await new Promise<void>((resolve, reject) => {
    const child = childProcess().spawn(hook.path, args.slice(1), {
      argv0: args[0],
      env: Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])),
      stdio: ["pipe", "inherit", "inherit"],
    });
    let timer: NodeJS.Timeout | undefined;
    if (hook.timeout) {
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new GantryError("HOOK_FAILED", `hook ${hook.path} timed out after ${hook.timeout}s`));
      }, hook.timeout * 1000);
    }
    child.stdin.on("error", () => {});
    child.stdin.end(JSON.stringify(state));
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new GantryError("HOOK_FAILED", `hook ${hook.path}: ${err.message}`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new GantryError("HOOK_FAILED", `hook ${hook.path} ${signal ? `killed by ${signal}` : `exited with status ${code}`}`));
    });
  });
}

/** Runs hooks in order; per the OCI spec, poststart/poststop failures are warnings. */
export async function runHooksWarnOnly(hooks: readonly OciHook[] | undefined, state: OciState, warn: (m: string) => void) {
  for (const h of hooks ?? []) {
    try {
      await runHook(h, state);
    } catch (err) {
      warn((err as Error).message);
    }
  }
}
