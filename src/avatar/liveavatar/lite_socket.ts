/**
 * The LITE mode WebSocket (`ws_url` from `/v1/sessions/start`): opened, then ready once
 * LiveAvatar says `session.state_updated: connected` (it drops anything sent before). Keeps the
 * session alive with `session.keep_alive` when nothing else was sent for a while (LiveAvatar's
 * idle timeout is 5 minutes).
 */
import { randomUUID } from 'node:crypto';
import { log } from '@livekit/agents';
import WebSocket from 'ws';
import { type LiteCommand, type LiteEvent, readLiteEvent } from './events.ts';

export interface LiteSocketOptions {
  /** Give up when the socket is not connected (open + `connected`) this soon. Default 15000 ms. */
  connectTimeoutMs?: number;
  /** Send `session.keep_alive` after this long without sending. Default 60000 ms. */
  keepAliveMs?: number;
  /** Every event, in order. */
  onEvent: (event: LiteEvent) => void;
  /** The socket closed without close() being called: the code and reason. */
  onLost: (why: string) => void;
}

export class LiteSocket {
  readonly #ws: WebSocket;
  readonly #options: LiteSocketOptions;
  readonly #logger = log();
  #keepAlive?: NodeJS.Timeout;
  #closing = false;

  private constructor(ws: WebSocket, options: LiteSocketOptions) {
    this.#ws = ws;
    this.#options = options;
  }

  /** Open `url` and wait for LiveAvatar's `connected`; rejects with why it did not come. */
  static connect(url: string, options: LiteSocketOptions): Promise<LiteSocket> {
    const { connectTimeoutMs = 15_000 } = options;
    const ws = new WebSocket(url, { handshakeTimeout: connectTimeoutMs });
    const socket = new LiteSocket(ws, options);
    return new Promise<LiteSocket>((resolve, reject) => {
      let ready = false;
      const fail = (why: string) => {
        if (ready) return;
        ready = true;
        clearTimeout(timer);
        socket.close();
        reject(new Error(why));
      };
      const timer = setTimeout(
        () => fail(`LiveAvatar socket: not connected after ${connectTimeoutMs} ms`),
        connectTimeoutMs,
      );
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const event = readLiteEvent(data.toString());
        if (!event) return;
        if (!ready && event.kind === 'connected') {
          ready = true;
          clearTimeout(timer);
          socket.#armKeepAlive();
          resolve(socket);
          return;
        }
        if (!ready && event.kind === 'session_ended') {
          fail(`LiveAvatar socket: the session ${event.state} before it connected`);
          return;
        }
        if (ready) options.onEvent(event);
      });
      ws.on('error', (error) => {
        if (!ready) fail(`LiveAvatar socket: ${error.message}`);
        else socket.#logger.debug({ error: error.message }, 'LiveAvatar socket error');
      });
      ws.on('close', (code, reason) => {
        clearTimeout(socket.#keepAlive);
        const why = `LiveAvatar socket closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`;
        if (!ready) fail(why);
        else if (!socket.#closing) options.onLost(why);
      });
    });
  }

  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN && !this.#closing;
  }

  send(command: LiteCommand): void {
    if (!this.open) return;
    this.#ws.send(JSON.stringify(command));
    this.#armKeepAlive();
  }

  close(): void {
    this.#closing = true;
    clearTimeout(this.#keepAlive);
    if (this.#ws.readyState === WebSocket.CONNECTING) this.#ws.terminate();
    else this.#ws.close(1000);
  }

  #armKeepAlive(): void {
    clearTimeout(this.#keepAlive);
    this.#keepAlive = setTimeout(() => {
      this.send({ type: 'session.keep_alive', event_id: randomUUID() });
    }, this.#options.keepAliveMs ?? 60_000);
    this.#keepAlive.unref();
  }
}
