/**
 * FFmpeg's decoders (libavcodec, libswresample) through node-av, loaded on first use.
 *
 * node-av ships FFmpeg 8.1 built into a prebuilt N-API binary inside an npm package
 * (`@seydx/node-av-linux-x64` and siblings, an optional dependency picked by platform), so
 * `npm ci` is all it takes; its install scripts only fetch an ffmpeg command-line binary we do not
 * use, and package.json's allowScripts denies them. Loading is lazy and synchronous (Node >= 20.19
 * requires ES modules synchronously): a worker whose platform has no binary still starts, and a
 * Gemini avatar then falls back to our own face with one warning.
 */
import { createRequire } from 'node:module';
import type * as AvConstantsModule from 'node-av/constants';
import type * as AvLibModule from 'node-av/lib';

export type AvLib = typeof AvLibModule;
export type AvConstants = typeof AvConstantsModule;

export interface Av {
  lib: AvLib;
  constants: AvConstants;
}

let loaded: Av | Error | undefined;

/** node-av, or the Error that kept it from loading (remembered: loading is tried once). */
export function loadAv(): Av | Error {
  if (loaded) return loaded;
  try {
    const require = createRequire(import.meta.url);
    const lib = require('node-av/lib') as AvLib;
    const constants = require('node-av/constants') as AvConstants;
    // Touch the native binding now, so a missing binary fails here and not mid-call.
    lib.Codec.findDecoder(constants.AV_CODEC_ID_H264);
    loaded = { lib, constants };
  } catch (error) {
    loaded = error instanceof Error ? error : new Error(String(error));
  }
  return loaded;
}

/** Why the Gemini avatar decoders cannot run on this machine, or undefined when they can. */
export function decoderUnavailable(): string | undefined {
  const av = loadAv();
  return av instanceof Error
    ? `the H.264 + AAC decoder (node-av) did not load: ${av.message}`
    : undefined;
}

/** FFmpeg returns negative error codes: one line saying what failed. */
export function checkAv(code: number, what: string): void {
  if (code < 0) throw new Error(`${what} failed (FFmpeg error ${code})`);
}
