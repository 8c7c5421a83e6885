/**
 * The event subscriptions' part of `GET /api/openapi.json` (src/api/openapi.ts): their paths,
 * referring to the components openapi.ts generates from src/events/schemas.ts by name.
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const body = (name: string) => ({ required: true, content: { 'application/json': { schema: ref(name) } } });
const error = (description: string) => json(ref('Error'), description);
const unauthorized = error('Missing or wrong bearer token');
const invalid = error('Validation error; `attr` names the field');
const subscriptionParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'subscription id',
};
const noSubscription = error('No subscription with that id');

/** Event subscriptions (src/events/routes.ts). */
export const subscriptionPaths = {
  '/subscriptions': {
    get: {
      summary: 'List event subscriptions (never their secrets)',
      responses: { '200': json(ref('SubscriptionList')), '401': unauthorized },
    },
    post: {
      summary:
        'Subscribe a receiver to change events: HMAC-signed POSTs, at least once, in order per record. The secret is stored encrypted and never returned.',
      requestBody: body('CreateSubscriptionRequest'),
      responses: { '201': json(ref('Subscription'), 'Created'), '400': invalid, '401': unauthorized },
    },
  },
  '/subscriptions/{id}': {
    get: {
      summary: 'Retrieve a subscription and its delivery state',
      parameters: [subscriptionParam],
      responses: { '200': json(ref('Subscription')), '401': unauthorized, '404': noSubscription },
    },
    patch: {
      summary:
        'Change a subscription; only sent fields change. active=false pauses (events wait, in order, for the resume); a new url is tried at once; a new secret signs from now on while the replaced one keeps signing beside it for secret_overlap_seconds (X-Airmirror-Signature: sha256=<new>,sha256=<old>)',
      parameters: [subscriptionParam],
      requestBody: body('PatchSubscriptionRequest'),
      responses: {
        '200': json(ref('Subscription')),
        '400': invalid,
        '401': unauthorized,
        '404': noSubscription,
      },
    },
    delete: {
      summary: 'Delete a subscription; its pending events are no longer delivered',
      parameters: [subscriptionParam],
      responses: { '204': { description: 'Deleted' }, '401': unauthorized, '404': noSubscription },
    },
  },
  '/subscriptions/{id}/deliveries': {
    get: {
      summary:
        'Its recent delivery attempts, newest first: event, try number, delivered or failed, the HTTP status, the error, when (the last 1,000 attempts are kept)',
      parameters: [
        subscriptionParam,
        {
          name: 'status',
          in: 'query',
          required: false,
          schema: { type: 'string', enum: ['delivered', 'failed'] },
        },
        {
          name: 'event_id',
          in: 'query',
          required: false,
          schema: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' },
        },
        {
          name: 'limit',
          in: 'query',
          required: false,
          schema: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
          description: '1 to 1000, default 100',
        },
      ],
      responses: {
        '200': json(ref('DeliveryList')),
        '400': invalid,
        '401': unauthorized,
        '404': noSubscription,
      },
    },
  },
  '/subscriptions/{id}/dead-letters': {
    get: {
      summary: 'Events given up on after retrying (delivery moved past them)',
      parameters: [subscriptionParam],
      responses: { '200': json(ref('DeadLetterList')), '401': unauthorized, '404': noSubscription },
    },
  },
  '/subscriptions/{id}/dead-letters/{eventId}/replay': {
    post: {
      summary: 'Deliver a dead-lettered event once more, now',
      parameters: [
        subscriptionParam,
        {
          name: 'eventId',
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' },
          description: 'event (outbox) id',
        },
      ],
      responses: {
        '200': json(ref('Replay'), 'Delivered'),
        '400': invalid,
        '401': unauthorized,
        '404': error('No subscription with that id, or no dead letter with that event id'),
        '502': error('REPLAY_FAILED: the receiver did not accept it (`event_id` says which)'),
      },
    },
  },
};
