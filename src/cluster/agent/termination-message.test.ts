// Termination messages from files and json-file logs (temporary files, no root).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareTerminationLog, terminationLogFile, terminationMessage } from "./termination-message.ts";

test("the file's first 4 KiB win; FallbackToLogsOnError takes the log's last 80 lines (2 KiB) only after a failure", () => {
  const root = mkdtempSync(join(tmpdir(), "gantry-term-"));
  try {
    const file = terminationLogFile(root, "uid1", "c", 3);
    assert.equal(file, join(root, "uid1", "containers", "c", "3"));
    prepareTerminationLog(file);
    assert.equal(statSync(file).mode & 0o777, 0o666, "any container user may write it");
    const log = join(root, "json.log");
    const line = (i: number) => JSON.stringify({ log: `line ${i}\n`, stream: i % 2 ? "stderr" : "stdout", time: "2026-01-01T00:00:00Z" });
    writeFileSync(log, Array.from({ length: 100 }, (_, i) => line(i)).join("\n") + "\n");
    const plain = { name: "c", image: "busybox" };
    const fallback = { ...plain, terminationMessagePolicy: "FallbackToLogsOnError" as const };
    assert.equal(terminationMessage(plain, file, 1, log), undefined, "File policy: an empty file is no message");
    assert.equal(terminationMessage(fallback, file, 0, log), undefined, "no fallback after success");
    const tail = terminationMessage(fallback, file, 1, log)!;
    assert.equal(tail.split("\n").length - 1, 80);
    assert.ok(tail.startsWith("line 20\n") && tail.endsWith("line 99\n"));
    writeFileSync(log, JSON.stringify({ log: "x".repeat(5000) + "\n", stream: "stdout", time: "t" }) + "\n");
    assert.equal(Buffer.byteLength(terminationMessage(fallback, file, 1, log)!), 2048);
    writeFileSync(file, "y".repeat(5000));
    assert.equal(terminationMessage(fallback, file, 1, log), "y".repeat(4096));
    rmSync(file);
    assert.equal(terminationMessage(plain, file, 1, join(root, "missing")), undefined, "a missing file is no message");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
