// prom-client's own modules, imported one by one so that a process loads only the metric
// types it uses (the package's index also loads Summary, the Pushgateway, default process
// metrics and the cluster aggregator with their dependencies). The types are the package's.
declare module "prom-client/lib/registry.js" {
  import type { Registry } from "prom-client";
  const RegistryClass: typeof Registry & { globalRegistry: Registry };
  export default RegistryClass;
}
declare module "prom-client/lib/counter.js" {
  import type { Counter } from "prom-client";
  const CounterClass: typeof Counter;
  export default CounterClass;
}
declare module "prom-client/lib/gauge.js" {
  import type { Gauge } from "prom-client";
  const GaugeClass: typeof Gauge;
  export default GaugeClass;
}
declare module "prom-client/lib/histogram.js" {
  import type { Histogram } from "prom-client";
  const HistogramClass: typeof Histogram;
  export default HistogramClass;
}
