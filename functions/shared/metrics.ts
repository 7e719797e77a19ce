/**
 * CloudWatch embedded-metric (EMF) lines, built by Powertools Metrics (`@aws-lambda-powertools/metrics`,
 * the same version as the logger): it validates names, units, dimension counts and the timestamp, and
 * serialises the EMF document. One metric a call, emitted at once (a step emits at most one per run).
 *
 * Where the line goes is injected (`sink`), default one line on stdout, which is what Powertools'
 * `publishStoredMetrics()` writes too. Powertools' own writer is a private Console on process.stdout, so
 * tests and the state-machine harness could not capture it: this module calls `serializeMetrics()` and
 * hands the line to the sink instead.
 *
 * Not for the signer: it emits no metrics, and its bundle must not carry this package.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger } from './logger';

export { MetricUnit };

export type MetricUnitValue = (typeof MetricUnit)[keyof typeof MetricUnit];

/** Receives one EMF document as a JSON line (no trailing newline). */
export type MetricSink = (line: string) => void;

export interface EmfMetric {
  namespace: string;
  name: string;
  unit: MetricUnitValue;
  value: number;
  /**
   * The metric's one dimension set: name -> value. `{}` publishes it with no dimension (`Dimensions: [[]]`),
   * which alarms on a dimensionless metric need (deploy/resources/alarms.yml).
   */
  dimensions: Record<string, string>;
  /** Facts for Logs Insights, in the line but not dimensions (numbers and booleans stay as they are). */
  metadata: Record<string, string | number | boolean>;
  at: Date;
}

/** Straight to stdout, as Powertools does: Lambda's patched console.log would prefix the JSON object. */
const stdoutSink: MetricSink = (line) => {
  process.stdout.write(`${line}\n`);
};

export function emitMetric(metric: EmfMetric, sink: MetricSink = stdoutSink): void {
  // Powertools' warnings (say, a simulated clock's timestamp outside CloudWatch's window) go to the
  // structured logger rather than to a console of its own.
  const metrics = new Metrics({ namespace: metric.namespace, logger });
  // Powertools adds a `service` default dimension. These metrics were defined without it, and alarms and
  // dashboards match the exact dimension set, so it is removed.
  metrics.clearDefaultDimensions();
  metrics.addDimensions(metric.dimensions);
  metrics.addMetric(metric.name, metric.unit, metric.value);
  // Powertools types metadata values as strings but stores and serialises them as given.
  for (const [key, value] of Object.entries(metric.metadata)) metrics.addMetadata(key, value as string);
  metrics.setTimestamp(metric.at);
  sink(JSON.stringify(metrics.serializeMetrics()));
}
