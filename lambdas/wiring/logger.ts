import { Logger } from '@aws-lambda-powertools/logger';

/** Every function's structured logger (Powertools, service `herald`). */
export const logger = new Logger({ serviceName: 'herald' });
