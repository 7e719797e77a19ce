/**
 * #shared/metrics: the EMF documents Powertools Metrics builds for CheckTrust and Activate, byte for byte
 * in shape: namespace, one metric, exactly the given dimension set (no `service` default dimension),
 * metadata values with their own types, the injected timestamp, one JSON line per call.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MetricUnit, emitMetric } from '#shared/metrics';

const AT = new Date('2026-12-02T10:00:00.000Z');

describe('Module: metrics (EMF through Powertools Metrics)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('publishes a dimensionless metric as one empty dimension set, with metadata beside it', () => {
    const lines: string[] = [];
    emitMetric(
      {
        namespace: 'BinaryBackends',
        name: 'TrustWaitAgeSeconds',
        unit: MetricUnit.Seconds,
        value: 125,
        dimensions: {},
        metadata: { orgId: 'org', attempt: 3, trusted: false },
        at: AT,
      },
      (line) => lines.push(line),
    );
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      _aws: {
        Timestamp: AT.getTime(),
        CloudWatchMetrics: [{ Namespace: 'BinaryBackends', Dimensions: [[]], Metrics: [{ Name: 'TrustWaitAgeSeconds', Unit: 'Seconds' }] }],
      },
      TrustWaitAgeSeconds: 125,
      orgId: 'org',
      attempt: 3,
      trusted: false,
    });
  });

  it('publishes exactly the given dimension, and nothing of one call leaks into the next', () => {
    const lines: string[] = [];
    const metric = (effect: string) => ({
      namespace: 'BinaryBackends',
      name: 'ActivationSideEffectFailures',
      unit: MetricUnit.Count,
      value: 1,
      dimensions: { SideEffect: effect },
      metadata: { executionName: `x-${effect}` },
      at: AT,
    });
    emitMetric(metric('event'), (line) => lines.push(line));
    emitMetric(metric('audit'), (line) => lines.push(line));
    expect(lines.map((l) => JSON.parse(l))).toEqual(
      ['event', 'audit'].map((effect) => ({
        _aws: {
          Timestamp: AT.getTime(),
          CloudWatchMetrics: [{ Namespace: 'BinaryBackends', Dimensions: [['SideEffect']], Metrics: [{ Name: 'ActivationSideEffectFailures', Unit: 'Count' }] }],
        },
        SideEffect: effect,
        ActivationSideEffectFailures: 1,
        executionName: `x-${effect}`,
      })),
    );
  });

  it('writes one bare JSON line to stdout when no sink is given', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    emitMetric({ namespace: 'BinaryBackends', name: 'M', unit: MetricUnit.Count, value: 2, dimensions: {}, metadata: {}, at: AT });
    expect(write).toHaveBeenCalledTimes(1);
    const chunk = String(write.mock.calls[0]![0]);
    expect(chunk.endsWith('}\n')).toBe(true);
    expect(JSON.parse(chunk)).toMatchObject({ M: 2, _aws: { Timestamp: AT.getTime() } });
  });
});
