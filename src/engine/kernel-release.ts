// Kernel features the engine uses only where the running kernel has them, told by its release
// (uname -r): probing by mounting would cost a mount per daemon start for a few milliseconds'
// gain per container.
import { release } from "node:os";

/** Whether RELEASE ("6.1.0-13-amd64") is at least MAJOR.MINOR; false when it cannot be read. */
export function kernelAtLeast(releaseText: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(releaseText);
  if (!m) return false;
  const [have, haveMinor] = [Number(m[1]), Number(m[2])];
  return have > major || (have === major && haveMinor >= minor);
}

/**
 * overlayfs's `volatile` option (Linux 5.10): an older kernel refuses the whole mount, so a
 * `run --rm` container would not start at all with it.
 */
export const overlayTakesVolatile = kernelAtLeast(release(), 5, 10);
