/**
 * A tiny Gemini Live stand-in for the worker's prewarm (src/prewarm.ts): one loopback WebSocket
 * server (`ws`, the library the SDK's own client uses) that answers a `setup` with `setupComplete`
 * and a text turn (the greeting) with one short audio chunk and `turnComplete`. Nothing else: no
 * resumption, no tools, no faults (the test suite's fake Gemini server is the full one). It exists
 * so the first call of a job process does not pay for first-use work (JIT, lazy loads of the
 * SDK's socket and fetch stacks) on the caller's time; the prewarm's session talks to it through
 * the real SDK, plugin and socket.
 *
 * It listens on 127.0.0.1 only, on a port the OS picks, and `close()` ends every socket it
 * accepted.
 */
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';

const OUTPUT_RATE = 24_000;

export interface PrewarmStubOptions {
  /** Milliseconds of (silent) reply audio per text turn. Default 20. */
  replyMs?: number;
}

/** What the stub saw, for tests. */
export interface PrewarmStubStats {
  connections: number;
  setups: number;
  turns: number;
  /** Request paths of the upgrades it accepted. */
  paths: string[];
}

export class PrewarmGeminiStub {
  readonly stats: PrewarmStubStats = { connections: 0, setups: 0, turns: 0, paths: [] };
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #replyMs: number;
  #closed = false;

  private constructor(server: Server, replyMs: number) {
    this.#server = server;
    this.#replyMs = replyMs;
    server.on('upgrade', (req, socket, head) => {
      if (this.#closed) {
        socket.destroy();
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
    });
    // Plain HTTP is not part of the protocol.
    server.on('request', (_req, res) => res.writeHead(404).end());
  }

  /** Listen on 127.0.0.1 (an OS-picked port). */
  static async start(options: PrewarmStubOptions = {}): Promise<PrewarmGeminiStub> {
    const stub = new PrewarmGeminiStub(createServer(), options.replyMs ?? 20);
    await new Promise<void>((resolve, reject) => {
      stub.#server.once('error', reject);
      stub.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return stub;
  }

  /** For GOOGLE_GEMINI_BASE_URL. */
  get baseUrl(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /**
   * Stop listening and end every connection: a client that is closing its socket gets up to
   * `graceMs` to finish the close handshake, the rest are cut. Resolves once all are released.
   */
  async close(graceMs = 500): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const open = [...this.#wss.clients];
    if (open.length) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(open.map((ws) => new Promise((resolve) => ws.once('close', resolve)))),
        new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Handles are released in the loop's close phase, after this turn's immediates.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    this.stats.connections++;
    this.stats.paths.push(req.url ?? '');
    ws.on('error', () => ws.terminate());
    ws.on('message', (data) => this.#onMessage(ws, data));
  }

  #onMessage(ws: WebSocket, data: RawData): void {
    let msg: Record<string, Record<string, unknown> | undefined> | null;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      msg = null;
    }
    if (!msg || typeof msg !== 'object') {
      ws.close(1007);
      return;
    }
    const send = (reply: unknown) => ws.send(JSON.stringify(reply));
    if (msg.setup) {
      this.stats.setups++;
      send({ setupComplete: {} });
      return;
    }
    const textTurn =
      typeof msg.realtimeInput?.text === 'string' || msg.clientContent?.turnComplete === true;
    if (!textTurn) return; // microphone audio, tool responses: nothing to answer
    this.stats.turns++;
    const samples = Math.round((this.#replyMs * OUTPUT_RATE) / 1000);
    const audio = Buffer.alloc(samples * 2).toString('base64');
    const mimeType = `audio/pcm;rate=${OUTPUT_RATE}`;
    send({ serverContent: { modelTurn: { parts: [{ inlineData: { mimeType, data: audio } }] } } });
    send({ serverContent: { generationComplete: true } });
    send({ serverContent: { turnComplete: true } });
  }
}
