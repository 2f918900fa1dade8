/**
 * A local fake of Google's Gemini Live WebSocket API (BidiGenerateContent) for offline tests.
 *
 * Point the real @google/genai client (or the LiveKit google plugin) at it with
 * `httpOptions.baseUrl = fake.baseUrl` or env `GOOGLE_GEMINI_BASE_URL`. It speaks the wire JSON the SDK
 * expects, parses every client message as Google's documented schema does (wire_schema.ts: an
 * unknown field, a wrong value type or enum name anywhere in it closes with 1007) and enforces
 * per-model server rules by closing the socket like Google does (1007/1008).
 * Its model knowledge is deliberately its own: it must not share the app's capability table, or a
 * wrong table would agree with itself.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import { Slicer, avatarClip } from './avatar_stream.ts';
import { interimText } from '../fake_transcripts.ts';
import { type WireKind, checkClientMessage, clientMessageKind } from './wire_schema.ts';
import {
  CLOSE_REASONS,
  type FaultAction,
  type FaultMoment,
  FaultPlan,
  type FaultSpec,
  type FiredFault,
  HANDLE_EXPIRED,
  durationJson,
} from './faults.ts';

export type { FaultAction, FaultMoment, FaultSpec, FiredFault } from './faults.ts';

// Wire JSON is untyped by nature; the public API promised `any` for raw messages.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** Energy detector: 20 ms frames, speech = frame RMS above -40 dBFS (16 kHz input). */
export const VAD_FRAME_MS = 20;
export const SPEECH_THRESHOLD_DBFS = -40;
/** A spoken turn needs at least this much voiced audio... */
export const MIN_SPEECH_MS = 100;
/** ...and ends after this much silence (measured in received audio, not wall-clock time). */
export const SPEECH_END_SILENCE_MS = 500;
export const INPUT_SAMPLE_RATE = 16_000;
export const OUTPUT_SAMPLE_RATE = 24_000;
export const OUTPUT_AUDIO_MIME = 'audio/pcm;rate=24000';
export const DEFAULT_CHUNK_MS = 40;
export const DEFAULT_PACE_FACTOR = 4;
/** Default reply length: ~70 ms of audio per character, at least 400 ms. */
export const MS_PER_REPLY_CHAR = 70;
export const MIN_REPLY_AUDIO_MS = 400;
export const AUDIO_TOKENS_PER_SECOND = 25;
/** Avatar video tokens per second the avatar speaks, as reported (third party; Google is silent). */
export const VIDEO_TOKENS_PER_SECOND = 6192;
/** The avatar's fMP4 goes out in slices of this many bytes, not box-aligned (as reported). */
export const DEFAULT_VIDEO_CHUNK_BYTES = 16 * 1024;
export const AVATAR_MIME = 'video/mp4';
/** Prebuilt avatars the fake knows: the presets of Google's Live Avatar sample. */
export const FAKE_AVATAR_NAMES = new Set(
  'Jay Paul Sam Ingrid Kira Vera Ben Kai Leo Carmen Piper'.split(' '),
);
/** Google's generic INVALID_ARGUMENT text, used for the 3.x clientContent rule. */
export const INVALID_ARGUMENT = 'Request contains an invalid argument.';

export interface FakeReply {
  /** What the model "says": sent as outputTranscription text pieces. */
  text?: string;
  /** Reply audio length; default derived from text (~70 ms per character, min 400 ms). 0 = a turn with no audio. */
  audioMs?: number;
  /**
   * Extended thinking only: what the model says while it reasons, before the answer (sent with
   * `turnComplete` and `interactionStatus: IN_PROGRESS`; the answer then ends at IDLE).
   */
  filler?: string;
  /** Ask the client to call a function first; the fake waits for the matching toolResponse, then calls respond() again with the response. */
  toolCall?: { name: string; args: Record<string, unknown> };
}

export interface FakeTurn {
  /** How the turn reached the server. */
  source: 'audio' | 'realtime_text' | 'client_content' | 'tool_response';
  /** User transcript, realtime text, clientContent text; for 'tool_response' the text of the turn that asked for the call. */
  text: string;
  /** For source 'audio': voiced length of the turn. */
  speechMs?: number;
  /** For source 'tool_response': the function response the client sent. */
  toolResponse?: { id: string; name: string; response: unknown };
  connection: FakeConnection;
}

export interface FakeGeminiOptions {
  /** Decide the reply to a user turn. Default: echo-ish reply `You said: <text>.` */
  respond?: (turn: FakeTurn) => FakeReply | Promise<FakeReply>;
  /** Transcript for a spoken user turn (the fake has no ASR). Default: () => 'hello'. turnIndex = index in connection.turns. */
  transcribe?: (info: { turnIndex: number; speechMs: number }) => string;
  /** API key the fake accepts (query `key=` / `access_token=`); if set, any other key closes with 1008. */
  apiKey?: string;
  /**
   * Vertex AI: the OAuth access token the fake's STS endpoint (`tokenUrl`) issues for any subject
   * token; if set, a Vertex connection without `Authorization: Bearer <it>` closes with 1008.
   * Unset, the STS refuses every exchange (400 invalid_grant).
   */
  accessToken?: string;
  /** Audio chunk length sent to the client (ms of 24 kHz PCM per serverContent message). Default 40. */
  chunkMs?: number;
  /** Pace reply audio: send chunks at N x real time (Gemini sends faster than real time). Default 4; Infinity = burst. */
  paceFactor?: number;
  /** Extra latency before the first reply chunk (time to first audio). Default 0. */
  replyDelayMs?: number;
  /** Send server messages as binary frames (as Google does) instead of text frames. Default false. */
  binaryFrames?: boolean;
  /** Scripted faults (see gemini_faults.ts); more can be added with `inject()`. */
  faults?: readonly FaultSpec[];
  /** Live Avatar (VIDEO): bytes per inlineData slice of the fMP4 stream. Default 16 KiB. */
  videoChunkBytes?: number;
  /** Live Avatar: also send the speech as PCM parts beside the MP4 (reported of Google). Default false. */
  avatarPcm?: boolean;
}

export interface FakeConnection {
  index: number;
  /** Request path incl. query. */
  path: string;
  /** The upgrade request's Authorization header as sent (Vertex: `Bearer <access token>`). */
  authorization?: string;
  backend: Backend;
  apiVersion: string;
  /** The client's setup message body (msg.setup); undefined until it arrives. */
  setup: Json;
  /** e.g. 'gemini-3.1-flash-live-preview' (without the models/ prefix). */
  model: string;
  /** Code sent by whoever closed first (1005 = client sent no code; 1006 = terminated by FakeGeminiServer.close()). */
  closeCode?: number;
  closeReason?: string;
  closedBy?: 'client' | 'server';
  /** performance.now() when the socket closed (either side). */
  closedAt?: number;
  /** User turns the fake recognised on this connection. */
  turns: FakeTurn[];
  /** Every accepted clientContent turn, in order. */
  history: Json[];
  /** The resumption handle this connection resumed (`setup.sessionResumption.handle`), if valid. */
  resumedFrom?: string;
  /** Every realtime video frame accepted on this connection, in order. */
  videoFrames: FakeVideoFrame[];
  /** Live Avatar output sent on this connection (VIDEO setups). */
  avatar: { fragments: number; bytes: number; slices: number };
  /** Send a raw server message (e.g. `{goAway:{timeLeft:'5s'}}`). */
  send(msg: Json): void;
  /** Close from the server side, like Google ending the session. */
  close(code: number, reason: string): void;
}

/** One `realtimeInput.video` frame as the fake received it. */
export interface FakeVideoFrame {
  conn: number;
  /** performance.now() ms at arrival. */
  at: number;
  mimeType: string;
  /** Decoded image bytes. */
  bytes: number;
  /** From the JPEG's frame header; undefined when the image is not a JPEG the fake can read. */
  width?: number;
  height?: number;
}

export type Backend = 'gemini' | 'vertex';
/**
 * - `native_audio_2_5`: client content anywhere; opt-in affective dialog and proactive audio.
 * - `live_3_1`: thinking levels; synchronous functions only; client content only as declared
 *   initial history; no affective dialog, proactivity or response scheduling.
 * - `live_3_8`: no thinking config; affective dialog removed and proactive audio always on (the
 *   setup must not carry either); NON_BLOCKING functions by default; client content with explicit
 *   roles all session on the Gemini API, only as declared initial history on Vertex AI, where a
 *   BLOCKING call is cancelled when new input arrives and function responses need their id.
 * - `live_3_8_thinking`: as `live_3_8` (Gemini API), plus a required thinking level
 *   (low/medium/high), NON_BLOCKING declarations only, no response scheduling; speaks a filler
 *   before a function call and marks the end of an interaction with `interactionStatus: IDLE`.
 * - `transcribe`: Google's live transcription model (ai.google.dev/gemini-api/docs/live-api/
 *   live-transcribe): TEXT responses and `inputAudioTranscription` only; no replies, but
 *   `interimInputTranscription` while the user speaks and `inputTranscription` when a speech turn
 *   finishes (server VAD, `audioStreamEnd`, or the client's `activityEnd`).
 */
type Family = 'native_audio_2_5' | 'live_3_1' | 'live_3_8' | 'live_3_8_thinking' | 'transcribe';
type LogEntry = { conn: number; at: number; msg: Json };

/** Google's server-side model list, as far as the fake knows it. */
const NATIVE_AUDIO_2_5 = { family: 'native_audio_2_5', backends: ['gemini'] } as const;
const VERTEX_2_5 = { family: 'native_audio_2_5', backends: ['vertex'] } as const;
type ServerModel = { family: Family; backends: readonly Backend[]; video?: false };
const SERVER_MODELS: Readonly<Record<string, ServerModel>> = {
  'gemini-2.5-flash-native-audio-preview-12-2025': NATIVE_AUDIO_2_5,
  'gemini-2.5-flash-native-audio-preview-09-2025': NATIVE_AUDIO_2_5,
  'gemini-live-2.5-flash-native-audio': VERTEX_2_5,
  'gemini-live-2.5-flash-preview-native-audio-09-2025': VERTEX_2_5,
  'gemini-3.1-flash-live-preview': { family: 'live_3_1', backends: ['gemini'] },
  'gemini-3.8-live': { family: 'live_3_8', backends: ['gemini', 'vertex'] },
  'gemini-3.8-live-extended-thinking': { family: 'live_3_8_thinking', backends: ['gemini'] },
  'gemini-3.5-transcribe-live': { family: 'transcribe', backends: ['gemini', 'vertex'] },
  // Test-only: no real Live model refuses video; this one stands in for one that would (1007).
  'fake-live-audio-only': { ...NATIVE_AUDIO_2_5, video: false },
};
const LIVE_3 = new Set<Family>(['live_3_1', 'live_3_8', 'live_3_8_thinking']);
const LIVE_38 = new Set<Family>(['live_3_8', 'live_3_8_thinking']);
/** What a reply on the extended-thinking model says while it runs a function in the background. */
export const THINKING_FILLER = 'Let me check that. ';

const GEMINI_PATH =
  /^\/+ws\/google\.ai\.generativelanguage\.(v1alpha|v1beta)\.GenerativeService\.(BidiGenerateContent|BidiGenerateContentConstrained)$/;
const VERTEX_PATH =
  /^\/+ws\/google\.cloud\.aiplatform\.(v1|v1beta1)\.LlmBidiService\/BidiGenerateContent$/;
const THINKING_LEVELS = new Set(['minimal', 'low', 'medium', 'high']);

interface Endpoint {
  backend: Backend;
  apiVersion: string;
  credential?: string;
  authorization?: string;
}

/** Parse the request path the SDK builds (note the leading double slash); undefined = not a Live endpoint. */
function parseEndpoint(rawPath: string): Endpoint | undefined {
  const q = rawPath.indexOf('?');
  const path = q < 0 ? rawPath : rawPath.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : rawPath.slice(q + 1));
  const gemini = GEMINI_PATH.exec(path);
  if (gemini) {
    const constrained = gemini[2] === 'BidiGenerateContentConstrained';
    const credential = query.get(constrained ? 'access_token' : 'key') ?? undefined;
    return { backend: 'gemini', apiVersion: gemini[1] ?? '', credential };
  }
  const vertex = VERTEX_PATH.exec(path);
  return vertex ? { backend: 'vertex', apiVersion: vertex[1] ?? '' } : undefined;
}

/** Model id from setup.model: `models/<id>` (Gemini API) or a resource name ending `/models/<id>` (Vertex). */
function modelId(model: unknown, backend: Backend): string | undefined {
  if (typeof model !== 'string') return undefined;
  const match = (backend === 'gemini' ? /^models\/([^/]+)$/ : /(?:^|\/)models\/([^/]+)$/).exec(
    model,
  );
  return match?.[1];
}

interface SetupCheck {
  setup: Json;
  id: string;
  family: Family;
  endpoint: Endpoint;
}
type SetupRule = (c: SetupCheck) => string | undefined;

/** On the Gemini API these fields exist only in v1alpha; v1beta's proto does not know them. */
const alphaOnlyFields: SetupRule = ({ setup, endpoint }) => {
  if (endpoint.backend !== 'gemini' || endpoint.apiVersion === 'v1alpha') return undefined;
  if (setup.generationConfig?.enableAffectiveDialog !== undefined) {
    return `Invalid JSON payload received. Unknown name "enableAffectiveDialog" at 'setup.generation_config': Cannot find field.`;
  }
  if (setup.proactivity !== undefined) {
    return `Invalid JSON payload received. Unknown name "proactivity" at 'setup': Cannot find field.`;
  }
  return undefined;
};

const thinkingConfig: SetupRule = ({ setup, id, family }) => {
  const tc = setup.generationConfig?.thinkingConfig;
  if (family === 'live_3_8') {
    return tc !== undefined ? `Thinking config is not supported for models/${id}.` : undefined;
  }
  if (family === 'live_3_8_thinking') {
    if (tc?.thinkingBudget !== undefined)
      return `Thinking budget is not supported for models/${id}.`;
    const level = String(tc?.thinkingLevel ?? '').toLowerCase();
    if (!tc?.thinkingLevel) return 'Thinking level must be specified for this model.';
    return ['low', 'medium', 'high'].includes(level)
      ? undefined
      : `Thinking level ${level.toUpperCase().slice(0, 20)} is not supported for models/${id}.`;
  }
  if (!tc) return undefined;
  if (family === 'native_audio_2_5') {
    return tc.thinkingLevel !== undefined
      ? `Thinking level is not supported for models/${id}.`
      : undefined;
  }
  if (tc.thinkingBudget !== undefined)
    return `Thinking budget is not supported for models/${id}; use thinking_level.`;
  const level = tc.thinkingLevel;
  if (level !== undefined && !THINKING_LEVELS.has(String(level).toLowerCase())) {
    return `Invalid value at 'setup.generation_config.thinking_config.thinking_level' (${String(level).slice(0, 30)})`;
  }
  return undefined;
};

function declarationsOf(setup: Json): Json[] {
  return (Array.isArray(setup.tools) ? setup.tools : []).flatMap(
    (t: Json) => t?.functionDeclarations ?? [],
  );
}

/**
 * 3.x drops the 2.5 native-audio extras: 3.1 supports neither affective dialog, proactivity nor
 * async functions; on 3.8 affective dialog is removed and proactive audio always on (sending
 * either is refused); extended thinking takes NON_BLOCKING declarations only.
 */
const live3Extras: SetupRule = ({ setup, id, family }) => {
  if (!LIVE_3.has(family)) return undefined;
  if (setup.generationConfig?.enableAffectiveDialog !== undefined)
    return `Affective dialog is not supported for models/${id}.`;
  if (setup.proactivity !== undefined) return `Proactive audio is not supported for models/${id}.`;
  const declarations = declarationsOf(setup);
  if (family === 'live_3_1') {
    const async = declarations.find((d) => d?.behavior === 'NON_BLOCKING');
    return (
      async && `Function behavior NON_BLOCKING is not supported for models/${id}: ${async.name}`
    );
  }
  if (family === 'live_3_8_thinking') {
    const sync = declarations.find((d) => d?.behavior !== 'NON_BLOCKING');
    return sync && `Function ${sync.name} must be declared NON_BLOCKING for models/${id}.`;
  }
  return undefined;
};

/** Vertex AI takes Google Search only with other search tools, never beside function calling. */
const searchBesideFunctions: SetupRule = ({ setup, family, endpoint }) => {
  if (endpoint.backend !== 'vertex' || family !== 'native_audio_2_5') return undefined;
  const tools: Json[] = Array.isArray(setup.tools) ? setup.tools : [];
  const search = tools.some((t) => t?.googleSearch !== undefined);
  return search && declarationsOf(setup).length > 0
    ? 'Google Search cannot be combined with function calling in the same request.'
    : undefined;
};

/** The worker-visible setup of a Live Avatar: VIDEO with an avatar config, 3.8 on Vertex AI only. */
const avatarOutput: SetupRule = ({ setup, id, family, endpoint }) => {
  const modalities: unknown[] = setup.generationConfig?.responseModalities ?? [];
  const video = modalities.includes('VIDEO');
  const avatar = setup.avatarConfig;
  if (!video && avatar === undefined) return undefined;
  if (family !== 'live_3_8' || endpoint.backend !== 'vertex') {
    return video
      ? `Response modality VIDEO is not supported for models/${id}.`
      : `Avatar config is not supported for models/${id}.`;
  }
  if (!video) return 'Avatar config requires response modality VIDEO.';
  if (modalities.length !== 1) return 'Only one response modality is supported.';
  if (avatar === null || typeof avatar !== 'object') {
    return 'Response modality VIDEO requires an avatar config.';
  }
  const named = avatar.avatarName !== undefined;
  if (named === (avatar.customizedAvatar !== undefined)) {
    return 'Avatar config needs exactly one of avatar_name or customized_avatar.';
  }
  if (named) {
    return FAKE_AVATAR_NAMES.has(avatar.avatarName)
      ? undefined
      : `Unsupported avatar name: ${String(avatar.avatarName).slice(0, 40)}`;
  }
  return customizedAvatarProblem(avatar.customizedAvatar);
};

/** A customer portrait: PNG or JPEG, at least 704x1280, about 9:16. */
function customizedAvatarProblem(custom: Json): string | undefined {
  const mime = String(custom?.imageMimeType ?? '');
  const image = Buffer.from(
    typeof custom?.imageData === 'string' ? custom.imageData : '',
    'base64',
  );
  const size = mime.endsWith('png') ? pngSize(image) : mime.endsWith('jpeg') ? jpegSize(image) : {};
  const { width = 0, height = 0 } = size;
  if (!width || !height) return `Invalid avatar image (mime type ${mime.slice(0, 30)}).`;
  const ratio = width / height;
  if (width < 704 || height < 1280 || ratio < 0.54 || ratio > 0.57) {
    return `Avatar image must be a 9:16 portrait of at least 704x1280 (got ${width}x${height}).`;
  }
  return undefined;
}

/** An interim transcript at most this often, in audio time (live transcription model). */
export const INTERIM_TRANSCRIPT_EVERY_MS = 250;
const TRANSCRIPTION_MODES = new Set(['VERBATIM', 'SMART']);

/** The live transcription model answers in TEXT only, and transcribes only when asked to. */
const transcribeSetup: SetupRule = ({ setup, id, family }) => {
  if (family !== 'transcribe') return undefined;
  const modalities: unknown = setup.generationConfig?.responseModalities;
  if (!Array.isArray(modalities) || modalities.length !== 1 || modalities[0] !== 'TEXT') {
    return `The requested combination of response modalities (${String(modalities)}) is not supported by the model models/${id}.`;
  }
  const config = setup.inputAudioTranscription;
  if (config === undefined) return `models/${id} needs input_audio_transcription.`;
  if (config.mode !== undefined && !TRANSCRIPTION_MODES.has(config.mode)) {
    return `Invalid value at 'setup.input_audio_transcription.mode' (${String(config.mode).slice(0, 30)})`;
  }
  if (setup.tools !== undefined) return `Tools are not supported for models/${id}.`;
  return undefined;
};

/** The model's rules, checked once the setup parsed (wire_schema.ts: fields and value types). */
const SETUP_RULES: readonly SetupRule[] = [
  transcribeSetup,
  alphaOnlyFields,
  thinkingConfig,
  live3Extras,
  searchBesideFunctions,
  avatarOutput,
];

/** Close reasons are capped at 123 bytes by RFC 6455 (ws throws beyond that). */
function closeReason(reason: string): string {
  let out = reason;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

function frameText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

function parseJson(text: string): Json | undefined {
  try {
    const msg: unknown = JSON.parse(text);
    return msg !== null && typeof msg === 'object' && !Array.isArray(msg) ? msg : undefined;
  } catch {
    return undefined;
  }
}

/** Sample rate from `audio/pcm` (16 kHz by convention) or `audio/pcm;rate=N`; undefined = not PCM. */
function pcmRate(mimeType: unknown): number | undefined {
  if (typeof mimeType !== 'string' || !mimeType.startsWith('audio/pcm')) return undefined;
  const rate = /rate=(\d+)/.exec(mimeType)?.[1];
  return rate ? Number(rate) : INPUT_SAMPLE_RATE;
}

/** Width and height from a PNG's IHDR chunk. */
export function pngSize(image: Buffer): { width?: number; height?: number } {
  const signature = '89504e470d0a1a0a';
  if (image.length < 24 || image.toString('hex', 0, 8) !== signature) return {};
  return { width: image.readUInt32BE(16), height: image.readUInt32BE(20) };
}

/** Width and height from a JPEG's start-of-frame segment (SOF0..SOF15 except DHT/JPG/DAC). */
export function jpegSize(image: Buffer): { width?: number; height?: number } {
  if (image.length < 4 || image[0] !== 0xff || image[1] !== 0xd8) return {};
  let at = 2;
  while (at + 9 < image.length) {
    if (image[at] !== 0xff) return {};
    const marker = image[at + 1]!;
    const length = image.readUInt16BE(at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return { height: image.readUInt16BE(at + 5), width: image.readUInt16BE(at + 7) };
    }
    at += 2 + length;
  }
  return {};
}

function decodePcm16(b64: unknown): Int16Array {
  const bytes = Buffer.from(typeof b64 === 'string' ? b64 : '', 'base64');
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(i * 2);
  return out;
}

function encodePcm16(samples: Int16Array): string {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).toString('base64');
}

function rmsDbfs(frame: Int16Array): number {
  let sum = 0;
  for (const s of frame) sum += s * s;
  const rms = Math.sqrt(sum / Math.max(1, frame.length)) / 32768;
  return rms > 0 ? 20 * Math.log10(rms) : -Infinity;
}

/** A sine tone of `ms` at `dbfs` (RMS) as s16le-ready samples: test input for the energy detector. */
export function tonePcm16(
  ms: number,
  sampleRate = INPUT_SAMPLE_RATE,
  hz = 220,
  dbfs = -12,
): Int16Array {
  const out = new Int16Array(Math.round((ms * sampleRate) / 1000));
  const peak = Math.SQRT2 * 32767 * 10 ** (dbfs / 20);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.round(peak * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return out;
}

export function silencePcm16(ms: number, sampleRate = INPUT_SAMPLE_RATE): Int16Array {
  return new Int16Array(Math.round((ms * sampleRate) / 1000));
}

/**
 * Deterministic voiced-sounding reply audio: a 140 Hz harmonic stack (sawtooth-like) under a
 * 4 Hz "syllable" envelope, so mouth-movement code sees speech-like loudness changes.
 * `start` is the sample offset within the reply, keeping chunks continuous.
 */
export function replyPcm16(start: number, count: number): Int16Array {
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) {
    const t = (start + i) / OUTPUT_SAMPLE_RATE;
    let wave = 0;
    for (let h = 1; h <= 6; h++) wave += Math.sin(2 * Math.PI * 140 * h * t) / h;
    const envelope = 0.15 + 0.85 * Math.sin(Math.PI * 4 * t) ** 2;
    out[i] = Math.round(9000 * envelope * wave);
  }
  return out;
}

export function defaultReplyAudioMs(text: string): number {
  return Math.max(MIN_REPLY_AUDIO_MS, text.length * MS_PER_REPLY_CHAR);
}

/** Split text into up to `max` pieces whose concatenation is exactly `text` (word boundaries). */
export function splitTranscript(text: string, max = 3): string[] {
  const words = text.split(/(?<=\s)/).filter((w) => w.length > 0);
  const n = Math.min(max, words.length);
  return Array.from({ length: n }, (_, i) =>
    words
      .slice(Math.floor((i * words.length) / n), Math.floor(((i + 1) * words.length) / n))
      .join(''),
  );
}

function audioTokens(ms: number): number {
  return Math.round((ms / 1000) * AUDIO_TOKENS_PER_SECOND);
}

/** Deterministic usageMetadata: 25 tokens per second of audio, ~4 characters per text token. */
function usageMetadata(prompt: PromptUsage, responseAudioMs: number, avatar = false): Json {
  const details: Json[] = [];
  if (prompt.audioMs !== undefined)
    details.push({ modality: 'AUDIO', tokenCount: audioTokens(prompt.audioMs) });
  if (prompt.text !== undefined) {
    details.push({ modality: 'TEXT', tokenCount: Math.max(1, Math.ceil(prompt.text.length / 4)) });
  }
  const promptTokenCount = details.reduce((sum, d) => sum + d.tokenCount, 0);
  const response = [{ modality: 'AUDIO', tokenCount: audioTokens(responseAudioMs) }];
  if (avatar) {
    const video = Math.round((responseAudioMs / 1000) * VIDEO_TOKENS_PER_SECOND);
    response.push({ modality: 'VIDEO', tokenCount: video });
  }
  const responseTokenCount = response.reduce((sum, d) => sum + d.tokenCount, 0);
  return {
    promptTokenCount,
    responseTokenCount,
    totalTokenCount: promptTokenCount + responseTokenCount,
    promptTokensDetails: details,
    responseTokensDetails: response,
  };
}

/** Text of the last user turn, or of all turns when none is a user turn. */
function clientContentText(turns: Json[]): string {
  const users = turns.filter((t) => t?.role === 'user');
  const chosen = users.length > 0 ? users.slice(-1) : turns;
  return chosen
    .flatMap((t) => (Array.isArray(t?.parts) ? t.parts : []))
    .map((p: Json) => (typeof p?.text === 'string' ? p.text : ''))
    .join('');
}

type SpeechEvent = { type: 'start' } | { type: 'end'; speechMs: number };

/** Deterministic energy VAD over received samples (time = audio time, never wall-clock). */
export class SpeechDetector {
  /** Silence that ends a turn (default SPEECH_END_SILENCE_MS). */
  readonly endSilenceMs: number;
  #pending = new Int16Array(0);
  #voicedMs = 0;
  #spanMs = 0;
  #lastVoicedSpanMs = 0;
  #silenceMs = 0;
  #speaking = false;

  constructor(endSilenceMs = SPEECH_END_SILENCE_MS) {
    this.endSilenceMs = endSilenceMs;
  }

  /** A turn started and has not ended. */
  get speaking(): boolean {
    return this.#speaking;
  }

  /** The current turn so far, from its first voiced frame to its last (0 between turns). */
  get speechMs(): number {
    return this.#lastVoicedSpanMs;
  }

  push(samples: Int16Array, sampleRate: number): SpeechEvent[] {
    const frame = Math.max(1, Math.round((sampleRate * VAD_FRAME_MS) / 1000));
    const all = new Int16Array(this.#pending.length + samples.length);
    all.set(this.#pending);
    all.set(samples, this.#pending.length);
    const events: SpeechEvent[] = [];
    let offset = 0;
    for (; offset + frame <= all.length; offset += frame) {
      const event = this.#frame(
        rmsDbfs(all.subarray(offset, offset + frame)) > SPEECH_THRESHOLD_DBFS,
      );
      if (event) events.push(event);
    }
    this.#pending = all.slice(offset);
    return events;
  }

  /** End of stream: a turn in progress ends now. */
  flush(): SpeechEvent[] {
    this.#pending = new Int16Array(0);
    const event: SpeechEvent | undefined = this.#speaking
      ? { type: 'end', speechMs: this.#lastVoicedSpanMs }
      : undefined;
    this.#reset();
    return event ? [event] : [];
  }

  #frame(voiced: boolean): SpeechEvent | undefined {
    if (!voiced && this.#voicedMs === 0) return undefined;
    this.#spanMs += VAD_FRAME_MS;
    if (voiced) {
      this.#voicedMs += VAD_FRAME_MS;
      this.#silenceMs = 0;
      this.#lastVoicedSpanMs = this.#spanMs;
      if (this.#speaking || this.#voicedMs < MIN_SPEECH_MS) return undefined;
      this.#speaking = true;
      return { type: 'start' };
    }
    this.#silenceMs += VAD_FRAME_MS;
    if (this.#silenceMs < this.endSilenceMs) return undefined;
    return this.flush()[0]; // a sub-minimum blip just resets
  }

  #reset(): void {
    this.#voicedMs = this.#spanMs = this.#lastVoicedSpanMs = this.#silenceMs = 0;
    this.#speaking = false;
  }
}

type ResolvedOptions = Required<Omit<FakeGeminiOptions, 'apiKey' | 'accessToken' | 'faults'>> & {
  apiKey?: string;
  accessToken?: string;
};

function resolveOptions(o: FakeGeminiOptions): ResolvedOptions {
  const chunkMs = o.chunkMs ?? DEFAULT_CHUNK_MS;
  const paceFactor = o.paceFactor ?? DEFAULT_PACE_FACTOR;
  if (!(chunkMs > 0) || !(paceFactor > 0))
    throw new RangeError('chunkMs and paceFactor must be > 0');
  return {
    respond: o.respond ?? ((turn) => ({ text: `You said: ${turn.text}.` })),
    transcribe: o.transcribe ?? (() => 'hello'),
    apiKey: o.apiKey,
    accessToken: o.accessToken,
    chunkMs,
    paceFactor,
    replyDelayMs: o.replyDelayMs ?? 0,
    binaryFrames: o.binaryFrames ?? false,
    videoChunkBytes: o.videoChunkBytes ?? DEFAULT_VIDEO_CHUNK_BYTES,
    avatarPcm: o.avatarPcm ?? false,
  };
}

/** What the session state at a resumption handle needs to restore. */
interface HandleState {
  /** The model had started a turn: 3.x then refuses client content on the resumed session. */
  modelSpoke: boolean;
}

/** What a session needs from its server. */
interface Host {
  readonly options: ResolvedOptions;
  readonly faults: FaultPlan;
  /** Resumption handles issued and still valid. */
  readonly handles: Map<string, HandleState>;
  log(kind: 'received' | 'sent', conn: number, msg: Json): void;
  error(err: unknown): void;
  notify(): void;
  /** Actions that act on the server rather than on one socket. */
  serverFault(action: FaultAction): void;
}

interface PromptUsage {
  audioMs?: number;
  text?: string;
}

/** One Gemini Live socket: setup validation, turn taking, replies, tool calls, interruption. */
class LiveSession {
  readonly conn: FakeConnection;
  #ws: WebSocket;
  #host: Host;
  #endpoint: Endpoint;
  #family: Family = 'native_audio_2_5';
  #takesVideo = true;
  /** The setup asked for Live Avatar output (VIDEO): replies are the clip's fMP4. */
  #avatar?: { sentInit: boolean; endSec: number; openedAt: number; slicer: Slicer };
  #epoch = 0; // bumped to cancel the reply in flight
  #active?: { prompt: PromptUsage; sentAudioMs: number };
  #modelTurnStarted = false;
  /** Declared initial history is still being sent (see #openHistory). */
  #historyOpen = false;
  /** Client content since the last turn it asked for (answered together at `turnComplete`). */
  #pendingContent: Json[] = [];
  /** A function result that waits for the reply in flight to end (NON_BLOCKING, WHEN_IDLE). */
  #deferredTurn?: { fields: Omit<FakeTurn, 'connection'>; prompt: PromptUsage };
  #pendingCall?: { id: string; name: string; turn: FakeTurn; nonBlocking: boolean };
  #detector = new SpeechDetector();
  /** A client-marked activity: its audio, and an energy detector over it for the voiced span. */
  #manualActivity?: { audioMs: number; voice: SpeechDetector };
  /** Live transcription: the speech (ms) the last interim transcript covered. */
  #interimAtMs = 0;
  #calls = 0;
  #handles = 0;
  #timers = new Map<NodeJS.Timeout, () => void>();
  /** Timers of scripted faults (delayed setupComplete, goAway deadline): cleared on close. */
  #faultTimers = new Set<NodeJS.Timeout>();
  /** Replies still to be answered with an empty turn (fault `empty_turn`). */
  #emptyReplies = 0;

  constructor(ws: WebSocket, host: Host, index: number, path: string, endpoint: Endpoint) {
    this.#ws = ws;
    this.#host = host;
    this.#endpoint = endpoint;
    this.conn = {
      index,
      path,
      authorization: endpoint.authorization,
      backend: endpoint.backend,
      apiVersion: endpoint.apiVersion,
      setup: undefined,
      model: '',
      turns: [],
      history: [],
      videoFrames: [],
      avatar: { fragments: 0, bytes: 0, slices: 0 },
      send: (msg) => this.#send(msg),
      close: (code, reason) => this.#fail(code, reason),
    };
    // The plugin closes with no status code; a stock ws echo would show the client 1005 (fatal in the plugin).
    const close = ws.close.bind(ws);
    ws.close = (code?: number, reason?: string | Buffer) => close(code ?? 1000, reason);
    ws.on('message', (data) => this.#guard(() => this.#onFrame(frameText(data))));
    ws.on('close', (code, reason) => this.#markClosed('client', code, reason.toString('utf8')));
    ws.on('error', (err) => host.error(err));
  }

  /** Hard stop (server shutdown, or a dropped connection): the client sees 1006. */
  terminate(reason = 'fake server closed'): void {
    this.#markClosed('server', 1006, reason);
    this.#ws.terminate();
  }

  /** A throwing respond()/transcribe() is a server bug: Google would answer 1011. */
  #guard(fn: () => void | Promise<void>): void {
    const fail = (err: unknown): void => {
      this.#host.error(err);
      this.#fail(1011, 'Internal error encountered.');
    };
    try {
      void Promise.resolve(fn()).catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  #onFrame(text: string): void {
    if (this.conn.closedBy) return;
    const msg = parseJson(text);
    if (msg === undefined) return this.#fail(1007, 'Invalid JSON payload received.');
    this.#host.log('received', this.conn.index, msg);
    if (this.conn.setup === undefined) return this.#onSetup(msg);
    const keys = Object.keys(msg);
    const [field] = keys;
    if (keys.length !== 1)
      return this.#fail(
        1007,
        `Invalid JSON payload received. Expected one message field, got ${keys.length}.`,
      );
    const kind = clientMessageKind(field!);
    if (kind === 'contextUpdate') return; // newer SDK message; accepted and only logged
    if (kind === undefined || kind === 'setup') {
      return this.#fail(
        1007,
        `Invalid JSON payload received. Unknown name "${field}": Cannot find field.`,
      );
    }
    const body = this.#parsed(kind, msg[field!] ?? {});
    if (body === undefined) return;
    if (kind === 'realtimeInput') return this.#onRealtimeInput(body);
    if (kind === 'clientContent') return this.#onClientContent(body);
    return this.#onToolResponse(body);
  }

  /** The body as Google's JSON parser reads it, or undefined after closing with its refusal. */
  #parsed(kind: WireKind, body: Json): Json | undefined {
    const { backend, apiVersion } = this.#endpoint;
    const check = checkClientMessage(kind, body, backend, apiVersion);
    if (check.ok) return check.value;
    this.#fail(1007, check.reason);
    return undefined;
  }

  #onSetup(msg: Json): void {
    const setup = msg.setup;
    if (Object.keys(msg).length !== 1 || setup === null || typeof setup !== 'object') {
      return this.#fail(1007, 'Invalid JSON payload received. The first message must be setup.');
    }
    this.conn.setup = setup;
    const { apiKey, accessToken } = this.#host.options;
    const gemini = this.#endpoint.backend === 'gemini';
    const expected = gemini ? apiKey : accessToken;
    if (expected !== undefined && this.#endpoint.credential !== expected) {
      return this.#fail(
        1008,
        gemini
          ? 'API key not valid. Please pass a valid API key.'
          : 'Request had invalid authentication credentials.',
      );
    }
    const parsed = this.#parsed('setup', setup);
    if (parsed === undefined) return;
    this.conn.setup = parsed;
    const id = modelId(parsed.model, this.#endpoint.backend);
    if (id === undefined) return this.#fail(1007, `Invalid model name: ${String(parsed.model)}`);
    this.conn.model = id;
    const known = SERVER_MODELS[id];
    if (!known || !known.backends.includes(this.#endpoint.backend)) {
      return this.#fail(
        1008,
        `models/${id} is not found for API version ${this.#endpoint.apiVersion}, or is not supported for bidiGenerateContent.`,
      );
    }
    this.#family = known.family;
    this.#takesVideo = known.video !== false;
    const check: SetupCheck = { setup: parsed, id, family: known.family, endpoint: this.#endpoint };
    for (const rule of SETUP_RULES) {
      const reason = rule(check);
      if (reason) return this.#fail(1007, reason);
    }
    if (!this.#resume(parsed.sessionResumption?.handle)) return;
    if (parsed.avatarConfig !== undefined) {
      const { videoChunkBytes } = this.#host.options;
      this.#avatar = {
        sentInit: false,
        endSec: 0,
        openedAt: performance.now(),
        slicer: new Slicer(videoChunkBytes),
      };
    }
    this.#openHistory();
    const delayMs = this.#fault('setup');
    if (this.conn.closedBy) return;
    if (delayMs > 0) return this.#later(delayMs, () => this.#send({ setupComplete: {} }));
    this.#send({ setupComplete: {} });
  }

  /** A handle restores the session state it was issued for; an unknown one is refused (1007). */
  #resume(handle: unknown): boolean {
    if (typeof handle !== 'string' || handle === '') return true;
    const state = this.#host.handles.get(handle);
    if (!state) {
      this.#fail(1007, HANDLE_EXPIRED);
      return false;
    }
    this.conn.resumedFrom = handle;
    this.#modelTurnStarted = state.modelSpoke;
    return true;
  }

  /**
   * Run the scripted faults due at this occurrence of `moment`. Returns the setup delay they ask
   * for (only `delay_setup` has one).
   */
  #fault(moment: FaultMoment, chunks = 0): number {
    let delayMs = 0;
    for (const action of this.#host.faults.take(moment, this.conn.index, chunks)) {
      if (this.conn.closedBy) break;
      if (action.type === 'delay_setup') delayMs += action.ms;
      else this.#applyFault(action);
    }
    return delayMs;
  }

  #applyFault(action: FaultAction): void {
    switch (action.type) {
      case 'close':
        if (action.code === 1006) return this.terminate(action.reason ?? 'connection dropped');
        return this.#fail(action.code, action.reason ?? CLOSE_REASONS[action.code] ?? '');
      case 'go_away':
        this.#send({ goAway: { timeLeft: durationJson(action.timeLeftMs) } });
        return this.#later(action.timeLeftMs, () =>
          this.#fail(action.closeCode ?? 1011, 'Deadline expired before operation could complete.'),
        );
      case 'empty_turn':
        this.#emptyReplies++;
        return;
      case 'malformed_frame': {
        const text = action.text ?? '{"serverContent": {"modelTurn": ';
        if (this.#ws.readyState !== this.#ws.OPEN) return;
        this.#ws.send(text, { binary: false });
        this.#host.log('sent', this.conn.index, { malformedFrame: text });
        return;
      }
      default:
        this.#host.serverFault(action);
    }
  }

  /** Run `fn` after `ms` unless the socket closed meanwhile. */
  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#faultTimers.delete(timer);
      if (!this.conn.closedBy) fn();
    }, ms);
    this.#faultTimers.add(timer);
  }

  #onRealtimeInput(input: Json): void {
    if (this.#historyOpen) {
      return this.#fail(
        1007,
        'Realtime input before the initial history was complete (client content with turn_complete).',
      );
    }
    if (input.video !== undefined) this.#onVideo(input.video);
    if (this.conn.closedBy) return;
    if (input.audio) this.#onAudio(input.audio);
    for (const chunk of Array.isArray(input.mediaChunks) ? input.mediaChunks : [])
      this.#onAudio(chunk);
    if ('activityStart' in input) this.#onActivityStart();
    if ('activityEnd' in input) this.#onActivityEnd();
    if (input.audioStreamEnd === true && !this.#manualDetection())
      this.#onSpeechEvents(this.#detector.flush());
    if (typeof input.text === 'string')
      this.#userTurn({ source: 'realtime_text', text: input.text }, { text: input.text });
  }

  /** A camera or screen frame: only image blobs, only for models that take video. */
  #onVideo(blob: Json): void {
    if (!this.#takesVideo)
      return this.#fail(1007, `Video input is not supported for models/${this.conn.model}.`);
    const mimeType = typeof blob?.mimeType === 'string' ? blob.mimeType : '';
    if (!mimeType.startsWith('image/'))
      return this.#fail(1007, `Unsupported mime type: ${mimeType}`);
    const image = Buffer.from(typeof blob.data === 'string' ? blob.data : '', 'base64');
    this.conn.videoFrames.push({
      conn: this.conn.index,
      at: performance.now(),
      mimeType,
      bytes: image.length,
      ...jpegSize(image),
    });
    this.#host.notify();
  }

  #manualDetection(): boolean {
    return this.conn.setup.realtimeInputConfig?.automaticActivityDetection?.disabled === true;
  }

  #onAudio(blob: Json): void {
    const rate = pcmRate(blob?.mimeType);
    if (rate === undefined) return; // images/video: nothing to hear
    const samples = decodePcm16(blob.data);
    if (!this.#manualDetection()) this.#onSpeechEvents(this.#detector.push(samples, rate));
    else if (this.#manualActivity) {
      this.#manualActivity.audioMs += (samples.length * 1000) / rate;
      this.#manualActivity.voice.push(samples, rate);
    }
    if (this.#family === 'transcribe') this.#interimTranscript();
  }

  /** Live transcription: the turn so far, while the user speaks. */
  #interimTranscript(): void {
    const speechMs = this.#manualActivity?.voice.speechMs ?? this.#detector.speechMs;
    if (speechMs === 0 || speechMs - this.#interimAtMs < INTERIM_TRANSCRIPT_EVERY_MS) return;
    this.#interimAtMs = speechMs;
    const turnIndex = this.conn.turns.length;
    const text = interimText(this.#host.options.transcribe({ turnIndex, speechMs }), speechMs);
    if (text) this.#send({ serverContent: { interimInputTranscription: { text } } });
  }

  #onSpeechEvents(events: SpeechEvent[]): void {
    for (const event of events) {
      if (event.type === 'start') this.#interrupt();
      else this.#spokenTurn(event.speechMs);
    }
  }

  // With automatic activity detection on, Google's VAD owns turn taking; explicit markers are only logged.
  #onActivityStart(): void {
    if (!this.#manualDetection()) return;
    this.#interrupt();
    // The activity's speech: from its first voiced frame to its last, however long the pauses.
    this.#manualActivity = { audioMs: 0, voice: new SpeechDetector(Infinity) };
  }

  #onActivityEnd(): void {
    const activity = this.#manualActivity;
    this.#manualActivity = undefined;
    // Only the activity counts toward the turn; with no speech in it, the whole activity does.
    if (activity && activity.audioMs > 0) {
      this.#spokenTurn(Math.round(activity.voice.speechMs || activity.audioMs));
    }
  }

  #spokenTurn(speechMs: number): void {
    const text = this.#host.options.transcribe({ turnIndex: this.conn.turns.length, speechMs });
    if (this.#family === 'transcribe') return this.#finalTranscript(text, speechMs);
    if (this.conn.setup.inputAudioTranscription)
      this.#send({ serverContent: { inputTranscription: { text } } });
    this.#userTurn({ source: 'audio', text, speechMs }, { audioMs: speechMs });
  }

  /**
   * Live transcription: the finished speech turn's transcript. (The docs name no message after it;
   * `turnComplete` closes the turn as on the Live models, inferred.)
   */
  #finalTranscript(text: string, speechMs: number): void {
    this.#interimAtMs = 0;
    this.conn.turns.push({ source: 'audio', text, speechMs, connection: this.conn });
    this.#send({ serverContent: { inputTranscription: { text } } });
    this.#send({ serverContent: { turnComplete: true } });
    this.#host.notify();
  }

  #onClientContent(content: Json): void {
    const turns: Json[] = Array.isArray(content.turns) ? content.turns : [];
    const initialHistory = this.#historyOpen;
    if (!initialHistory && !this.#takesClientContent()) return this.#fail(1007, INVALID_ARGUMENT);
    // 3.x requires explicit roles (user or model); nobody accepts an unknown role.
    const badRole = turns.some((t) =>
      t?.role === undefined ? LIVE_3.has(this.#family) : t.role !== 'user' && t.role !== 'model',
    );
    if (badRole) return this.#fail(1007, INVALID_ARGUMENT);
    this.conn.history.push(...turns);
    this.#pendingContent.push(...turns);
    if (content.turnComplete !== true) return;
    const prompt = this.#pendingContent.splice(0);
    if (initialHistory) {
      // `turn_complete` ends the declared initial history; "it will not trigger a model call".
      this.#historyOpen = false;
      return;
    }
    // The model answers everything sent since the last turn (3.8: `turnComplete` alone asks).
    const text = clientContentText(prompt);
    this.#userTurn({ source: 'client_content', text }, { text });
  }

  /** Client content outside declared initial history: 2.5 always, 3.8 on the Gemini API. */
  #takesClientContent(): boolean {
    if (this.#family === 'native_audio_2_5') return true;
    return LIVE_38.has(this.#family) && this.#endpoint.backend === 'gemini';
  }

  /**
   * Declared initial history (setup.historyConfig.initialHistoryInClientContent): the server
   * takes client content until one with `turnComplete: true`, and only then realtime input. A
   * resumed session whose model already spoke has no initial history left to take.
   */
  #openHistory(): void {
    this.#historyOpen =
      this.conn.setup.historyConfig?.initialHistoryInClientContent === true &&
      !this.#modelTurnStarted;
  }

  #onToolResponse(toolResponse: Json): void {
    const responses: Json[] = Array.isArray(toolResponse.functionResponses)
      ? toolResponse.functionResponses
      : [];
    const refusal = this.#toolResponseRefusal(responses);
    if (refusal) return this.#fail(1007, refusal);
    for (const r of responses) {
      const call = this.#pendingCall;
      const matches = call && (r?.id === call.id || (r?.id === undefined && r?.name === call.name));
      // Unknown ids are ignored; NON_BLOCKING interim acks (willContinue) keep the call open.
      if (!call || !matches || r.willContinue === true) continue;
      this.#pendingCall = undefined;
      const fr = { id: call.id, name: call.name, response: r.response };
      const fields = { source: 'tool_response', text: call.turn.text, toolResponse: fr } as const;
      const prompt = { text: JSON.stringify(r.response ?? {}) };
      // A non-blocking result is spoken when the model is idle (WHEN_IDLE, the default).
      if (this.#active && call.nonBlocking && r.scheduling !== 'INTERRUPT') {
        this.#deferredTurn = { fields, prompt };
      } else {
        this.#userTurn(fields, prompt);
      }
    }
  }

  /** Function responses the model's rules refuse: scheduling, ids, willContinue per backend. */
  #toolResponseRefusal(responses: Json[]): string | undefined {
    const model = `models/${this.conn.model}`;
    const vertex = this.#endpoint.backend === 'vertex';
    const noScheduling =
      this.#family === 'live_3_1' ||
      this.#family === 'live_3_8_thinking' ||
      (vertex && this.#family === 'native_audio_2_5');
    if (noScheduling && responses.some((r) => r?.scheduling !== undefined)) {
      return `Function response scheduling is not supported for ${model}.`;
    }
    if (vertex && responses.some((r) => r?.willContinue !== undefined)) {
      return `willContinue is not supported for ${model} on Vertex AI.`;
    }
    if (
      vertex &&
      this.#family === 'native_audio_2_5' &&
      responses.some((r) => r?.id !== undefined)
    ) {
      return `Invalid JSON payload received. Unknown name "id" at 'tool_response.function_responses[0]': Cannot find field.`;
    }
    if (vertex && LIVE_38.has(this.#family) && responses.some((r) => !r?.id)) {
      return `A function response must carry the id of its call for ${model}.`;
    }
    return undefined;
  }

  #userTurn(fields: Omit<FakeTurn, 'connection'>, prompt: PromptUsage): void {
    const call = this.#pendingCall;
    if (
      call &&
      !call.nonBlocking &&
      fields.source !== 'tool_response' &&
      LIVE_38.has(this.#family)
    ) {
      // 3.8 cancels a BLOCKING call when new input arrives.
      this.#pendingCall = undefined;
      this.#send({ toolCallCancellation: { ids: [call.id] } });
    }
    const turn: FakeTurn = { ...fields, connection: this.conn };
    this.conn.turns.push(turn);
    this.#host.notify();
    this.#fault('user_turn');
    if (this.conn.closedBy) return;
    this.#guard(() => this.#reply(turn, prompt));
  }

  async #reply(turn: FakeTurn, prompt: PromptUsage): Promise<void> {
    this.#interrupt(); // a new user turn preempts any reply in flight
    const epoch = ++this.#epoch;
    this.#modelTurnStarted = true;
    this.#active = { prompt, sentAudioMs: 0 };
    if (this.#emptyReplies > 0) {
      this.#emptyReplies--;
      await this.#streamReply(epoch, { audioMs: 0 });
      return;
    }
    const reply = await this.#host.options.respond(turn);
    if (epoch !== this.#epoch || this.conn.closedBy) return;
    if (reply.toolCall) {
      if (this.#family === 'live_3_8_thinking') {
        // It says what it is doing, then runs the function in the background.
        const filler = { text: THINKING_FILLER, audioMs: defaultReplyAudioMs(THINKING_FILLER) };
        if (!(await this.#streamReply(epoch, filler, 'IN_PROGRESS'))) return;
      }
      return this.#sendToolCall(turn, reply.toolCall);
    }
    if (reply.filler && this.#family === 'live_3_8_thinking') {
      const filler = { text: reply.filler, audioMs: defaultReplyAudioMs(reply.filler) };
      if (!(await this.#streamReply(epoch, filler, 'IN_PROGRESS'))) return;
      this.#active = { prompt: {}, sentAudioMs: 0 };
    }
    await this.#streamReply(epoch, reply);
  }

  #sendToolCall(turn: FakeTurn, call: NonNullable<FakeReply['toolCall']>): void {
    const id = `call-${++this.#calls}`;
    this.#pendingCall = { id, name: call.name, turn, nonBlocking: this.#nonBlocking(call.name) };
    this.#active = undefined; // the model now waits for the client, nothing to interrupt
    this.#send({
      toolCall: { functionCalls: [{ id, name: call.name, args: call.args }] },
      // Extended thinking: the interaction goes on in the background (Google's guide shows the
      // status beside the tool call).
      ...(this.#family === 'live_3_8_thinking' ? { interactionStatus: 'IN_PROGRESS' } : {}),
    });
    this.#fault('tool_call');
  }

  /** How the model runs `name`: its declared behavior, else the model's default. */
  #nonBlocking(name: string): boolean {
    const declared = declarationsOf(this.conn.setup).find((d) => d?.name === name)?.behavior;
    if (declared !== undefined) return declared === 'NON_BLOCKING';
    return LIVE_38.has(this.#family);
  }

  /** Stream a reply and complete its turn; false when it was cut (interrupted, closed). */
  async #streamReply(
    epoch: number,
    reply: FakeReply,
    status: 'IN_PROGRESS' | 'IDLE' = 'IDLE',
  ): Promise<boolean> {
    if (this.#avatar) return this.#streamAvatarReply(epoch, reply, status);
    const { chunkMs, paceFactor, replyDelayMs } = this.#host.options;
    const audioMs = Math.max(0, reply.audioMs ?? defaultReplyAudioMs(reply.text ?? ''));
    const chunks = Math.ceil(audioMs / chunkMs);
    const pieces = this.conn.setup.outputAudioTranscription
      ? splitTranscript(reply.text ?? '')
      : [];
    let piece = 0;
    let sample = 0;
    for (let i = 0; i < chunks; i++) {
      if (!(await this.#pause(epoch, i === 0 ? replyDelayMs : chunkMs / paceFactor))) return false;
      const count = Math.round(
        (Math.min(chunkMs, audioMs - i * chunkMs) * OUTPUT_SAMPLE_RATE) / 1000,
      );
      const data = encodePcm16(replyPcm16(sample, count));
      sample += count;
      this.#send({
        serverContent: {
          modelTurn: { parts: [{ inlineData: { mimeType: OUTPUT_AUDIO_MIME, data } }] },
        },
      });
      if (this.#active) this.#active.sentAudioMs = (sample * 1000) / OUTPUT_SAMPLE_RATE;
      // Transcript pieces trail the audio they describe, spread over the reply.
      for (; piece < pieces.length && Math.floor((piece * chunks) / pieces.length) <= i; piece++)
        this.#sendTranscript(pieces[piece]);
      this.#fault('reply', i + 1);
      if (epoch !== this.#epoch || this.conn.closedBy) return false;
    }
    if (chunks === 0 && !(await this.#pause(epoch, replyDelayMs))) return false;
    for (; piece < pieces.length; piece++) this.#sendTranscript(pieces[piece]);
    this.#send({ serverContent: { generationComplete: true } });
    this.#completeTurn(false, status);
    return true;
  }

  /**
   * A Live Avatar reply: the clip's fragments (the speech is muxed in them), from its first,
   * on this connection's timeline, in slices that ignore box boundaries; transcripts spread
   * over it as for audio.
   */
  async #streamAvatarReply(
    epoch: number,
    reply: FakeReply,
    status: 'IN_PROGRESS' | 'IDLE',
  ): Promise<boolean> {
    const { paceFactor, replyDelayMs, avatarPcm } = this.#host.options;
    const avatar = this.#avatar!;
    const clip = avatarClip();
    const audioMs = Math.max(0, reply.audioMs ?? defaultReplyAudioMs(reply.text ?? ''));
    const count = audioMs > 0 ? clip.fragmentsFor(audioMs) : 0;
    const pieces = this.conn.setup.outputAudioTranscription
      ? splitTranscript(reply.text ?? '')
      : [];
    // A live encoder's clock: the reply starts now on the stream, never before the last one ended.
    const frame = 1 / clip.info.fps;
    const nowSec = Math.ceil((performance.now() - avatar.openedAt) / 1000 / frame) * frame;
    const startSec = Math.max(avatar.endSec, nowSec);
    let piece = 0;
    let sentSec = 0;
    avatar.slicer.clear();
    for (let i = 0; i < count; i++) {
      if (!(await this.#pause(epoch, i === 0 ? replyDelayMs : 0))) return false;
      const { bytes, durationSec } = clip.fragment(i, startSec);
      const out = avatar.sentInit ? bytes : Buffer.concat([clip.init, bytes]);
      avatar.sentInit = true;
      this.conn.avatar.fragments++;
      const slices = avatar.slicer.push(out);
      if (i === count - 1) slices.push(...avatar.slicer.flush());
      for (const slice of slices) this.#sendAvatarSlice(slice);
      if (avatarPcm) this.#sendPcm(Math.round(durationSec * OUTPUT_SAMPLE_RATE), sentSec);
      sentSec += durationSec;
      // The stream's timeline never runs backwards, even after a cut reply.
      avatar.endSec = startSec + sentSec;
      if (this.#active) this.#active.sentAudioMs = sentSec * 1000;
      for (; piece < pieces.length && Math.floor((piece * count) / pieces.length) <= i; piece++)
        this.#sendTranscript(pieces[piece]);
      this.#fault('reply', i + 1);
      if (epoch !== this.#epoch || this.conn.closedBy) return false;
      if (!(await this.#pause(epoch, (durationSec * 1000) / paceFactor))) return false;
    }
    if (count === 0 && !(await this.#pause(epoch, replyDelayMs))) return false;
    for (; piece < pieces.length; piece++) this.#sendTranscript(pieces[piece]);
    this.#send({ serverContent: { generationComplete: true } });
    this.#completeTurn(false, status);
    return true;
  }

  #sendAvatarSlice(slice: Buffer): void {
    this.conn.avatar.slices++;
    this.conn.avatar.bytes += slice.length;
    const data = slice.toString('base64');
    this.#send({
      serverContent: { modelTurn: { parts: [{ inlineData: { mimeType: AVATAR_MIME, data } }] } },
    });
  }

  /** The same speech as PCM (Google reportedly sends some beside the MP4): never to be played twice. */
  #sendPcm(count: number, atSec: number): void {
    const data = encodePcm16(replyPcm16(Math.round(atSec * OUTPUT_SAMPLE_RATE), count));
    this.#send({
      serverContent: {
        modelTurn: { parts: [{ inlineData: { mimeType: OUTPUT_AUDIO_MIME, data } }] },
      },
    });
  }

  #sendTranscript(text: string | undefined): void {
    this.#send({ serverContent: { outputTranscription: { text } } });
  }

  #completeTurn(interrupted = false, status: 'IN_PROGRESS' | 'IDLE' = 'IDLE'): void {
    const active = this.#active;
    this.#active = undefined;
    this.#send({
      // 3.8 reports the interaction's status with every turnComplete.
      serverContent: {
        turnComplete: true,
        ...(LIVE_38.has(this.#family) ? { interactionStatus: status } : {}),
      },
      usageMetadata: this.#wireUsage(
        usageMetadata(active?.prompt ?? {}, active?.sentAudioMs ?? 0, this.#avatar !== undefined),
      ),
    });
    // Separate, later frame: the plugin drops anything that arrives with setupComplete.
    if (this.conn.setup.sessionResumption) {
      const newHandle = `handle-${this.conn.index}-${++this.#handles}`;
      this.#host.handles.set(newHandle, { modelSpoke: this.#modelTurnStarted });
      this.#send({ sessionResumptionUpdate: { newHandle, resumable: true } });
    }
    if (!interrupted) this.#fault('turn_complete');
    const deferred = this.#deferredTurn;
    this.#deferredTurn = undefined;
    if (deferred && !this.conn.closedBy) this.#userTurn(deferred.fields, deferred.prompt);
  }

  /** Vertex AI names the response's tokens `candidates*` on the wire (the SDK maps them back). */
  #wireUsage(usage: Json): Json {
    if (this.#endpoint.backend !== 'vertex') return usage;
    const { responseTokenCount, responseTokensDetails, ...rest } = usage;
    return {
      ...rest,
      candidatesTokenCount: responseTokenCount,
      candidatesTokensDetails: responseTokensDetails,
    };
  }

  /** Barge-in: stop the reply in flight, tell the client, and close the turn with what was sent. */
  #interrupt(): void {
    if (!this.#active) return;
    this.#epoch++;
    this.#send({ serverContent: { interrupted: true } });
    this.#completeTurn(true);
  }

  /** Wait for pacing; false when the reply was cancelled meanwhile. Zero/invalid delay = burst, no yield. */
  async #pause(epoch: number, ms: number): Promise<boolean> {
    if (ms > 0 && Number.isFinite(ms)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          resolve();
        }, ms);
        this.#timers.set(timer, resolve);
      });
    }
    return epoch === this.#epoch && !this.conn.closedBy;
  }

  #send(msg: Json): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(JSON.stringify(msg), { binary: this.#host.options.binaryFrames });
    this.#host.log('sent', this.conn.index, msg);
  }

  #fail(code: number, reason: string): void {
    if (this.conn.closedBy) return;
    this.#markClosed('server', code, reason);
    this.#ws.close(code, closeReason(reason));
  }

  #markClosed(by: 'client' | 'server', code: number, reason: string): void {
    if (!this.conn.closedBy)
      Object.assign(this.conn, {
        closedBy: by,
        closeCode: code,
        closeReason: reason,
        closedAt: performance.now(),
      });
    this.#epoch++;
    this.#active = undefined;
    for (const [timer, resolve] of this.#timers) {
      clearTimeout(timer);
      resolve();
    }
    this.#timers.clear();
    for (const timer of this.#faultTimers) clearTimeout(timer);
    this.#faultTimers.clear();
    this.#host.notify();
  }
}

const TOKEN_PATH = '/v1/token';

/**
 * The STS token exchange (RFC 8693) that Google's external-account credentials call; without an
 * `accessToken` to issue it refuses the subject token, as for an expired one.
 */
function serveToken(
  req: IncomingMessage,
  res: ServerResponse,
  accessToken: string | undefined,
  subjectTokens: string[],
): void {
  if (req.method !== 'POST' || req.url !== TOKEN_PATH) {
    res.writeHead(404).end();
    return;
  }
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
  req.on('end', () => {
    const form = new URLSearchParams(body);
    subjectTokens.push(form.get('subject_token') ?? '');
    const ok =
      form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:token-exchange' &&
      !!form.get('subject_token');
    res.writeHead(ok && accessToken !== undefined ? 200 : 400, {
      'content-type': 'application/json',
    });
    res.end(
      JSON.stringify(
        !ok
          ? { error: 'invalid_request' }
          : accessToken === undefined
            ? { error: 'invalid_grant', error_description: 'The subject token is not valid.' }
            : {
                access_token: accessToken,
                issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
                token_type: 'Bearer',
                expires_in: 3600,
              },
      ),
    );
  });
}

interface Waiter {
  check(): void;
  fail(err: Error): void;
}

export class FakeGeminiServer {
  /** 'http://127.0.0.1:PORT' */
  readonly baseUrl: string;
  readonly #connections: FakeConnection[] = [];
  readonly #received: LogEntry[] = [];
  readonly #sent: LogEntry[] = [];
  readonly #errors: unknown[] = [];
  readonly #sessions = new Set<LiveSession>();
  readonly #waiters = new Set<Waiter>();
  readonly #http: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #host: Host;
  readonly #faults: FaultPlan;
  readonly #refusals: number[] = [];
  readonly #subjectTokens: string[];
  #refuse = { left: 0, mode: 'http_503' as 'http_503' | 'reset' };
  #closing?: Promise<void>;

  static async start(options: FakeGeminiOptions = {}): Promise<FakeGeminiServer> {
    const resolved = resolveOptions(options);
    const faults = new FaultPlan(options.faults);
    const subjectTokens: string[] = [];
    const http = createServer((req, res) =>
      serveToken(req, res, resolved.accessToken, subjectTokens),
    );
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(0, '127.0.0.1', () => resolve());
    });
    return new FakeGeminiServer(http, resolved, faults, subjectTokens);
  }

  private constructor(
    http: Server,
    options: ResolvedOptions,
    faults: FaultPlan,
    subjectTokens: string[],
  ) {
    this.#http = http;
    this.#subjectTokens = subjectTokens;
    this.#faults = faults;
    this.baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    this.#host = {
      options,
      faults,
      handles: new Map(),
      serverFault: (action) => this.#serverFault(action),
      log: (kind, conn, msg) => {
        (kind === 'received' ? this.#received : this.#sent).push({
          conn,
          at: performance.now(),
          msg,
        });
        this.#notify();
      },
      error: (err) => this.#errors.push(err),
      notify: () => this.#notify(),
    };
    http.on('upgrade', (req, socket, head) => {
      const path = req.url ?? '';
      const endpoint = parseEndpoint(path);
      const { authorization } = req.headers;
      const bearer = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
      if (endpoint?.backend === 'vertex' && bearer) endpoint.credential = bearer;
      if (endpoint) endpoint.authorization = authorization;
      if (!endpoint || this.#closing) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      for (const action of this.#faults.take('connect', -1)) this.#serverFault(action);
      if (this.#refuse.left > 0) {
        this.#refuse.left--;
        this.#refusals.push(performance.now());
        if (this.#refuse.mode === 'reset') socket.destroy();
        else
          socket.end(
            `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
          );
        this.#notify();
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, path, endpoint));
    });
  }

  /** Vertex AI credentials' `token_url`: an STS token exchange that issues `accessToken`. */
  get tokenUrl(): string {
    return `${this.baseUrl}${TOKEN_PATH}`;
  }

  /** The subject token of every exchange `tokenUrl` was asked for, in order. */
  get subjectTokens(): readonly string[] {
    return this.#subjectTokens;
  }

  /** Add a scripted fault; it counts occurrences of its moment from now on. */
  inject(spec: FaultSpec): void {
    this.#faults.add(spec);
  }

  /** Scripted faults that fired, in order. */
  get faults(): readonly FiredFault[] {
    return this.#faults.fired;
  }

  /** When each refused connection attempt arrived (performance.now() ms). */
  get refusals(): readonly number[] {
    return this.#refusals;
  }

  /** Faults on the server as a whole: refusing connections, expiring handles. */
  #serverFault(action: FaultAction): void {
    if (action.type === 'refuse') {
      this.#refuse = { left: this.#refuse.left + action.attempts, mode: action.mode ?? 'http_503' };
    } else if (action.type === 'expire_handles') {
      this.#host.handles.clear();
    }
    // Socket faults scripted at `connect` have no socket yet: nothing to do.
  }

  /** Connections in accept order; index = position. */
  get connections(): readonly FakeConnection[] {
    return this.#connections;
  }

  /** Every parsed client message across connections, in arrival order (`at` = performance.now() ms). */
  get received(): readonly LogEntry[] {
    return this.#received;
  }

  /** Every realtime video frame accepted, across connections, in arrival order. */
  get videoFrames(): FakeVideoFrame[] {
    return this.#connections.flatMap((c) => c.videoFrames).sort((a, b) => a.at - b.at);
  }

  /** Every server message sent, in order (same shape as `received`). */
  get sent(): readonly LogEntry[] {
    return this.#sent;
  }

  /** Errors thrown by respond()/transcribe() or socket errors (respond errors also close the socket with 1011). */
  get errors(): readonly unknown[] {
    return this.#errors;
  }

  /**
   * Resolve when predicate(this) is true; reject with a description of the traffic after timeoutMs.
   * Checked on every fake event and every 10 ms, so predicates may also read client-side state.
   */
  waitFor(
    predicate: (fake: FakeGeminiServer) => boolean,
    timeoutMs = 5000,
    what = 'condition',
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        check: () => {
          try {
            if (!predicate(this)) return;
            done();
            resolve();
          } catch (err) {
            done();
            reject(err);
          }
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      const message = (): string => `waitFor(${what}) timed out after ${timeoutMs} ms; `;
      const timer = setTimeout(
        () => waiter.fail(new Error(message() + this.describe())),
        timeoutMs,
      );
      const poll = setInterval(() => waiter.check(), 10);
      this.#waiters.add(waiter);
      waiter.check();
    });
  }

  /** Short traffic summary for failure messages. */
  describe(): string {
    const kinds = (log: LogEntry[]): string =>
      log
        .slice(-8)
        .map((e) => `#${e.conn}:${messageKind(e.msg)}`)
        .join(', ') || 'none';
    const closes = this.#connections
      .filter((c) => c.closedBy)
      .map((c) => `#${c.index} ${c.closedBy} ${c.closeCode} "${c.closeReason}"`);
    return `${this.#connections.length} connection(s); last received: [${kinds(this.#received)}]; last sent: [${kinds(this.#sent)}]; closed: [${closes.join('; ')}]`;
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    for (const session of this.#sessions) session.terminate();
    for (const waiter of this.#waiters) waiter.fail(new Error('FakeGeminiServer closed'));
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #accept(ws: WebSocket, path: string, endpoint: Endpoint): void {
    const session = new LiveSession(ws, this.#host, this.#connections.length, path, endpoint);
    this.#sessions.add(session);
    ws.once('close', () => this.#sessions.delete(session));
    this.#connections.push(session.conn);
    this.#notify();
  }

  #notify(): void {
    for (const waiter of this.#waiters) waiter.check();
  }
}

/** 'realtimeInput.audio', 'serverContent.modelTurn', 'setupComplete', ...: for summaries and filters. */
export function messageKind(msg: Json): string {
  const [top] = Object.keys(msg ?? {});
  if (top === undefined) return '?';
  const inner = msg[top];
  const [sub] =
    inner && typeof inner === 'object' && !Array.isArray(inner) ? Object.keys(inner) : [];
  return sub === undefined || top === 'setup' ? top : `${top}.${sub}`;
}
