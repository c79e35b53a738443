/**
 * A small JSON Schema subset (the part the edge API needs) and its validator, so that one schema
 * both validates request bodies and appears in the OpenAPI document. Errors name the path:
 * `probes[0].rttMs must be at most 10000`.
 */
export type Schema =
  | {
      readonly type: 'object';
      readonly properties: Readonly<Record<string, Schema>>;
      readonly required?: readonly string[];
      readonly additionalProperties?: false;
      readonly description?: string;
    }
  | {
      readonly type: 'array';
      readonly items: Schema;
      readonly minItems?: number;
      readonly maxItems?: number;
      readonly uniqueItems?: boolean;
      readonly description?: string;
    }
  | {
      readonly type: 'string';
      readonly minLength?: number;
      readonly maxLength?: number;
      readonly pattern?: string;
      readonly enum?: readonly string[];
      readonly description?: string;
    }
  | {
      readonly type: 'number' | 'integer';
      readonly minimum?: number;
      readonly maximum?: number;
      readonly description?: string;
    }
  | { readonly type: 'boolean'; readonly description?: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first problem with `value`, or undefined when it conforms. */
export function validate(schema: Schema, value: unknown, path = 'the body'): string | undefined {
  switch (schema.type) {
    case 'object': {
      if (!isObject(value)) return `${path} must be a JSON object`;
      if (schema.additionalProperties === false) {
        const extra = Object.keys(value).find((k) => !(k in schema.properties));
        if (extra !== undefined)
          return `unknown field ${extra} (known: ${Object.keys(schema.properties).join(', ')})`;
      }
      for (const name of schema.required ?? []) if (value[name] === undefined) return `${name} is required`;
      for (const [name, sub] of Object.entries(schema.properties)) {
        if (value[name] === undefined) continue;
        const where = path === 'the body' ? name : `${path}.${name}`;
        const problem = validate(sub, value[name], where);
        if (problem) return problem;
      }
      return undefined;
    }
    case 'array': {
      if (!Array.isArray(value)) return `${path} must be an array`;
      if (schema.minItems !== undefined && value.length < schema.minItems)
        return `${path} must hold at least ${schema.minItems} item(s)`;
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        return `${path} may hold at most ${schema.maxItems} items`;
      if (schema.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length)
        return `${path} must not repeat an item`;
      for (const [i, item] of value.entries()) {
        const problem = validate(schema.items, item, `${path}[${i}]`);
        if (problem) return problem;
      }
      return undefined;
    }
    case 'string': {
      if (typeof value !== 'string') return `${path} must be a string`;
      if (schema.minLength !== undefined && value.length < schema.minLength)
        return `${path} must have at least ${schema.minLength} character(s)`;
      if (schema.maxLength !== undefined && value.length > schema.maxLength)
        return `${path} may have at most ${schema.maxLength} characters`;
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value))
        return `${path} must match ${schema.pattern}`;
      if (schema.enum !== undefined && !schema.enum.includes(value))
        return `${path} must be one of ${schema.enum.join(', ')}`;
      return undefined;
    }
    case 'number':
    case 'integer': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return `${path} must be a number`;
      if (schema.type === 'integer' && !Number.isInteger(value)) return `${path} must be a whole number`;
      if (schema.minimum !== undefined && value < schema.minimum)
        return `${path} must be at least ${schema.minimum}`;
      if (schema.maximum !== undefined && value > schema.maximum)
        return `${path} must be at most ${schema.maximum}`;
      return undefined;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${path} must be true or false`;
  }
}
