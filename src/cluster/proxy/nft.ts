// Runs one nft script as one transaction (`nft -f -`), in the node's network namespace when
// one is given (a node of `gantry cluster create` lives in its own; `gantry server`'s node is
// the host's). nft reads the whole file before committing, so a rejected line changes nothing.
import { spawn } from "node:child_process";
import { GantryError } from "../../common/errors.ts";

export interface NftRunner {
  /** Applies the lines as one transaction. */
  apply(lines: string[]): Promise<void>;
  /** `nft` with arguments (list, delete), in the same namespace; resolves with stdout. */
  run(args: string[]): Promise<string>;
}

export function nftRunner(netns?: string): NftRunner {
  const command = (args: string[]): [string, string[]] => (netns ? ["nsenter", [`--net=${netns}`, "--", "nft", ...args]] : ["nft", args]);
  const exec = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const [cmd, argv] = command(args);
      const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      child.on("error", (err) => reject(new GantryError("KERNEL_FEATURE_MISSING", `cannot run ${cmd}: ${err.message}`, { hint: "install nftables (scripts/install-deps.sh does)" })));
      child.on("close", (code) => {
        if (code === 0) resolve(stdout);
        else reject(new GantryError("INTERNAL", `nft ${args.join(" ")}${netns ? ` in ${netns}` : ""} exited ${code}: ${stderr.trim().split("\n").slice(0, 6).join(" | ")}`));
      });
      child.stdin.on("error", () => undefined); // nft exited early: its stderr says why
      child.stdin.end(input ?? "");
    });
  return {
    apply: async (lines) => {
      if (lines.length) await exec(["-f", "-"], lines.join("\n") + "\n");
    },
    run: (args) => exec(args),
  };
}
