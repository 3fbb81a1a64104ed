/**
 * A small OpenAPI v3 schema builder whose values carry their TypeScript type, so the
 * PushCluster schema is written once: `crd.ts` builds it, the CRD YAML in the chart is
 * generated from it, the spec type is inferred from it, and `applyDefaults` fills the same
 * defaults the API server fills (objects stored before a default was added still get it).
 *
 * Rules: a field is present unless wrapped in `optional()`; a present field without a
 * default is `required`. An object whose fields are all optional or defaulted gets
 * `default: {}` so the API server descends into it and applies the nested defaults.
 */

export interface JSONSchemaProps {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  additionalProperties?: JSONSchemaProps;
  default?: unknown;
  enum?: readonly unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
  "x-kubernetes-validations"?: { rule: string; message: string }[];
}

/** A schema node; `T` is the value's type after defaulting, `Opt` whether it may be absent. */
export interface Schema<T, Opt extends boolean = false> {
  readonly json: JSONSchemaProps;
  readonly optional: Opt;
  /** Phantom: never set at run time. */
  readonly __type?: T;
}

type AnySchema = Schema<unknown, boolean>;
export type Infer<S> = S extends Schema<infer T, boolean> ? T : never;
type Props = Record<string, AnySchema>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type InferProps<P extends Props> = Simplify<
  { readonly [K in keyof P as P[K] extends Schema<unknown, false> ? K : never]: Infer<P[K]> } & {
    readonly [K in keyof P as P[K] extends Schema<unknown, true> ? K : never]?: Infer<P[K]>;
  }
>;

type Common = Pick<JSONSchemaProps, "description" | "x-kubernetes-validations">;

function node<T>(json: JSONSchemaProps): Schema<T, false> {
  return { json, optional: false };
}

export function optional<T>(s: Schema<T, boolean>): Schema<T, true> {
  return { json: s.json, optional: true };
}

export function str(
  o: Common &
    Pick<JSONSchemaProps, "pattern" | "minLength" | "maxLength" | "format"> & {
      default?: string;
    } = {},
): Schema<string> {
  return node({ type: "string", ...o });
}

export function int(
  o: Common & { default?: number; minimum?: number; maximum?: number } = {},
): Schema<number> {
  return node({ type: "integer", ...o });
}

export function num(
  o: Common & { default?: number; minimum?: number; maximum?: number } = {},
): Schema<number> {
  return node({ type: "number", ...o });
}

export function bool(o: Common & { default?: boolean } = {}): Schema<boolean> {
  return node({ type: "boolean", ...o });
}

export function oneOf<const V extends string>(
  values: readonly V[],
  o: Common & { default?: V } = {},
): Schema<V> {
  return node({ type: "string", enum: values, ...o });
}

export function arr<T>(
  item: Schema<T, boolean>,
  o: Common &
    Pick<
      JSONSchemaProps,
      "minItems" | "maxItems" | "x-kubernetes-list-type" | "x-kubernetes-list-map-keys"
    > & { default?: T[] } = {},
): Schema<readonly T[]> {
  return node({ type: "array", items: item.json, ...o });
}

export function record<T>(
  value: Schema<T, boolean>,
  o: Common = {},
): Schema<Readonly<Record<string, T>>> {
  return node({ type: "object", additionalProperties: value.json, ...o });
}

/** Kubernetes-native structures (tolerations, resources) passed through to pods as given. */
export function passthrough<T>(o: Common & { type: "object" | "array" }): Schema<T> {
  const open: JSONSchemaProps = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  return node(o.type === "array" ? { ...o, items: open } : { ...open, ...o });
}

export function obj<P extends Props>(props: P, o: Common = {}): Schema<InferProps<P>> {
  const properties: Record<string, JSONSchemaProps> = {};
  const required: string[] = [];
  for (const [k, s] of Object.entries(props)) {
    properties[k] = s.json;
    if (!s.optional && s.json.default === undefined) required.push(k);
  }
  const json: JSONSchemaProps = { type: "object", ...o, properties };
  if (required.length > 0) json.required = required;
  else json.default = {};
  return node(json);
}

/**
 * A string rule with a message a user can act on: the API server checks it as CEL
 * (`self.matches(r'<regex>')`, refusing the object with `message`), `validate` below checks
 * the same regex. Regexes must stay in the common subset of RE2 and JavaScript (no
 * lookaround, no backreferences) and contain no `'`. The string needs a `maxLength`, or the
 * API server refuses the rule for its unbounded estimated cost.
 */
export function matches(regex: string, message: string): { rule: string; message: string } {
  if (regex.includes("'")) throw new Error(`matches(): no ' allowed in ${regex}`);
  return { rule: `self.matches(r'${regex}')`, message };
}

const MATCHES_RULE = /^self\.matches\(r'([^']*)'\)$/;

/**
 * Returns a copy of `value` with every schema default filled in, like the API server's
 * structural defaulting. Unknown fields are kept; a wrong type is left for validation.
 */
export function applyDefaults(schema: JSONSchemaProps, value: unknown): unknown {
  let v = value === undefined ? structuredClone(schema.default) : value;
  if (v === undefined || v === null) return v;
  if (schema.type === "object" && typeof v === "object" && !Array.isArray(v)) {
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    for (const [k, s] of Object.entries(schema.properties ?? {})) {
      const d = applyDefaults(s, out[k]);
      if (d !== undefined) out[k] = d;
    }
    if (schema.additionalProperties) {
      for (const [k, x] of Object.entries(out))
        out[k] = applyDefaults(schema.additionalProperties, x);
    }
    v = out;
  } else if (schema.type === "array" && Array.isArray(v) && schema.items) {
    const items = schema.items;
    v = v.map((x) => applyDefaults(items, x));
  }
  return v;
}

/**
 * Checks `value` (already defaulted) against the subset of OpenAPI the builder emits and
 * returns every problem as "path: message". The API server checks the same rules on admission;
 * the operator checks again because objects can predate a schema change.
 */
export function validate(schema: JSONSchemaProps, value: unknown, path = "spec"): string[] {
  const problems: string[] = [];
  const bad = (m: string) => problems.push(`${path}: ${m}`);
  if (value === undefined || value === null) return problems;
  if (schema["x-kubernetes-preserve-unknown-fields"] && schema.type === "object") return problems;
  switch (schema.type) {
    case "string":
      if (typeof value !== "string") return [`${path}: must be a string`];
      if (schema.enum && !schema.enum.includes(value))
        bad(`must be one of ${schema.enum.join(", ")}`);
      if (schema.pattern && !new RegExp(schema.pattern).test(value))
        bad(`must match ${schema.pattern}`);
      if (schema.minLength !== undefined && value.length < schema.minLength)
        bad(`must be at least ${schema.minLength} characters`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength)
        bad(`must be at most ${schema.maxLength} characters`);
      for (const v of schema["x-kubernetes-validations"] ?? []) {
        const re = MATCHES_RULE.exec(v.rule)?.[1];
        if (re !== undefined && !new RegExp(re).test(value)) bad(v.message);
      }
      break;
    case "integer":
    case "number":
      if (typeof value !== "number" || (schema.type === "integer" && !Number.isInteger(value)))
        return [`${path}: must be an ${schema.type}`];
      if (schema.minimum !== undefined && value < schema.minimum)
        bad(`must be ≥ ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum)
        bad(`must be ≤ ${schema.maximum}`);
      break;
    case "boolean":
      if (typeof value !== "boolean") bad("must be a boolean");
      break;
    case "array": {
      if (!Array.isArray(value)) return [`${path}: must be a list`];
      if (schema.minItems !== undefined && value.length < schema.minItems)
        bad(`must have at least ${schema.minItems} items`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        bad(`must have at most ${schema.maxItems} items`);
      const keys = schema["x-kubernetes-list-map-keys"];
      const seen = new Set<string>();
      value.forEach((x, i) => {
        if (schema.items) problems.push(...validate(schema.items, x, `${path}[${i}]`));
        const id = keys
          ? JSON.stringify(keys.map((k) => (x as Record<string, unknown>)?.[k]))
          : JSON.stringify(x);
        if ((keys || schema["x-kubernetes-list-type"] === "set") && seen.has(id))
          bad(`duplicate entry ${id}`);
        seen.add(id);
      });
      break;
    }
    case "object": {
      if (typeof value !== "object" || Array.isArray(value)) return [`${path}: must be an object`];
      const o = value as Record<string, unknown>;
      for (const r of schema.required ?? []) if (o[r] === undefined) bad(`${r} is required`);
      for (const [k, s] of Object.entries(schema.properties ?? {}))
        problems.push(...validate(s, o[k], `${path}.${k}`));
      if (schema.additionalProperties) {
        const ap = schema.additionalProperties;
        for (const [k, x] of Object.entries(o)) problems.push(...validate(ap, x, `${path}.${k}`));
      }
      break;
    }
  }
  return problems;
}
