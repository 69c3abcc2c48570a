/**
 * Turns Ajv's errors into one message that names each offending field and why, e.g.
 * `body.address: must be host:port; body.color: unknown field`.
 */
import type { FastifySchemaValidationError } from 'fastify';

interface VerboseError extends FastifySchemaValidationError {
  parentSchema?: { description?: string };
}

export function fieldPath(root: string, instancePath: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return parts.reduce((path, part) => (/^[0-9]+$/.test(part) ? `${path}[${part}]` : `${path}.${part}`), root);
}

export function describeError(root: string, error: VerboseError): string {
  const path = fieldPath(root, error.instancePath);
  const params = error.params;
  switch (error.keyword) {
    case 'additionalProperties':
      return `${path}.${String(params.additionalProperty)}: unknown field`;
    case 'required':
      return `${path}.${String(params.missingProperty)}: is required`;
    case 'propertyNames':
      return `${path}: has a bad key "${String(params.propertyName)}"`;
    case 'type':
      return `${path}: must be ${String(params.type)}`;
    case 'maxProperties':
      return `${path}: must have at most ${String(params.limit)} entries`;
    default: {
      const rule = error.parentSchema?.description;
      return rule ? `${path}: ${error.message ?? 'is invalid'} (${rule})` : `${path}: ${error.message ?? 'is invalid'}`;
    }
  }
}

export function describeErrors(root: string, errors: readonly FastifySchemaValidationError[]): string {
  // propertyNames reports twice (the key rule, then the object); keep distinct messages only.
  return [...new Set(errors.map((error) => describeError(root, error)))].join('; ');
}
