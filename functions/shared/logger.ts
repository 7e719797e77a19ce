/**
 * One structured logger per container. Never log credentials, private keys or secret values: log
 * ARNs, names and error names instead.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'binary-backends' });
