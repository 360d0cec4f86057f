// Kill by identity, not by number: a pid is only "our container" while /proc/PID/stat
// shows the start time we recorded at create, so a recycled pid is never signalled.
import { readFileSync } from "node:fs";

export interface ProcStat {
  state: string;
  ppid: number;
  startTime: number;
}

export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: fields resume after the last ")".
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: rest[0]!, ppid: Number(rest[1]), startTime: Number(rest[19]) };
}

/** True while pid is the same live (not zombie) process that started at startTime. */
export function isSameLiveProcess(pid: number, startTime: number): boolean {
  const st = readProcStat(pid);
  return st !== undefined && st.startTime === startTime && st.state !== "Z" && st.state !== "X";
}
