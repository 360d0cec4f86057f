// A scrape read the way Prometheus reads it: the whole text is parsed by a Prometheus
// text-format parser (parse-prometheus-text-format; a malformed line throws), which gives
// the families with their types. That parser folds a histogram's labelled series into one
// (it keeps no labels on histograms), so samples are looked up in the series lines
// themselves: `name{labels} value`, histograms as their `_bucket`/`_sum`/`_count` series.
import assert from "node:assert/strict";
import parsePrometheusTextFormat, { type PromFamily } from "parse-prometheus-text-format";

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SERIES_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export class Scrape {
  readonly families: Map<string, PromFamily>;
  readonly series: Series[] = [];

  constructor(readonly text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const m = SERIES_LINE.exec(line);
      assert.ok(m, `a series line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? "").matchAll(LABEL_PAIR)) labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      this.series.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }

  /** The family, which must be there (with this type: COUNTER, GAUGE, HISTOGRAM). */
  family(name: string, type?: PromFamily["type"]): PromFamily {
    const f = this.families.get(name);
    assert.ok(f, `${name} is in the scrape (families: ${[...this.families.keys()].join(" ")})`);
    if (type) assert.equal(f.type, type, `${name} is a ${type}`);
    return f;
  }

  /** Series with this exact name whose labels include `labels`. */
  samples(name: string, labels: Record<string, string> = {}): Series[] {
    return this.series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** The sum of the matching series' values; undefined when none matches. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const s = this.samples(name, labels);
    return s.length ? s.reduce((sum, x) => sum + x.value, 0) : undefined;
  }
}
