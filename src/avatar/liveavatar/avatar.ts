/**
 * A LiveAvatar avatar in our own room: LiveAvatar's LITE mode renders the face, our agent does
 * everything else (its room, tools, Gemini, video input, recovery).
 *
 * start(): the session's audio output becomes a LiveAvatarAudioOutput at once (before
 * session.start(), like LiveKit's avatar plugins), and in the background:
 *   1. a LiveKit token for a separate avatar participant (kind `agent`, `lk.publish_on_behalf` =
 *      our agent, so RoomIO never takes it for the user and clients show its tracks as the agent's);
 *   2. `/v1/sessions/token` with `mode: LITE`, `livekit_config` (our room) and the dispatch's
 *      `video_settings`, `is_sandbox`, `max_session_duration`; never `gemini_realtime_config`
 *      (LiveAvatar would start a second, billed Gemini session);
 *   3. `/v1/sessions/start` -> the LITE WebSocket; once it says `connected`, the agent's audio
 *      flows (audio of a greeting that came first waits for it).
 * Any failure on the way, or later, falls back to our built-in face with one warning line, and
 * the call goes on. close() stops the LiveAvatar session (`/v1/sessions/stop` with a reason).
 */
import { randomUUID } from 'node:crypto';
import { log, type voice } from '@livekit/agents';
import { AccessToken } from 'livekit-server-sdk';
import type { Secret } from '../../config/secret.ts';
import type { VideoEncoding, VideoQuality } from '../../config/call_options.ts';
import { LiveAvatarApi, type LiteSessionConfig } from './api.ts';
import {
  type FallbackSpeaker,
  LiveAvatarAudioOutput,
  type LiveAvatarAudioOutputOptions,
} from './audio_output.ts';
import { LiteSocket } from './lite_socket.ts';

/** `lk.publish_on_behalf`: the participant whose media this one publishes (agents' constant). */
export const ATTRIBUTE_PUBLISH_ON_BEHALF = 'lk.publish_on_behalf';
/** How long LiveAvatar has to join with its token (the expiry only matters for joining). */
const JOIN_TOKEN_TTL = '15m';

/** LiveAvatar's reasons for `/v1/sessions/stop`. */
export type StopReason = 'USER_DISCONNECTED' | 'MAX_DURATION_REACHED' | 'SERVER_ERROR' | string;

export interface LiveAvatarAvatarOptions {
  /** LiveAvatar's avatar id (a UUID). */
  avatarId: string;
  apiKey: Secret;
  /** LIVEAVATAR_API_URL. */
  apiUrl: string;
  /** The LiveKit server LiveAvatar's participant joins, and the key that signs its token. */
  livekit: { url: string; apiKey: Secret; apiSecret: Secret };
  roomName: string;
  /** Our agent participant's identity: the avatar publishes on its behalf. */
  agentIdentity: string;
  isSandbox?: boolean;
  videoQuality?: VideoQuality;
  videoEncoding?: VideoEncoding;
  maxSessionDurationSeconds?: number;
  /** What plays the audio if LiveAvatar fails: our face's sink, published in the room. */
  fallback: () => Promise<FallbackSpeaker>;
  /** Tuning of the audio output (chunks, timeouts) and a tap on the audio sent. */
  output?: Omit<LiveAvatarAudioOutputOptions, 'fallback' | 'onFailed'>;
  /** Time for the LITE socket to connect. Default 15000 ms. */
  connectTimeoutMs?: number;
  /** `session.keep_alive` after this long without sending. Default 60000 ms. */
  keepAliveMs?: number;
  /** Per REST call. Default 10000 ms. */
  requestTimeoutMs?: number;
}

export class LiveAvatarAvatar {
  /** The session's audio output (valid from construction). */
  readonly output: LiveAvatarAudioOutput;
  readonly #options: LiveAvatarAvatarOptions;
  readonly #api: LiveAvatarApi;
  readonly #logger = log();
  #session?: { id: string; token: string };
  #opening?: Promise<void>;
  #stopping?: Promise<void>;
  #closed = false;

  constructor(options: LiveAvatarAvatarOptions) {
    this.#options = options;
    this.#api = new LiveAvatarApi({
      apiKey: options.apiKey,
      baseUrl: options.apiUrl,
      ...(options.requestTimeoutMs ? { timeoutMs: options.requestTimeoutMs } : {}),
    });
    this.output = new LiveAvatarAudioOutput({
      ...options.output,
      fallback: options.fallback,
      onFailed: () => void this.#stop('SERVER_ERROR'),
    });
  }

  /** Attach to `session` (before session.start) and bring the avatar into the room. */
  async start(session: voice.AgentSession): Promise<void> {
    session.output.audio = this.output;
    this.open();
  }

  /** Start LiveAvatar's session in the background (start() does; the console calls it alone). */
  open(): void {
    this.#opening ??= this.#open().catch((error: unknown) => {
      this.output.fail(error instanceof Error ? error.message : String(error));
    });
  }

  async #open(): Promise<void> {
    const o = this.#options;
    const config: LiteSessionConfig = {
      mode: 'LITE',
      avatar_id: o.avatarId,
      ...(o.isSandbox !== undefined ? { is_sandbox: o.isSandbox } : {}),
      ...(o.videoQuality || o.videoEncoding
        ? {
            video_settings: {
              ...(o.videoQuality ? { quality: o.videoQuality } : {}),
              ...(o.videoEncoding ? { encoding: o.videoEncoding } : {}),
            },
          }
        : {}),
      ...(o.maxSessionDurationSeconds !== undefined
        ? { max_session_duration: o.maxSessionDurationSeconds }
        : {}),
      livekit_config: {
        livekit_url: o.livekit.url,
        livekit_room: o.roomName,
        livekit_client_token: await this.#joinToken(),
      },
    };
    const created = await this.#api.createSession(config);
    this.#session = { id: created.sessionId, token: created.token };
    if (this.#closed) return;
    const started = await this.#api.startSession(created.token);
    if (this.#closed) return;
    const socket = await LiteSocket.connect(started.wsUrl, {
      ...(o.connectTimeoutMs ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
      ...(o.keepAliveMs ? { keepAliveMs: o.keepAliveMs } : {}),
      onEvent: (event) => this.output.receive(event),
      onLost: (why) => this.output.fail(why),
    });
    if (this.#closed) {
      socket.close();
      return;
    }
    this.output.attach(socket);
    this.#logger.info(
      { sessionId: created.sessionId, avatarId: o.avatarId, room: o.roomName },
      'LiveAvatar avatar started',
    );
  }

  /** A token for LiveAvatar's avatar participant in our room, publishing on our agent's behalf. */
  async #joinToken(): Promise<string> {
    const { livekit, roomName, agentIdentity } = this.#options;
    const token = new AccessToken(livekit.apiKey.reveal(), livekit.apiSecret.reveal(), {
      identity: `liveavatar-${randomUUID().slice(0, 8)}`,
      name: 'LiveAvatar',
      ttl: JOIN_TOKEN_TTL,
      attributes: { [ATTRIBUTE_PUBLISH_ON_BEHALF]: agentIdentity },
    });
    token.kind = 'agent';
    token.addGrant({
      roomJoin: true,
      room: roomName,
      canPublish: true,
      canSubscribe: true,
      canPublishData: true,
    });
    return token.toJwt();
  }

  /** End the call's avatar: LiveAvatar's session is stopped with `reason`. */
  async close(reason: StopReason = 'USER_DISCONNECTED'): Promise<void> {
    if (this.#closed) return this.#stopping;
    this.#closed = true;
    this.output.close();
    await this.#opening;
    await this.#stop(reason);
  }

  #stop(reason: StopReason): Promise<void> {
    const session = this.#session;
    if (!session || this.#stopping) return this.#stopping ?? Promise.resolve();
    this.#stopping = this.#api.stopSession(session.token, session.id, reason).catch((error) => {
      this.#logger.warn(
        { sessionId: session.id, reason: (error as Error).message },
        'LiveAvatar: stopping the session failed',
      );
    });
    return this.#stopping;
  }
}
