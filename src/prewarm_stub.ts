/**
 * A tiny Gemini Live stand-in for the worker's prewarm (src/prewarm.ts): one loopback WebSocket
 * server that answers a `setup` with `setupComplete` and a text turn (the greeting) with one short
 * audio chunk and `turnComplete`. Nothing else: no resumption, no tools, no faults (the test
 * suite's fake Gemini server is the full one). It exists so the first call of a job process does
 * not pay for first-use work (JIT, lazy loads of the SDK's socket and fetch stacks) on the
 * caller's time; the prewarm's session talks to it through the real SDK, plugin and socket.
 *
 * It listens on 127.0.0.1 only, on a port the OS picks, and `close()` ends every socket it
 * accepted. The WebSocket handling is the least RFC 6455 the SDK's client needs: the upgrade,
 * unfragmented masked client frames (text, binary, close, ping), unmasked text frames back.
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
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
  readonly #sockets = new Set<Duplex>();
  readonly #replyMs: number;
  #closed = false;

  private constructor(server: Server, replyMs: number) {
    this.#server = server;
    this.#replyMs = replyMs;
    server.on('upgrade', (req, socket) => this.#upgrade(req, socket));
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
    const open = [...this.#sockets];
    if (open.length) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(open.map((socket) => new Promise((resolve) => socket.once('close', resolve)))),
        new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // Handles are released in the loop's close phase, after this turn's immediates.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  }

  #upgrade(req: IncomingMessage, socket: Duplex): void {
    const key = req.headers['sec-websocket-key'];
    if (this.#closed || typeof key !== 'string') {
      socket.destroy();
      return;
    }
    this.stats.connections++;
    this.stats.paths.push(req.url ?? '');
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const accept = createHash('sha1')
      .update(key + WS_GUID)
      .digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        const frame = readFrame(pending);
        if (!frame) break;
        pending = pending.subarray(frame.length);
        this.#onFrame(socket, frame.opcode, frame.payload);
      }
    });
  }

  #onFrame(socket: Duplex, opcode: number, payload: Buffer): void {
    if (opcode === 0x8) {
      // Close: echo the client's code and end the connection.
      socket.end(encodeFrame(0x8, payload.subarray(0, 2)));
      return;
    }
    if (opcode === 0x9) {
      socket.write(encodeFrame(0xa, payload));
      return;
    }
    if (opcode !== 0x1 && opcode !== 0x2) return;
    let msg: Record<string, Record<string, unknown> | undefined>;
    try {
      msg = JSON.parse(payload.toString('utf8'));
    } catch {
      socket.end(encodeFrame(0x8, closePayload(1007)));
      return;
    }
    const send = (reply: unknown) => socket.write(encodeFrame(0x1, JSON.stringify(reply)));
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
    const data = Buffer.alloc(samples * 2).toString('base64');
    const mimeType = `audio/pcm;rate=${OUTPUT_RATE}`;
    send({ serverContent: { modelTurn: { parts: [{ inlineData: { mimeType, data } }] } } });
    send({ serverContent: { generationComplete: true } });
    send({ serverContent: { turnComplete: true } });
  }
}

interface Frame {
  opcode: number;
  payload: Buffer;
  /** Bytes the frame took in the buffer. */
  length: number;
}

/** One complete client frame at the start of `buf`, or undefined while it is incomplete. */
function readFrame(buf: Buffer): Frame | undefined {
  if (buf.length < 2) return undefined;
  const opcode = buf[0]! & 0x0f;
  const masked = (buf[1]! & 0x80) !== 0;
  let size = buf[1]! & 0x7f;
  let offset = 2;
  if (size === 126) {
    if (buf.length < 4) return undefined;
    size = buf.readUInt16BE(2);
    offset = 4;
  } else if (size === 127) {
    if (buf.length < 10) return undefined;
    size = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  const maskAt = offset;
  if (masked) offset += 4;
  if (buf.length < offset + size) return undefined;
  const payload = Buffer.from(buf.subarray(offset, offset + size));
  if (masked) for (let i = 0; i < size; i++) payload[i]! ^= buf[maskAt + (i % 4)]!;
  return { opcode, payload, length: offset + size };
}

/** An unmasked, unfragmented server frame. */
function encodeFrame(opcode: number, data: string | Buffer): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const size = payload.length;
  const head = size < 126 ? Buffer.alloc(2) : size < 0x10000 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (size < 126) head[1] = size;
  else if (size < 0x10000) {
    head[1] = 126;
    head.writeUInt16BE(size, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(size), 2);
  }
  return Buffer.concat([head, payload]);
}

function closePayload(code: number): Buffer {
  const buf = Buffer.alloc(2);
  buf.writeUInt16BE(code);
  return buf;
}
