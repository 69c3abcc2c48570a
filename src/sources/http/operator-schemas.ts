/** Request schemas of the operator endpoints of contract 15 (events, maintenance). */
import { Type, type Static } from '@sinclair/typebox';
import { MAX_MAINTENANCE_REASON } from '../../registry/state-entries.js';

export const EventsQuery = Type.Object(
  { since: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'since: an event id, a whole number' })) },
  { additionalProperties: false },
);
export type EventsQuery = Static<typeof EventsQuery>;

export const MaintenanceBody = Type.Object(
  {
    reason: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: MAX_MAINTENANCE_REASON,
        pattern: '^[^\\u0000-\\u001f\\u007f]*$',
        description: `reason: 1..${MAX_MAINTENANCE_REASON} characters, no control characters`,
      }),
    ),
  },
  { additionalProperties: false },
);
export type MaintenanceBody = Static<typeof MaintenanceBody>;
