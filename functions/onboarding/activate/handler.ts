/** Activate Lambda: middy glue around `activate` (see activate.ts). */
import { recordKeepingDeps } from '#shared/deps';
import { iam } from '#shared/clients';
import { handlerFor, once } from '#shared/handler';
import { eventProbe, tableProbes } from '#shared/smoke-probes';
import { parseStepInput } from '#shared/records/workflow-context';
import { activate, type ActivateDeps, type ActivationResult } from './activate';

export const createHandler = handlerFor<ActivateDeps, ActivationResult>(
  (event, deps) => activate(parseStepInput(event), deps),
  (deps) => [...tableProbes(deps.store, ['GetItem', 'UpdateItem', 'PutItem', 'Query']), eventProbe(deps.events, deps.eventBusName)],
);

export const handler = createHandler(once(() => ({ ...recordKeepingDeps(), iam: iam() })));
