/**
 * Reading a synthesized CloudFormation template: its resources, and the intrinsic functions CDK emits
 * (`Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split`, `Fn::If`, pseudo parameters),
 * resolved against the local names, URLs and ARNs the local cloud gave each resource.
 */
import * as z from 'zod';

export const CfnResource = z.object({
  Type: z.string(),
  Properties: z.record(z.string(), z.unknown()).optional(),
  Metadata: z.record(z.string(), z.unknown()).optional(),
  DependsOn: z.union([z.string(), z.array(z.string())]).optional(),
  Condition: z.string().optional(),
});
export type CfnResource = z.infer<typeof CfnResource>;

export const CfnTemplate = z.object({
  Resources: z.record(z.string(), CfnResource),
  Outputs: z
    .record(z.string(), z.object({ Value: z.unknown(), Description: z.string().optional() }))
    .optional(),
  Parameters: z
    .record(z.string(), z.object({ Type: z.string(), Default: z.unknown().optional() }))
    .optional(),
  Conditions: z.record(z.string(), z.unknown()).optional(),
});
export type CfnTemplate = z.infer<typeof CfnTemplate>;

export const LOCAL_ACCOUNT_ID = '000000000000';

export interface ResolveContext {
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
  /** What `Ref` of each logical id gives. */
  readonly refs: Map<string, string>;
  /** What `Fn::GetAtt` of each logical id gives, by attribute name. */
  readonly attributes: Map<string, Record<string, string>>;
}

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const NO_VALUE = Symbol('AWS::NoValue');

export function resourcesOfType(template: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** Resolves every intrinsic in `value`; properties set to `AWS::NoValue` disappear. */
export function resolve(value: unknown, ctx: ResolveContext): unknown {
  const result = resolveInner(value, ctx);
  return result === NO_VALUE ? undefined : result;
}

/** Resolves a value that must come out as a string (env vars, URLs, names). */
export function resolveString(value: unknown, ctx: ResolveContext): string {
  const resolved = resolve(value, ctx);
  if (typeof resolved === 'string') return resolved;
  if (typeof resolved === 'number' || typeof resolved === 'boolean') return String(resolved);
  throw new TemplateError(`expected a string, got ${JSON.stringify(resolved)}`);
}

function resolveInner(value: unknown, ctx: ResolveContext): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveInner(v, ctx)).filter((v) => v !== NO_VALUE);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const [key, arg] = entries[0] ?? [];
  if (entries.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
    return intrinsic(key, arg, ctx);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    const r = resolveInner(v, ctx);
    if (r !== NO_VALUE) out[k] = r;
  }
  return out;
}

function intrinsic(name: string, arg: unknown, ctx: ResolveContext): unknown {
  switch (name) {
    case 'Ref':
      return ref(String(arg), ctx);
    case 'Fn::GetAtt': {
      const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
      return getAtt(String(id), String(attribute), ctx);
    }
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, unknown[]];
      const resolved = resolveInner(parts, ctx);
      if (!Array.isArray(resolved)) throw new TemplateError('Fn::Join needs a list');
      return resolved.map((p) => String(p)).join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = arg as [unknown, unknown];
      const resolved = resolveInner(list, ctx);
      if (!Array.isArray(resolved)) throw new TemplateError('Fn::Select needs a list');
      return resolved[Number(resolveInner(index, ctx))];
    }
    case 'Fn::Split': {
      const [separator, source] = arg as [string, unknown];
      return String(resolveInner(source, ctx)).split(separator);
    }
    case 'Fn::Sub': {
      const [text, variables] = Array.isArray(arg)
        ? (arg as [string, Record<string, unknown>])
        : [String(arg), {}];
      return text.replace(/\$\{([^}!][^}]*)\}/g, (_m, expr: string) => {
        if (expr in variables) return String(resolveInner(variables[expr], ctx));
        const [id, attribute] = expr.split('.');
        if (attribute !== undefined) return String(getAtt(String(id), attribute, ctx));
        return String(ref(String(id), ctx));
      });
    }
    case 'Fn::Base64':
      return Buffer.from(String(resolveInner(arg, ctx))).toString('base64');
    case 'Fn::If':
      throw new TemplateError('Fn::If (template conditions) is not supported by the local cloud');
    default:
      throw new TemplateError(`${name} is not supported by the local cloud`);
  }
}

function ref(id: string, ctx: ResolveContext): unknown {
  switch (id) {
    case 'AWS::Region':
      return ctx.region;
    case 'AWS::AccountId':
      return ctx.accountId;
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'AWS::StackName':
      return ctx.stackName;
    case 'AWS::StackId':
      return `arn:aws:cloudformation:${ctx.region}:${ctx.accountId}:stack/${ctx.stackName}/local`;
    case 'AWS::NoValue':
      return NO_VALUE;
  }
  const value = ctx.refs.get(id);
  if (value === undefined)
    throw new TemplateError(`Ref ${id}: no such resource or parameter is known locally`);
  return value;
}

function getAtt(id: string, attribute: string, ctx: ResolveContext): string {
  const value = ctx.attributes.get(id)?.[attribute];
  if (value === undefined) throw new TemplateError(`Fn::GetAtt ${id}.${attribute} is not known locally`);
  return value;
}

/** The logical ids a value refers to (to order creation by dependency). */
export function referencedIds(value: unknown): Set<string> {
  const ids = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        if (k === 'Ref' && typeof inner === 'string' && !inner.startsWith('AWS::')) ids.add(inner);
        else if (k === 'Fn::GetAtt')
          ids.add(String(Array.isArray(inner) ? inner[0] : String(inner).split('.')[0]));
        else walk(inner);
      }
    }
  };
  walk(value);
  return ids;
}

/** The function logical id inside an API Gateway Lambda integration URI (`.../functions/<arn>/invocations`). */
export function functionIdOfIntegrationUri(uri: unknown): string | undefined {
  for (const id of referencedIds(uri)) return id;
  return undefined;
}
