/**
 * The linked user's camera and screen-share tracks in a room -> the frame pipeline.
 *
 * Re-evaluated on every track and participant event (and once a second, for a relinked
 * participant): subscribes to the user's video tracks, picks one with `chooseVideoSource`, and
 * reads its frames with rtc-node's VideoStream whenever the pipeline will take one
 * (track_frames.ts). Switching tracks or losing the track (ended, unsubscribed, unpublished,
 * muted, participant gone) ends it in the pipeline first, so nothing of it is sent afterwards.
 */
import { log } from '@livekit/agents';
import {
  type RemoteParticipant,
  type RemoteTrackPublication,
  type Room,
  RoomEvent,
  type Track,
  TrackKind,
  TrackSource,
  type VideoFrameEvent,
} from '@livekit/rtc-node';
import type { ReadableStream } from 'node:stream/web';
import type { Clock } from '../avatar/clock.ts';
import type { VideoSource } from '../config/call_options.ts';
import type { FramePipeline } from './frame_pipeline.ts';
import { type VideoKind, chooseVideoSource } from './track_choice.ts';
import { TrackFrames } from './track_frames.ts';

const EVENTS = [
  RoomEvent.TrackPublished,
  RoomEvent.TrackSubscribed,
  RoomEvent.TrackUnsubscribed,
  RoomEvent.TrackUnpublished,
  RoomEvent.TrackMuted,
  RoomEvent.TrackUnmuted,
  RoomEvent.ParticipantConnected,
  RoomEvent.ParticipantDisconnected,
] as const;

const KINDS: ReadonlyMap<TrackSource | undefined, VideoKind> = new Map([
  [TrackSource.SOURCE_CAMERA, 'camera'],
  [TrackSource.SOURCE_SCREENSHARE, 'screen'],
]);

export interface RoomVideoOptions {
  room: Room;
  /** The identity of the participant whose video Gemini sees (the session's linked user). */
  linkedIdentity: () => string | undefined;
  mode: VideoSource;
  pipeline: FramePipeline;
  /** How a track's frames are read (default rtc-node's VideoStream). */
  openStream?: (track: Track) => ReadableStream<VideoFrameEvent>;
  /** How often the linked identity is checked again. Default 1000 ms. */
  pollMs?: number;
  /** The timers the track reader waits with for the next frame. Default: real time. */
  clock?: Clock;
}

interface Current {
  sid: string;
  kind: VideoKind;
  frames: TrackFrames;
}

export class RoomVideoInput {
  readonly #options: RoomVideoOptions;
  readonly #logger = log();
  readonly #poll: NodeJS.Timeout;
  #current?: Current;
  #closed = false;

  constructor(options: RoomVideoOptions) {
    this.#options = options;
    for (const event of EVENTS) options.room.on(event, this.update);
    this.#poll = setInterval(this.update, options.pollMs ?? 1000);
    this.#poll.unref();
    this.update();
  }

  /** The source being read, if any. */
  get current(): VideoKind | undefined {
    return this.#current?.kind;
  }

  /**
   * Pick the track again (called on room events and a poll). Never throws: it runs from event
   * listeners and a timer, where a throw (rtc-node's native requests throw when they fail) would
   * end the job process; video stops being sent, the call goes on.
   */
  update = (): void => {
    if (this.#closed) return;
    try {
      this.#pick();
    } catch (error) {
      this.#logger.warn({ error }, 'video input: could not pick a track');
    }
  };

  #pick(): void {
    const participant = this.#participant();
    const pubs = participant ? videoPublications(participant) : new Map();
    for (const pub of pubs.values()) {
      if (!pub.subscribed && this.#wanted(KINDS.get(pub.source)!)) pub.setSubscribed(true);
    }
    const ready = (kind: VideoKind) => {
      const pub = pubs.get(kind);
      return !!pub?.track && pub.subscribed && !pub.muted;
    };
    const kind = chooseVideoSource(
      { camera: ready('camera'), screen: ready('screen') },
      this.#options.mode,
    );
    const pub = kind ? pubs.get(kind) : undefined;
    if (pub?.sid === this.#current?.sid) return;
    this.#stopCurrent();
    if (!kind || !pub?.track || !pub.sid) return;
    this.#read(kind, pub.sid, pub.track);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#poll);
    for (const event of EVENTS) this.#options.room.off(event, this.update);
    this.#stopCurrent();
  }

  #wanted(kind: VideoKind): boolean {
    const { mode } = this.#options;
    return mode === 'auto' || mode === kind;
  }

  #participant(): RemoteParticipant | undefined {
    const identity = this.#options.linkedIdentity();
    return identity ? this.#options.room.remoteParticipants.get(identity) : undefined;
  }

  #read(kind: VideoKind, sid: string, track: Track): void {
    this.#options.pipeline.startTrack();
    const current: Current = {
      sid,
      kind,
      frames: new TrackFrames({
        track,
        pipeline: this.#options.pipeline,
        ...(this.#options.openStream ? { openStream: this.#options.openStream } : {}),
        ...(this.#options.clock ? { clock: this.#options.clock } : {}),
        onEnd: (failed) => {
          if (this.#current !== current) return;
          this.#stopCurrent();
          // The stream ended on its own (track ended): pick again. After a failure the next
          // event or poll tries again.
          if (!failed) this.update();
        },
      }),
    };
    this.#current = current;
    this.#logger.info({ source: kind, track: sid }, 'video input: sending the user video');
    current.frames.start();
  }

  #stopCurrent(): void {
    const current = this.#current;
    if (!current) return;
    this.#current = undefined;
    this.#options.pipeline.endTrack();
    this.#logger.info({ source: current.kind, track: current.sid }, 'video input: track ended');
    current.frames.stop();
  }
}

function videoPublications(participant: RemoteParticipant): Map<VideoKind, RemoteTrackPublication> {
  const found = new Map<VideoKind, RemoteTrackPublication>();
  for (const pub of participant.trackPublications.values()) {
    const kind = KINDS.get(pub.source);
    if (pub.kind === TrackKind.KIND_VIDEO && kind && !found.has(kind)) found.set(kind, pub);
  }
  return found;
}
