/**
 * EventBridge stand-in (JSON 1.1): PutEvents on known buses, a readable log of every event (also
 * `GET /_local/events` on the EventBridge port, JSON), and the service's two rules:
 *  - source `peridio.binary-backends`, detail-type *Onboarding Requested* → the starter function;
 *  - source `aws.states`, *Step Functions Execution Status Change* with status ABORTED or TIMED_OUT
 *    (synthesized by the local Step Functions) → the execution-status-change function.
 * Targets are invoked asynchronously, like EventBridge; each delivery's outcome is kept on the event.
 *
 * A bus may carry a resource policy (the service's bus carries the same one the template gives it,
 * deploy/iam/event-bus.cjs). PutEvents to such a bus is evaluated against it with `aws:PrincipalArn`,
 * `events:source` and `events:detail-type`: an explicit Deny refuses the whole request with
 * AccessDeniedException, and a caller from another account needs an explicit Allow. (Within the account
 * AWS would also consult the caller's identity policy; the local stack does not model those, so there an
 * implicit result is allowed, which is why the policy denies outsiders explicitly.)
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError } from './aws-protocol';
import { REGION, type Credential } from './identity';
import { evaluate, type PolicyDocument } from './policy';
import { epoch, str, type JsonOperation } from './json-service';

export interface Delivery {
  rule: string;
  target: string;
  ok?: boolean;
  error?: string;
}

export interface LocalEvent {
  id: string;
  bus: string;
  account: string;
  region: string;
  time: string;
  source: string;
  detailType: string;
  detail: unknown;
  resources: string[];
  deliveries: Delivery[];
}

export interface Rule {
  name: string;
  bus: string;
  matches(e: LocalEvent): boolean;
  target: string;
}

export class LocalEventBridge {
  readonly events: LocalEvent[] = [];
  private readonly buses = new Map<string, { name: string; accountId: string; createdAt: Date; policy?: PolicyDocument }>();
  private readonly rules: Rule[] = [];
  private readonly listeners = new Set<(e: LocalEvent) => void>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    defaultAccount: string,
    private readonly invoke: (functionName: string, event: unknown) => Promise<unknown>,
  ) {
    this.createBus('default', defaultAccount);
  }

  createBus(name: string, accountId: string, policy?: PolicyDocument): void {
    if (!this.buses.has(name)) this.buses.set(name, { name, accountId, createdAt: new Date(), policy });
  }

  busArn(name: string): string {
    const bus = this.buses.get(name);
    return `arn:aws:events:${REGION}:${bus?.accountId ?? '000000000000'}:event-bus/${name}`;
  }

  /**
   * Whether `caller` may put an event with this source and detail type on the bus, by its resource policy.
   * Throws AccessDeniedException like EventBridge when not.
   */
  private authorizePut(busName: string, caller: Credential, source: string, detailType: string): void {
    const bus = this.buses.get(busName);
    if (!bus) return;
    const crossAccount = caller.principal.accountId !== bus.accountId;
    const decision = bus.policy
      ? evaluate(bus.policy, 'events:PutEvents', {
          principal: (p) => p === '*' || p === `arn:aws:iam::${caller.principal.accountId}:root` || p === caller.principal.principalArn,
          resource: this.busArn(busName),
          context: { 'aws:PrincipalArn': caller.principal.principalArn, 'events:source': source, 'events:detail-type': detailType },
        })
      : 'implicit';
    if (decision === 'deny' || (crossAccount && decision !== 'allow')) {
      throw new AwsError(
        'AccessDeniedException',
        `User: ${caller.principal.arn} is not authorized to perform: events:PutEvents on resource: ${this.busArn(busName)}` +
          (decision === 'deny' ? ' with an explicit deny in a resource-based policy' : ' because no resource-based policy allows the events:PutEvents action'),
        400,
      );
    }
  }

  addRule(rule: Rule): void {
    this.rules.push(rule);
  }

  /** Called for each event as it is recorded; returns an unsubscribe function. */
  subscribe(listener: (e: LocalEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when every target invocation started so far has finished (tests, stop()). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Records an event (from PutEvents or from the local AWS services) and runs matching rules. */
  publish(e: Omit<LocalEvent, 'id' | 'deliveries' | 'region' | 'time'> & { time?: string }): LocalEvent {
    const event: LocalEvent = {
      ...e,
      id: randomUUID(),
      region: REGION,
      time: e.time ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      deliveries: [],
    };
    this.events.push(event);
    if (this.events.length > 10_000) this.events.shift();
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // a listener's problem is not the bus's
      }
    }
    for (const rule of this.rules) {
      if (rule.bus !== event.bus || !rule.matches(event)) continue;
      const delivery: Delivery = { rule: rule.name, target: rule.target };
      event.deliveries.push(delivery);
      const envelope = {
        version: '0',
        id: event.id,
        'detail-type': event.detailType,
        source: event.source,
        account: event.account,
        time: event.time,
        region: event.region,
        resources: event.resources,
        detail: event.detail,
      };
      const p = this.invoke(rule.target, envelope).then(
        () => {
          delivery.ok = true;
        },
        (err: unknown) => {
          delivery.ok = false;
          delivery.error = `${(err as Error).name}: ${(err as Error).message}`;
        },
      );
      const tracked = p.finally(() => this.pending.delete(tracked));
      this.pending.add(tracked);
    }
    return event;
  }

  operations(): Record<string, JsonOperation> {
    return {
      PutEvents: (input, caller) => {
        const entries = Array.isArray(input.Entries) ? (input.Entries as Record<string, unknown>[]) : [];
        if (entries.length < 1 || entries.length > 10) {
          throw new AwsError('ValidationException', '1 validation error detected: Value at \'entries\' failed to satisfy constraint: Member must have length between 1 and 10', 400);
        }
        const busOf = (entry: Record<string, unknown>) => String(entry.EventBusName ?? 'default').replace(/^arn:aws:events:[^:]+:\d{12}:event-bus\//, '');
        // Authorization first: a denied entry refuses the whole request, as EventBridge does.
        for (const entry of entries) this.authorizePut(busOf(entry), caller, String(entry.Source ?? ''), String(entry.DetailType ?? ''));
        let failed = 0;
        const results = entries.map((entry) => {
          const busName = busOf(entry);
          const missing = ['Source', 'DetailType', 'Detail'].filter((k) => typeof entry[k] !== 'string' || entry[k] === '');
          if (missing.length > 0) {
            failed += 1;
            return { ErrorCode: 'InvalidArgument', ErrorMessage: `Parameter(s) ${missing.join(', ')} not specified.` };
          }
          if (!this.buses.has(busName)) {
            failed += 1;
            return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: `Event bus ${busName} does not exist.` };
          }
          let detail: unknown;
          try {
            detail = JSON.parse(entry.Detail as string);
          } catch {
            failed += 1;
            return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
          }
          if (String(entry.Source).startsWith('aws.')) {
            failed += 1;
            return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
          }
          const e = this.publish({
            bus: busName,
            account: caller.principal.accountId,
            source: entry.Source as string,
            detailType: entry.DetailType as string,
            detail,
            resources: Array.isArray(entry.Resources) ? (entry.Resources as string[]) : [],
            time: typeof entry.Time === 'number' ? new Date(entry.Time * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined,
          });
          return { EventId: e.id };
        });
        return { FailedEntryCount: failed, Entries: results };
      },
      CreateEventBus: (input, caller) => {
        const name = str(input, 'Name');
        if (this.buses.has(name)) throw new AwsError('ResourceAlreadyExistsException', `Event bus ${name} already exists.`, 400);
        this.createBus(name, caller.principal.accountId);
        return { EventBusArn: `arn:aws:events:${REGION}:${caller.principal.accountId}:event-bus/${name}` };
      },
      DescribeEventBus: (input) => {
        const name = str(input, 'Name', false) || 'default';
        const bus = this.buses.get(name);
        if (!bus) throw new AwsError('ResourceNotFoundException', `Event bus ${name} does not exist.`, 400);
        return { Name: bus.name, Arn: `arn:aws:events:${REGION}:${bus.accountId}:event-bus/${bus.name}`, CreationTime: epoch(bus.createdAt) };
      },
      ListEventBuses: () => ({
        EventBuses: [...this.buses.values()].map((b) => ({ Name: b.name, Arn: `arn:aws:events:${REGION}:${b.accountId}:event-bus/${b.name}` })),
      }),
    };
  }

  /** `GET /_local/events[?since=<index>]`: the event log as JSON, for a CLI or script in another process. */
  logRoute() {
    return (req: IncomingMessage, res: ServerResponse) => {
      const since = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('since') ?? 0);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ events: this.events.slice(Number.isFinite(since) ? since : 0), next: this.events.length }));
    };
  }
}
