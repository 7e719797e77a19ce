/**
 * EventBridge events (contract): source `peridio.binary-backends`, on the bus named by EVENT_BUS_NAME.
 * Details carry names, ARNs and the trust policy, which are not secret; never keys or credentials.
 */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { TransientError, asTransientOr } from './errors';

export const EVENT_SOURCE = 'peridio.binary-backends';

export const DetailType = {
  OnboardingRequested: 'Onboarding Requested',
  TrustPolicyReady: 'Trust Policy Ready',
  BackendActivated: 'Backend Activated',
  OnboardingFailed: 'Onboarding Failed',
  BackendDeactivated: 'Backend Deactivated',
  /** Configs of a backend were offboarded (issue 11): their storage is disconnected for good. */
  BackendOffboarded: 'Backend Offboarded',
  /** An onboarding waits for a second principal before Activate (carries no task token). */
  ApprovalRequested: 'Approval Requested',
} as const;
export type DetailType = (typeof DetailType)[keyof typeof DetailType];

/** Puts one event. Throws TransientError when EventBridge throttles or reports a failed entry. */
export async function emitEvent(
  client: EventBridgeClient,
  busName: string,
  detailType: DetailType,
  detail: Record<string, unknown>,
): Promise<void> {
  try {
    const out = await client.send(
      new PutEventsCommand({
        Entries: [{ Source: EVENT_SOURCE, DetailType: detailType, Detail: JSON.stringify(detail), EventBusName: busName }],
      }),
    );
    if (out.FailedEntryCount) {
      const entry = out.Entries?.find((e) => e.ErrorCode);
      throw new TransientError(`EventBridge refused the ${detailType} event: ${entry?.ErrorCode}: ${entry?.ErrorMessage}`);
    }
  } catch (err) {
    throw asTransientOr(err, 'EventBridge PutEvents');
  }
}
