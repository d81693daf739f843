/**
 * Shared helpers of the infrastructure tests: synthesize a Herald stack and read IAM out of its template in a
 * form a reviewer can compare by eye (construct paths instead of logical ids).
 */
import { App, type IPolicyValidationPlugin, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { HeraldStack, type HeraldStackProps } from '../../lib/herald-stack';
import type { RouteKind } from '../../protocol';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Resource = { Type: string; Properties?: Record<string, Json>; [key: string]: unknown };

export interface Synthesized {
  readonly app: App;
  readonly stack: HeraldStack;
  readonly template: Template;
  readonly resources: Readonly<Record<string, Resource>>;
}

/**
 * Builds and synthesizes a stack. Bundling with esbuild costs seconds per function, so only the tests that
 * look at the bundles ask for it; the others let CDK skip it (`aws:cdk:bundling-stacks: []`, as `cdk ls`
 * does).
 */
export function synthHerald(
  props: Partial<HeraldStackProps> = {},
  options: { bundle?: boolean; plugins?: IPolicyValidationPlugin[] } = {},
): Synthesized {
  const app = new App({
    context: {
      // Resource metadata carries construct paths (the CLI turns this on); the tests address resources by
      // path.
      'aws:cdk:enable-path-metadata': true,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  const stack = new HeraldStack(app, 'Herald', { auth: { mode: 'dev' }, ...props });
  // Registered as bin/herald.ts does: synthesis then fails on any unacknowledged error.
  if (options.plugins) Validations.of(app).addPlugins(...options.plugins);
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, Resource>;
  return { app, stack, template, resources };
}

/** Logical id of the single resource of `type` whose construct path is `path` (below the stack). */
export function logicalIdOf(
  resources: Readonly<Record<string, Resource>>,
  type: string,
  path: string,
): string {
  const found = Object.entries(resources).filter(([, r]) => r.Type === type && constructPath(r) === path);
  const [first, ...rest] = found;
  if (first === undefined || rest.length > 0) {
    throw new Error(`expected exactly one ${type} at ${path}, found ${found.length}`);
  }
  return first[0];
}

function constructPath(resource: Resource): string {
  const metadata = resource.Metadata as Record<string, unknown> | undefined;
  const path = metadata?.['aws:cdk:path'];
  return typeof path === 'string' ? path.replace(/^Herald\//, '').replace(/\/Resource$/, '') : '';
}

/**
 * Renders an IAM resource (a string or an intrinsic) as readable text: `Ref`/`Fn::GetAtt` become the
 * referenced construct's path, pseudo parameters become `{AWS::Region}`, `Fn::Join` is joined.
 */
export function describeArn(resources: Readonly<Record<string, Resource>>, value: Json): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const ref = value.Ref;
    if (typeof ref === 'string') {
      const target = resources[ref];
      return target ? `<${constructPath(target)}>` : `{${ref}}`;
    }
    const getAtt = value['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') {
      const target = resources[getAtt[0]];
      return `<${target ? constructPath(target) : getAtt[0]}>`;
    }
    const join = value['Fn::Join'];
    if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
      return join[1].map((part) => describeArn(resources, part)).join(join[0]);
    }
  }
  return JSON.stringify(value);
}

export interface Statement {
  readonly effect: string;
  readonly actions: string[];
  readonly resources: string[];
  /** The raw resources, for checks on their exact shape. */
  readonly rawResources: Json[];
}

/** Every statement granted to the role of a function (inline and attached policies; managed policy ARNs
 * apart). */
export function statementsOfFunction(
  resources: Readonly<Record<string, Resource>>,
  functionPath: string,
): Statement[] {
  const fnId = logicalIdOf(resources, 'AWS::Lambda::Function', functionPath);
  const role = resources[fnId]?.Properties?.Role;
  const roleGetAtt =
    role !== null && typeof role === 'object' && !Array.isArray(role) ? role['Fn::GetAtt'] : undefined;
  const roleId = Array.isArray(roleGetAtt) ? roleGetAtt[0] : undefined;
  if (typeof roleId !== 'string') throw new Error(`function ${functionPath} has no role of its own`);
  return statementsOfRole(resources, roleId);
}

export function statementsOfRole(resources: Readonly<Record<string, Resource>>, roleId: string): Statement[] {
  const documents: Json[] = [];
  const inline = resources[roleId]?.Properties?.Policies;
  if (Array.isArray(inline)) {
    for (const p of inline)
      if (p && typeof p === 'object' && !Array.isArray(p)) documents.push(p.PolicyDocument ?? null);
  }
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const roles = r.Properties?.Roles;
    if (
      Array.isArray(roles) &&
      roles.some((x) => x !== null && typeof x === 'object' && 'Ref' in x && x.Ref === roleId)
    ) {
      documents.push(r.Properties?.PolicyDocument ?? null);
    }
  }
  const statements: Statement[] = [];
  for (const doc of documents) {
    const list = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? doc.Statement : undefined;
    if (!Array.isArray(list)) continue;
    for (const s of list) {
      if (s === null || typeof s !== 'object' || Array.isArray(s)) continue;
      const rawResources = asArray(s.Resource ?? null);
      const condition = describeCondition(s.Condition ?? null);
      statements.push({
        effect: String(s.Effect),
        actions: asArray(s.Action ?? null).map(String),
        resources: rawResources.map((x) => describeArn(resources, x) + condition),
        rawResources,
      });
    }
  }
  return statements;
}

/** `action -> sorted resources`, the shape the grant-matrix tests compare against. */
export function grantMatrix(statements: readonly Statement[]): Record<string, string[]> {
  const matrix: Record<string, Set<string>> = {};
  for (const s of statements) {
    if (s.effect !== 'Allow') throw new Error(`unexpected ${s.effect} statement in a function role`);
    for (const action of s.actions) {
      matrix[action] ??= new Set();
      for (const resource of s.resources) matrix[action].add(resource);
    }
  }
  return Object.fromEntries(
    Object.entries(matrix)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([action, set]) => [action, [...set].sort()]),
  );
}

/**
 * A statement's condition, appended to each of its resources so that the grant matrix tells a conditioned
 * grant from a plain one: ` [keys user#*]` for a `dynamodb:LeadingKeys` restriction, the raw JSON otherwise.
 */
function describeCondition(condition: Json): string {
  if (condition === null) return '';
  const leading =
    typeof condition === 'object' && !Array.isArray(condition) && Object.keys(condition).length === 1
      ? condition['ForAllValues:StringLike']
      : undefined;
  const keys =
    leading && typeof leading === 'object' && !Array.isArray(leading) && Object.keys(leading).length === 1
      ? leading['dynamodb:LeadingKeys']
      : undefined;
  return keys === undefined ? ` [if ${JSON.stringify(condition)}]` : ` [keys ${asArray(keys).join(',')}]`;
}

function asArray(value: Json): Json[] {
  if (value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** Every Herald function, by construct id (= its log group, role and alarm names' prefix). */
export const FUNCTION_NAMES = [
  'Authorizer',
  'Connect',
  'Disconnect',
  'Command',
  'Query',
  'Ephemeral',
  'DefaultRoute',
  'Deliver',
  'Fanout',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** The function serving each kind of client route (`ROUTES[action]` in protocol/index.ts). */
export const ROUTE_FUNCTIONS = {
  command: 'Command',
  query: 'Query',
  ephemeral: 'Ephemeral',
} as const satisfies Record<RouteKind, FunctionName>;

/**
 * The functions that post to `@connections` (execute-api:ManageConnections, POST on this stage only): delivery,
 * fan-out, typing, and presence on $connect/$disconnect. No other function may hold that permission.
 */
export const POSTING_FUNCTIONS = [
  'Connect',
  'Disconnect',
  'Ephemeral',
  'Deliver',
  'Fanout',
] as const satisfies readonly FunctionName[];

/** The environment variables of a function (an empty object when it has none). */
export function environmentOf(
  resources: Readonly<Record<string, Resource>>,
  functionPath: string,
): Record<string, Json> {
  const fn = resources[logicalIdOf(resources, 'AWS::Lambda::Function', functionPath)];
  const environment = fn?.Properties?.Environment as { Variables?: Record<string, Json> } | undefined;
  return environment?.Variables ?? {};
}
