/**
 * The monthly call quota's part of `GET /api/openapi.json` (src/api/openapi.ts): its paths,
 * referring to the components openapi.ts generates from src/quota/schemas.ts by name. A source's
 * freshness target is a field of the source (`PATCH /sources/{id}` max_lag_seconds).
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const error = (description: string) => json(ref('Error'), description);

/** `/quota` and `/quota/{token_key}` (src/quota/routes.ts). */
export const quotaPaths = {
  '/quota': {
    get: {
      summary:
        "Every Airtable token key's monthly call quota: budget (or unlimited), the apps' share, calls this UTC month (every process and the proxy), the projection for the month, whether background work is spaced out (and how) or paused (until when), and each source's drain window",
      responses: { '200': json(ref('Quota')), '401': error('Missing or wrong bearer token') },
    },
  },
  '/quota/{token_key}': {
    put: {
      summary:
        'Set the monthly call budget of a token key (its workspace): a number, "unlimited", or null for AIRMIRROR_MONTHLY_CALL_BUDGET again',
      parameters: [
        {
          name: 'token_key',
          in: 'path',
          required: true,
          schema: { type: 'string' },
          description: 'A token key as GET /quota lists it (derived from the token, never the token)',
        },
      ],
      requestBody: { required: true, content: { 'application/json': { schema: ref('QuotaBudgetRequest') } } },
      responses: {
        '200': json(ref('QuotaEntry')),
        '400': error('Validation error; `attr` names the field'),
        '401': error('Missing or wrong bearer token'),
        '404': error('No token with that key is known'),
      },
    },
  },
};
