// The host tools cluster/local drives (ip, nft, nsenter, umount): run, and fail with the
// command and its stderr.
import { execFile } from "node:child_process";
import { GantryError } from "../../common/errors.ts";

export function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new GantryError("SYSCALL_FAILED", `${file} ${args.join(" ")}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/** Runs and ignores failure (teardown of what may already be gone); resolves with whether it worked. */
export const tryRun = (file: string, args: string[]): Promise<boolean> => run(file, args).then(() => true, () => false);
