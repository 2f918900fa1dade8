/**
 * The Gemini avatar's media, as the model's sessions receive it: each connection's fMP4 stream is
 * demuxed here, its speech decoded into the reply's audio (tagged with where it sits on the
 * stream's timeline), and its video samples handed, still encoded, to whoever shows the face (the
 * publisher decodes each picture just before it is due).
 *
 * Faults keep the call going: bytes that are not MP4, a fragment that does not parse, a sample a
 * decoder refuses are skipped (the audio around them plays, the face holds its last good
 * picture); the first one is logged as a warning, later ones are counted.
 */
import type { AvatarConfig } from '@google/genai';
import { log } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import type { AvatarMediaStream, AvatarOutput } from '../../gemini/avatar_output.ts';
import { AacDecoder } from './aac_decoder.ts';
import type { Av } from './av.ts';
import { Fmp4Demuxer, type MediaSample, type MediaTrack } from './fmp4_demuxer.ts';

/** `AudioFrame.userdata` key of the tag that places decoded speech on its stream's timeline. */
export const MEDIA_TAG = 'geminiAvatar';

export interface MediaTag {
  /** Which connection's stream (they restart their timelines). */
  stream: number;
  /** Presentation time of the frame's first sample, seconds. */
  pts: number;
}

export function mediaTagOf(frame: AudioFrame): MediaTag | undefined {
  const tag = frame.userdata[MEDIA_TAG] as MediaTag | undefined;
  return tag && typeof tag.stream === 'number' && typeof tag.pts === 'number' ? tag : undefined;
}

export interface VideoSampleEvent {
  stream: number;
  sample: MediaSample;
  /** False for a sample of a reply that was cut: decode it (a reference), never show it. */
  show: boolean;
}

export interface AvatarMediaStats {
  streams: number;
  bytes: number;
  audioFrames: number;
  videoSamples: number;
  /** Bytes, fragments or samples skipped because they were broken. */
  faults: number;
  /** performance.now() of the first avatar bytes of the call. */
  firstBytesAt?: number;
}

export interface GeminiAvatarMediaOptions {
  config: AvatarConfig;
  av: Av;
  /** The agent's audio rate (the avatar sink's). */
  sampleRate: number;
}

export class GeminiAvatarMedia implements AvatarOutput {
  readonly config: AvatarConfig;
  readonly stats: AvatarMediaStats = {
    streams: 0,
    bytes: 0,
    audioFrames: 0,
    videoSamples: 0,
    faults: 0,
  };
  readonly #options: GeminiAvatarMediaOptions;
  readonly #listeners = new Set<(event: VideoSampleEvent) => void>();
  #warned = false;

  constructor(options: GeminiAvatarMediaOptions) {
    this.#options = options;
    this.config = options.config;
  }

  /** Video samples as they arrive, in order. Returns a function that stops them. */
  onVideo(listener: (event: VideoSampleEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  openStream(): AvatarMediaStream {
    this.stats.streams += 1;
    return new MediaStream(this, this.stats.streams);
  }

  /** For the streams: hand on a video sample. */
  emitVideo(event: VideoSampleEvent): void {
    this.stats.videoSamples += 1;
    for (const listener of this.#listeners) listener(event);
  }

  /** For the streams: one warning per call, the rest counted. */
  fault(stream: number, problem: string): void {
    this.stats.faults += 1;
    if (this.#warned) {
      log().debug({ stream, problem }, 'Gemini avatar stream fault');
      return;
    }
    this.#warned = true;
    log().warn(
      { stream, problem },
      'the Gemini avatar stream had a fault; skipped it (the speech goes on, the face holds its last good picture)',
    );
  }

  get av(): Av {
    return this.#options.av;
  }

  get sampleRate(): number {
    return this.#options.sampleRate;
  }
}

class MediaStream implements AvatarMediaStream {
  readonly #owner: GeminiAvatarMedia;
  readonly #id: number;
  readonly #demuxer = new Fmp4Demuxer();
  #audio?: AacDecoder;
  #closed = false;

  constructor(owner: GeminiAvatarMedia, id: number) {
    this.#owner = owner;
    this.#id = id;
  }

  push(bytes: Uint8Array, discard: boolean): AudioFrame[] {
    if (this.#closed) return [];
    const stats = this.#owner.stats;
    stats.firstBytesAt ??= performance.now();
    stats.bytes += bytes.length;
    const { samples, problems } = this.#demuxer.push(bytes);
    for (const problem of problems) this.#owner.fault(this.#id, problem);
    const frames: AudioFrame[] = [];
    for (const sample of samples) {
      if (sample.track.kind === 'video') {
        this.#owner.emitVideo({ stream: this.#id, sample, show: !discard });
      } else if (!discard) {
        frames.push(...this.#decodeAudio(sample));
      }
    }
    stats.audioFrames += frames.length;
    return frames;
  }

  replyEnded(): void {
    const dropped = this.#demuxer.dropPartial();
    if (dropped > 0) this.#owner.fault(this.#id, `a reply ended inside a box (${dropped} bytes)`);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#audio?.close();
  }

  #decodeAudio(sample: MediaSample): AudioFrame[] {
    try {
      const decoder = this.#decoderFor(sample.track);
      return decoder.decode(sample).map(
        ({ samples, pts }) =>
          new AudioFrame(samples, decoder.outputRate, 1, samples.length, {
            [MEDIA_TAG]: { stream: this.#id, pts } satisfies MediaTag,
          }),
      );
    } catch (error) {
      this.#owner.fault(this.#id, `an AAC sample did not decode: ${(error as Error).message}`);
      return [];
    }
  }

  /** One AAC decoder per audio track (a new init segment brings a new one). */
  #decoderFor(track: MediaTrack): AacDecoder {
    if (this.#audio?.track === track) return this.#audio;
    this.#audio?.close();
    this.#audio = new AacDecoder(this.#owner.av, track, this.#owner.sampleRate);
    return this.#audio;
  }
}
