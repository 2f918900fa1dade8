/**
 * LiveAvatar's response envelope, so a client written for api.liveavatar.com reads ours as is.
 *
 * Success: `{code: 1000, data, message}`. LiveAvatar's OpenAPI gives `code` a default of 100, but
 * its web SDK (@heygen/liveavatar-web-sdk, SessionApiClient) accepts only `code === 1000` and
 * reads `message` and `code` from a failed response's body, so that is what we send.
 * Failure: `{code: <HTTP status>, data: null, message: <one line>}`; a 422 also carries the
 * FastAPI validation shape LiveAvatar documents (HTTPValidationError), `detail: [{loc, msg, type}]`,
 * one entry per problem.
 */
import type { ApiError } from './api_error.ts';

export const SUCCESS_CODE = 1000;

export interface Envelope {
  code: number;
  data: unknown;
  message: string;
  detail?: { loc: (string | number)[]; msg: string; type: string }[];
}

export function success(data: unknown, message: string): Envelope {
  return { code: SUCCESS_CODE, data, message };
}

/** `dispatch metadata: gemini_realtime_config.voice: ...` -> ['body', 'gemini_realtime_config', 'voice']. */
function location(problem: string): (string | number)[] {
  const rest = problem.replace(/^dispatch metadata: /, '');
  const path = /^([A-Za-z_][\w.]*): /.exec(rest)?.[1];
  return ['body', ...(path ? path.split('.') : [])];
}

export function failure(error: ApiError): Envelope {
  const envelope: Envelope = { code: error.status, data: null, message: error.message };
  if (error.status === 422) {
    envelope.detail = error.problems.map((msg) => ({
      loc: location(msg),
      msg,
      type: 'value_error',
    }));
  }
  return envelope;
}
