import { Metrics } from '@aws-lambda-powertools/metrics';

/** Custom metrics (EMF) of the functions that publish any; the others do not load Powertools Metrics. */
export const metrics = new Metrics({ namespace: 'Herald', serviceName: 'herald' });
