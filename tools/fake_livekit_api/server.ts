/**
 * A local fake of LiveKit's server API for offline tests: the Twirp JSON endpoints that
 * livekit-server-sdk's RoomServiceClient and AgentDispatchClient call (rooms and agent
 * dispatches), checked the way LiveKit checks them: a Bearer JWT signed with the API secret and
 * the video grants each method needs. It records what was created and deleted, so a test can
 * assert that a refused request created nothing.
 *
 * It is not a media server. A client that tries to join (`/rtc` WebSocket, `/rtc/validate`) is
 * recorded with the token it presented and refused with 503, which is as far as a join can get
 * without a real LiveKit server.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type ClaimGrants, TokenVerifier, type VideoGrant } from 'livekit-server-sdk';

export interface FakeRoom {
  sid: string;
  name: string;
  metadata: string;
  emptyTimeout: number;
  departureTimeout: number;
  maxParticipants: number;
  /** Unix seconds, as LiveKit reports it. */
  creationTime: number;
}

export interface FakeDispatch {
  id: string;
  room: string;
  agentName: string;
  metadata: string;
}

/** One Twirp call as the fake received it (after authentication). */
export interface FakeCall {
  service: string;
  method: string;
  body: Record<string, unknown>;
}

/** A client trying to join a room: the path it used and the token it presented. */
export interface FakeJoinAttempt {
  path: string;
  token: string | undefined;
  /** The verified token's claims, or undefined when it did not verify. */
  claims: ClaimGrants | undefined;
}

export interface FakeLivekitApiOptions {
  apiKey: string;
  apiSecret: string;
  /** Port to listen on (default: a free one on 127.0.0.1). */
  port?: number;
}

/** A Twirp error the next call to `method` answers with, instead of doing its work. */
export interface FakeFault {
  status: number;
  code: string;
  msg: string;
}

class TwirpError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, msg: string) {
    super(msg);
    this.status = status;
    this.code = code;
  }
}

type Handler = (body: Record<string, unknown>, grants: VideoGrant) => unknown;

const NO_MEDIA_SERVER =
  'fake LiveKit API: no media server here (joining a room needs a real LiveKit server)';

function text(body: Record<string, unknown>, camel: string, snake = camel): string {
  const value = body[camel] ?? body[snake];
  return typeof value === 'string' ? value : '';
}

function int(body: Record<string, unknown>, camel: string, snake: string): number {
  const value = body[camel] ?? body[snake];
  return typeof value === 'number' ? value : Number(value ?? 0) || 0;
}

function roomJson(room: FakeRoom): Record<string, unknown> {
  return {
    sid: room.sid,
    name: room.name,
    metadata: room.metadata,
    emptyTimeout: room.emptyTimeout,
    departureTimeout: room.departureTimeout,
    maxParticipants: room.maxParticipants,
    creationTime: String(room.creationTime),
    numParticipants: 0,
  };
}

function dispatchJson(dispatch: FakeDispatch): Record<string, unknown> {
  return {
    id: dispatch.id,
    agentName: dispatch.agentName,
    room: dispatch.room,
    metadata: dispatch.metadata,
    state: { jobs: [] },
  };
}

/**
 * Events: 'call' (FakeCall), 'roomCreated' (FakeRoom), 'roomDeleted' (room name),
 * 'roomMetadata' (FakeRoom), 'dispatchCreated' (FakeDispatch), 'join' (FakeJoinAttempt).
 */
export class FakeLivekitApi extends EventEmitter {
  /** Rooms that exist now, by name. */
  readonly rooms = new Map<string, FakeRoom>();
  /** Dispatches that exist now (a room's dispatches go with it). */
  readonly dispatches: FakeDispatch[] = [];
  /** Every room ever created, in order. */
  readonly createdRooms: FakeRoom[] = [];
  /** Names of deleted rooms, in order. */
  readonly deletedRooms: string[] = [];
  /** Every authenticated Twirp call, in order. */
  readonly calls: FakeCall[] = [];
  /** Every join attempt (WebSocket or validate request), in order. */
  readonly joins: FakeJoinAttempt[] = [];

  readonly #server: Server;
  readonly #verifier: TokenVerifier;
  readonly #faults = new Map<string, FakeFault[]>();
  readonly #handlers: Record<string, Handler>;
  #url = '';

  private constructor(options: FakeLivekitApiOptions) {
    super();
    this.#verifier = new TokenVerifier(options.apiKey, options.apiSecret);
    this.#handlers = {
      'RoomService/CreateRoom': (body, grants) => this.#createRoom(body, grants),
      'RoomService/DeleteRoom': (body, grants) => this.#deleteRoom(body, grants),
      'RoomService/ListRooms': (body, grants) => this.#listRooms(body, grants),
      'RoomService/UpdateRoomMetadata': (body, grants) => this.#updateMetadata(body, grants),
      'AgentDispatchService/CreateDispatch': (body, grants) => this.#createDispatch(body, grants),
      'AgentDispatchService/ListDispatch': (body, grants) => this.#listDispatch(body, grants),
      'AgentDispatchService/DeleteDispatch': (body, grants) => this.#deleteDispatch(body, grants),
    };
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        this.#reply(res, 500, { code: 'internal', msg: String(error) });
      });
    });
    this.#server.on('upgrade', (req, socket) => void this.#refuseJoin(req, socket));
  }

  static async start(options: FakeLivekitApiOptions): Promise<FakeLivekitApi> {
    const fake = new FakeLivekitApi(options);
    await new Promise<void>((resolve, reject) => {
      fake.#server.once('error', reject);
      fake.#server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    fake.#url = `http://127.0.0.1:${(fake.#server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The server URL to give livekit-server-sdk clients (and livekit-client, to try a join). */
  get url(): string {
    return this.#url;
  }

  /** Answer the next call to `method` (e.g. 'CreateDispatch') with this Twirp error. */
  failNext(method: string, fault: FakeFault): void {
    const list = this.#faults.get(method) ?? [];
    list.push(fault);
    this.#faults.set(method, list);
  }

  /** Remove a room as LiveKit does when it empties (for tests of a room that went away). */
  dropRoom(name: string): void {
    this.rooms.delete(name);
    this.#dropDispatches(name);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (/^\/rtc(\/v\d+)?\/validate$/.test(url.pathname)) {
      await this.#recordJoin(url);
      // Browsers read the reason only with CORS headers, as LiveKit's server sends them.
      res
        .writeHead(503, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' })
        .end(NO_MEDIA_SERVER);
      return;
    }
    const match = /^\/twirp\/livekit\.(\w+)\/(\w+)$/.exec(url.pathname);
    if (req.method !== 'POST' || !match) {
      this.#reply(res, 404, {
        code: 'bad_route',
        msg: `no handler for ${req.method} ${url.pathname}`,
      });
      return;
    }
    const [, service, method] = match as unknown as [string, string, string];
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      const grants = await this.#authenticate(req.headers.authorization);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        throw new TwirpError(400, 'malformed', 'the request body is not JSON');
      }
      const handler = this.#handlers[`${service}/${method}`];
      if (!handler) throw new TwirpError(404, 'bad_route', `unknown method ${service}/${method}`);
      const call = { service, method, body };
      this.calls.push(call);
      this.emit('call', call);
      const fault = this.#faults.get(method)?.shift();
      if (fault) throw new TwirpError(fault.status, fault.code, fault.msg);
      this.#reply(res, 200, handler(body, grants.video ?? {}));
    } catch (error) {
      if (!(error instanceof TwirpError)) throw error;
      this.#reply(res, error.status, { code: error.code, msg: error.message });
    }
  }

  async #authenticate(header: string | undefined): Promise<ClaimGrants> {
    const token = /^Bearer (.+)$/.exec(header ?? '')?.[1];
    if (!token) throw new TwirpError(401, 'unauthenticated', 'authorization header missing');
    try {
      return await this.#verifier.verify(token);
    } catch {
      throw new TwirpError(401, 'unauthenticated', 'invalid token');
    }
  }

  #require(grants: VideoGrant, grant: keyof VideoGrant, room?: string): void {
    if (!grants[grant]) throw new TwirpError(403, 'permission_denied', `${grant} grant required`);
    if (room !== undefined && grants.room !== room) {
      throw new TwirpError(403, 'permission_denied', `token is not for room ${room}`);
    }
  }

  #roomNamed(body: Record<string, unknown>): FakeRoom {
    const name = text(body, 'room');
    const room = this.rooms.get(name);
    if (!room) throw new TwirpError(404, 'not_found', `room ${name} does not exist`);
    return room;
  }

  #createRoom(body: Record<string, unknown>, grants: VideoGrant): unknown {
    this.#require(grants, 'roomCreate');
    const name = text(body, 'name');
    if (!name) throw new TwirpError(400, 'invalid_argument', 'room name required');
    const existing = this.rooms.get(name);
    if (existing) return roomJson(existing);
    const room: FakeRoom = {
      sid: `RM_${randomBytes(6).toString('hex')}`,
      name,
      metadata: text(body, 'metadata'),
      emptyTimeout: int(body, 'emptyTimeout', 'empty_timeout'),
      departureTimeout: int(body, 'departureTimeout', 'departure_timeout'),
      maxParticipants: int(body, 'maxParticipants', 'max_participants'),
      creationTime: Math.floor(Date.now() / 1000),
    };
    this.rooms.set(name, room);
    this.createdRooms.push(room);
    this.emit('roomCreated', room);
    return roomJson(room);
  }

  #deleteRoom(body: Record<string, unknown>, grants: VideoGrant): unknown {
    this.#require(grants, 'roomCreate');
    const room = this.#roomNamed(body);
    this.dropRoom(room.name);
    this.deletedRooms.push(room.name);
    this.emit('roomDeleted', room.name);
    return {};
  }

  #listRooms(body: Record<string, unknown>, grants: VideoGrant): unknown {
    this.#require(grants, 'roomList');
    const names = Array.isArray(body.names) ? (body.names as string[]) : [];
    const rooms = [...this.rooms.values()].filter((r) => !names.length || names.includes(r.name));
    return { rooms: rooms.map(roomJson) };
  }

  #updateMetadata(body: Record<string, unknown>, grants: VideoGrant): unknown {
    const room = this.#roomNamed(body);
    this.#require(grants, 'roomAdmin', room.name);
    room.metadata = text(body, 'metadata');
    this.emit('roomMetadata', room);
    return roomJson(room);
  }

  #createDispatch(body: Record<string, unknown>, grants: VideoGrant): unknown {
    const room = this.#roomNamed(body);
    this.#require(grants, 'roomAdmin', room.name);
    const dispatch: FakeDispatch = {
      id: `AD_${randomBytes(6).toString('hex')}`,
      room: room.name,
      agentName: text(body, 'agentName', 'agent_name'),
      metadata: text(body, 'metadata'),
    };
    this.dispatches.push(dispatch);
    this.emit('dispatchCreated', dispatch);
    return dispatchJson(dispatch);
  }

  #listDispatch(body: Record<string, unknown>, grants: VideoGrant): unknown {
    const name = text(body, 'room');
    this.#require(grants, 'roomAdmin', name);
    return { agentDispatches: this.dispatches.filter((d) => d.room === name).map(dispatchJson) };
  }

  #deleteDispatch(body: Record<string, unknown>, grants: VideoGrant): unknown {
    const name = text(body, 'room');
    this.#require(grants, 'roomAdmin', name);
    const id = text(body, 'dispatchId', 'dispatch_id');
    const index = this.dispatches.findIndex((d) => d.id === id && d.room === name);
    if (index < 0) throw new TwirpError(404, 'not_found', `dispatch ${id} does not exist`);
    const [dispatch] = this.dispatches.splice(index, 1);
    return dispatchJson(dispatch!);
  }

  #dropDispatches(room: string): void {
    for (let i = this.dispatches.length - 1; i >= 0; i--) {
      if (this.dispatches[i]!.room === room) this.dispatches.splice(i, 1);
    }
  }

  async #recordJoin(url: URL): Promise<void> {
    const token = url.searchParams.get('access_token') ?? undefined;
    let claims: ClaimGrants | undefined;
    try {
      claims = token ? await this.#verifier.verify(token) : undefined;
    } catch {
      claims = undefined;
    }
    const attempt = { path: url.pathname, token, claims };
    this.joins.push(attempt);
    this.emit('join', attempt);
  }

  async #refuseJoin(req: IncomingMessage, socket: Duplex): Promise<void> {
    await this.#recordJoin(new URL(req.url ?? '/', 'http://fake'));
    socket.end(
      `HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(NO_MEDIA_SERVER)}\r\nconnection: close\r\n\r\n${NO_MEDIA_SERVER}`,
    );
  }

  #reply(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
}
