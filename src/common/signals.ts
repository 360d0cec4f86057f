// Signal names and numbers, parsed one way everywhere: the runtime's `kill`, the engine's
// kill/stop and its events, an image's StopSignal, exit statuses of processes killed by a
// signal. Accepted as Docker and runc accept them: "KILL", "SIGKILL", "sigkill", "9",
// "RTMIN+3", "SIGRTMAX-2".
import { invalidArgument } from "./errors.ts";

/** Linux's numbers (x86, arm and most others; not MIPS, SPARC or Alpha). Aliases after the
* name `kill -l` prints, so the first name of a number is its canonical one. */
// prettier-ignore
export const SIGNALS: Readonly<Record<string, number>> = Object.freeze({
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16,
  SIGCHLD: 17, SIGCLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23,
  SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29, SIGPOLL: 29, SIGPWR: 30,
  SIGSYS: 31,
});

// The real-time signals as the C library numbers them: glibc and musl keep 32 and 33 for
// themselves, so SIGRTMIN is 34 (Docker's and runc's tables say the same).
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** The signal number TEXT names; INVALID_ARGUMENT for anything else (0 included). */
export function parseSignal(text: string): number {
  const s = text.trim().toUpperCase();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= SIGRTMAX) return n;
  } else {
    const name = s.startsWith("SIG") ? s : `SIG${s}`;
    const n = SIGNALS[name];
    if (n !== undefined) return n;
    const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d{1,2}))?$/.exec(name);
    if (rt) {
      const offset = rt[2] === undefined ? 0 : Number(rt[3]) * (rt[2] === "+" ? 1 : -1);
      const n = (rt[1] === "MIN" ? SIGRTMIN : SIGRTMAX) + offset;
      if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
    }
  }
  throw invalidArgument(`unknown signal ${JSON.stringify(text)}`, {
    hint: "give a name (TERM, SIGKILL, RTMIN+1) or a number from 1 to 64",
  });
}

/** The canonical name of signal N (as `kill -l` prints it: SIGRTMIN+k up to 49, SIGRTMAX-k
 * from 50), or undefined outside 1..64. */
export function signalName(n: number): string | undefined {
  if (!Number.isInteger(n) || n < 1 || n > SIGRTMAX) return undefined;
  if (n >= SIGRTMIN) {
    if (n === SIGRTMIN) return "SIGRTMIN";
    if (n === SIGRTMAX) return "SIGRTMAX";
    return n <= 49 ? `SIGRTMIN+${n - SIGRTMIN}` : `SIGRTMAX-${SIGRTMAX - n}`;
  }
  return Object.keys(SIGNALS).find((name) => SIGNALS[name] === n);
}
