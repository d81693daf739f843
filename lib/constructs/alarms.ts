import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IAlarmAction,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface HeraldAlarmsProps {
  /** Every Herald function, by a short name used in the alarm names (`connect`, `send`, ...). */
  readonly functions: Readonly<Record<string, IFunction>>;
  /** The function consuming the queue: its throttles delay delivery. */
  readonly deliveryFunction: IFunction;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** Other dead-letter queues to alarm on, by name (e.g. the fan-out pipeline's). @default - none */
  readonly otherDeadLetterQueues?: Readonly<Record<string, IQueue>>;

  /**
   * Where the handlers publish custom metrics (Powertools EMF): the send route counts the frames it answered
   * with INTERNAL in `InternalErrors` instead of failing the invocation, so Lambda's Errors metric misses them.
   */
  readonly applicationMetrics: { readonly namespace: string; readonly service: string };

  /** Where alarms (and their recovery) are notified. @default - alarms without actions */
  readonly alarmTopic?: ITopic;

  /**
   * Age of the oldest undelivered message above which delivery counts as stuck.
   * @default Duration.seconds(300)
   */
  readonly oldestMessageAgeThreshold?: Duration;
}

/**
 * What an operator must hear about: any message in the DLQ (it was not delivered), any function error, any
 * INTERNAL answer to a client frame, the delivery function being throttled, and a queue whose oldest message
 * keeps getting older.
 */
export class HeraldAlarms extends Construct {
  /** At least one message in the dead-letter queue. */
  public readonly deadLetterMessages: Alarm;
  /** At least one error in five minutes, per function name. */
  public readonly functionErrors: Readonly<Record<string, Alarm>>;
  /** The delivery function was throttled (delivery falls behind). */
  public readonly deliveryThrottles: Alarm;
  /** A client action was answered with an INTERNAL error frame (nothing was accepted). */
  public readonly internalErrors: Alarm;
  /** The oldest message on the main queue is older than the threshold for three minutes. */
  public readonly oldestMessageAge: Alarm;
  /** Every alarm above. */
  public readonly all: readonly Alarm[];

  constructor(scope: Construct, id: string, props: HeraldAlarmsProps) {
    super(scope, id);
    const fiveMinutes = Duration.minutes(5);
    const ageThreshold = props.oldestMessageAgeThreshold ?? Duration.seconds(300);

    this.deadLetterMessages = new Alarm(this, 'DeadLetterMessages', {
      alarmDescription:
        'Herald: messages reached the dead-letter queue and were not delivered. Inspect, then redrive.',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    const otherDeadLetters: Alarm[] = Object.entries(props.otherDeadLetterQueues ?? {}).map(
      ([name, queue]) =>
        new Alarm(this, `${pascal(name)}DeadLetterMessages`, {
          alarmDescription: `Herald: messages reached the ${name} dead-letter queue. Inspect, then redrive.`,
          metric: queue.metricApproximateNumberOfMessagesVisible({
            period: Duration.minutes(1),
            statistic: 'Maximum',
          }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
    );

    const functionErrors: Record<string, Alarm> = {};
    for (const [name, fn] of Object.entries(props.functions)) {
      functionErrors[name] = new Alarm(this, `${pascal(name)}Errors`, {
        alarmDescription: `Herald: the ${name} function failed at least once in five minutes.`,
        metric: fn.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    }
    this.functionErrors = functionErrors;

    this.deliveryThrottles = new Alarm(this, 'DeliveryThrottles', {
      alarmDescription: 'Herald: the delivery function was throttled; messages wait on the queue.',
      metric: props.deliveryFunction.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    this.internalErrors = new Alarm(this, 'InternalErrors', {
      alarmDescription:
        'Herald: a client frame was refused with INTERNAL (a server-side failure, nothing accepted).',
      metric: new Metric({
        namespace: props.applicationMetrics.namespace,
        metricName: 'InternalErrors',
        dimensionsMap: { service: props.applicationMetrics.service },
        period: fiveMinutes,
        statistic: 'Sum',
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    this.oldestMessageAge = new Alarm(this, 'OldestMessageAge', {
      alarmDescription: `Herald: a message has waited more than ${ageThreshold.toSeconds()} s for delivery.`,
      metric: props.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: ageThreshold.toSeconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    this.all = [
      this.deadLetterMessages,
      ...otherDeadLetters,
      ...Object.values(functionErrors),
      this.internalErrors,
      this.deliveryThrottles,
      this.oldestMessageAge,
    ];

    if (props.alarmTopic) {
      const action: IAlarmAction = new SnsAction(props.alarmTopic);
      for (const alarm of this.all) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
