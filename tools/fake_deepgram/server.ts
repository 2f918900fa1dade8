/**
 * A local fake of Deepgram's streaming speech-to-text API (`wss://api.deepgram.com/v1/listen`),
 * for offline tests and the bench: point @livekit/agents-plugin-deepgram at it with
 * `baseUrl: fake.baseUrl` (env DEEPGRAM_BASE_URL).
 *
 * What it speaks, as Deepgram documents it (developers.deepgram.com, "Live audio" and "Endpointing
 * & interim results"): the key in `Authorization: Token <key>` (a wrong one is refused with 401
 * before the upgrade); the options as query parameters (`encoding=linear16`, `sample_rate`,
 * `channels`, `interim_results`, `endpointing`, `vad_events`, ...); binary frames of raw audio;
 * JSON control messages `KeepAlive`, `Finalize` (finalize what was heard now) and `CloseStream`
 * (answered with `Metadata` and a normal close). It answers with `SpeechStarted` (vad_events),
 * interim `Results` while the speaker talks, and a final one (`is_final` and `speech_final`) when a
 * segment ends in silence. It has no ASR: a segment's text comes from `transcribe`.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { SpeechDetector } from '../fake_gemini/server.ts';
import { type ScriptedTranscript, interimText } from '../fake_transcripts.ts';

/** Silence that ends a segment: the request's `endpointing`, but no less than this. */
export const MIN_ENDPOINT_SILENCE_MS = 300;
/** An interim result at most this often, in audio time. */
export const INTERIM_EVERY_MS = 250;

export interface FakeDeepgramOptions {
  /** The key it accepts; unset: any key. */
  apiKey?: string;
  /** The text of each spoken segment (default: "hello"). */
  transcribe?: ScriptedTranscript;
}

/** One `Results` message the fake sent. */
export interface FakeDeepgramResult {
  transcript: string;
  isFinal: boolean;
  speechFinal: boolean;
  fromFinalize: boolean;
  /** Audio time of the segment's end, in seconds since the stream began. */
  end: number;
}

export interface FakeDeepgramConnection {
  index: number;
  /** The request's query parameters. */
  query: URLSearchParams;
  /** Milliseconds of audio received. */
  audioMs: number;
  results: FakeDeepgramResult[];
  /** JSON control messages received (`KeepAlive`, `Finalize`, `CloseStream`). */
  controls: string[];
  closed: boolean;
}

interface Waiter {
  check(): void;
}

class ListenSession {
  readonly conn: FakeDeepgramConnection;
  readonly #ws: WebSocket;
  readonly #transcribe: ScriptedTranscript;
  readonly #rate: number;
  readonly #detector: SpeechDetector;
  readonly #requestId = randomUUID();
  readonly #notify: () => void;
  #segments = 0;
  /** Audio time (ms) where the current segment began, and of the last interim. */
  #segmentStartMs = 0;
  #lastInterimMs = 0;

  constructor(
    ws: WebSocket,
    conn: FakeDeepgramConnection,
    options: Required<Pick<FakeDeepgramOptions, 'transcribe'>>,
    notify: () => void,
  ) {
    this.#ws = ws;
    this.conn = conn;
    this.#transcribe = options.transcribe;
    this.#notify = notify;
    this.#rate = Number(conn.query.get('sample_rate') ?? 16_000);
    const endpointing = Number(conn.query.get('endpointing'));
    this.#detector = new SpeechDetector(
      Math.max(MIN_ENDPOINT_SILENCE_MS, Number.isFinite(endpointing) ? endpointing : 0),
    );
    ws.on('message', (data, binary) => (binary ? this.#onAudio(data) : this.#onControl(data)));
    ws.on('close', () => {
      conn.closed = true;
      notify();
    });
  }

  #onAudio(data: RawData): void {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    const samples = new Int16Array(bytes.length >> 1);
    for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(i * 2);
    const before = this.conn.audioMs;
    this.conn.audioMs += (samples.length * 1000) / this.#rate;
    for (const event of this.#detector.push(samples, this.#rate)) {
      if (event.type === 'start') this.#startSegment(before);
      else this.#finalize(false, event.speechMs);
    }
    this.#maybeInterim();
    this.#notify();
  }

  #onControl(data: RawData): void {
    let type = '';
    try {
      type = String((JSON.parse(data.toString()) as { type?: unknown }).type ?? '');
    } catch {
      return this.#ws.close(1008, 'invalid JSON control message');
    }
    this.conn.controls.push(type);
    this.#notify();
    if (type === 'Finalize') {
      if (this.#detector.speaking) this.#finalize(true, this.#detector.speechMs);
      this.#detector.flush();
    } else if (type === 'CloseStream') {
      this.#send({
        type: 'Metadata',
        request_id: this.#requestId,
        created: new Date().toISOString(),
        duration: this.conn.audioMs / 1000,
        channels: 1,
      });
      this.#ws.close(1000);
    }
  }

  #startSegment(receivedMsBefore: number): void {
    this.#segmentStartMs = receivedMsBefore;
    this.#lastInterimMs = 0;
    if (this.conn.query.get('vad_events') === 'true') {
      this.#send({ type: 'SpeechStarted', channel: [0, 1], timestamp: receivedMsBefore / 1000 });
    }
  }

  #maybeInterim(): void {
    if (!this.#detector.speaking || this.conn.query.get('interim_results') !== 'true') return;
    const speechMs = this.#detector.speechMs;
    if (speechMs - this.#lastInterimMs < INTERIM_EVERY_MS) return;
    this.#lastInterimMs = speechMs;
    const text = interimText(
      this.#transcribe({ segmentIndex: this.#segments, speechMs }),
      speechMs,
    );
    if (text)
      this.#results(text, speechMs, { isFinal: false, speechFinal: false, fromFinalize: false });
  }

  #finalize(fromFinalize: boolean, speechMs: number): void {
    const text = this.#transcribe({ segmentIndex: this.#segments++, speechMs });
    this.#results(text, speechMs, { isFinal: true, speechFinal: !fromFinalize, fromFinalize });
  }

  #results(
    transcript: string,
    speechMs: number,
    flags: { isFinal: boolean; speechFinal: boolean; fromFinalize: boolean },
  ): void {
    const start = this.#segmentStartMs / 1000;
    const duration = speechMs / 1000;
    const words = transcript.split(/\s+/).filter((w) => w.length > 0);
    const step = words.length > 0 ? duration / words.length : 0;
    this.conn.results.push({ transcript, ...flags, end: start + duration });
    this.#send({
      type: 'Results',
      channel_index: [0, 1],
      duration,
      start,
      is_final: flags.isFinal,
      speech_final: flags.speechFinal,
      from_finalize: flags.fromFinalize,
      channel: {
        alternatives: [
          {
            transcript,
            confidence: 0.98,
            words: words.map((word, i) => ({
              word: word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''),
              punctuated_word: word,
              start: start + i * step,
              end: start + (i + 1) * step,
              confidence: 0.98,
            })),
          },
        ],
      },
      metadata: {
        request_id: this.#requestId,
        model_info: { name: 'fake-nova-3', version: '0', arch: 'nova-3' },
        model_uuid: '00000000-0000-0000-0000-000000000000',
      },
    });
  }

  #send(message: unknown): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(JSON.stringify(message));
  }
}

export class FakeDeepgramServer {
  /** `ws://127.0.0.1:PORT`: the plugin's `baseUrl`. */
  readonly baseUrl: string;
  readonly connections: FakeDeepgramConnection[] = [];
  readonly #http: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #options: FakeDeepgramOptions & Required<Pick<FakeDeepgramOptions, 'transcribe'>>;
  readonly #waiters = new Set<Waiter>();

  static async start(options: FakeDeepgramOptions = {}): Promise<FakeDeepgramServer> {
    const http = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(0, '127.0.0.1', () => resolve());
    });
    return new FakeDeepgramServer(http, options);
  }

  private constructor(http: Server, options: FakeDeepgramOptions) {
    this.#http = http;
    this.#options = { transcribe: () => 'hello', ...options };
    this.baseUrl = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
    http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
  }

  /** Every `Results` message sent, across connections, in order. */
  get results(): FakeDeepgramResult[] {
    return this.connections.flatMap((c) => c.results);
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== '/v1/listen') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const token = /^Token (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || (this.#options.apiKey !== undefined && token !== this.#options.apiKey)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (url.searchParams.get('encoding') !== 'linear16') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: FakeDeepgramConnection = {
        index: this.connections.length,
        query: url.searchParams,
        audioMs: 0,
        results: [],
        controls: [],
        closed: false,
      };
      this.connections.push(conn);
      new ListenSession(ws, conn, this.#options, () => this.#notify());
      this.#notify();
    });
  }

  /** Resolve when `predicate` holds (checked on every event); reject after `timeoutMs`. */
  waitFor(
    predicate: (fake: FakeDeepgramServer) => boolean,
    timeoutMs = 5000,
    what = 'condition',
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        check: () => {
          if (!predicate(this)) return;
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`fake Deepgram: waitFor(${what}) timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(waiter);
      waiter.check();
    });
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #notify(): void {
    for (const waiter of this.#waiters) waiter.check();
  }
}
