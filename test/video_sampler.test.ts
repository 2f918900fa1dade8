/**
 * Video input without a network: the sampler's rates on a manual clock, the pipeline's bounds
 * (one encode in flight, newest frame wins, nothing of an ended track), the JPEG encoder, the
 * track choice, the room wiring with stand-in tracks, and the settings.
 */
import { EventEmitter } from 'node:events';
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import {
  type Room,
  type Track,
  RoomEvent,
  TrackKind,
  TrackSource,
  VideoBufferType,
  VideoFrame,
  type VideoFrameEvent,
  VideoRotation,
} from '@livekit/rtc-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/avatar/clock.ts';
import { applyDispatchMetadata } from '../src/config/dispatch.ts';
import type { ConfigError } from '../src/config/errors.ts';
import { modelCapabilities } from '../src/config/models.ts';
import { loadSettings } from '../src/config/settings.ts';
import { videoPlan } from '../src/config/video.ts';
import { FramePipeline } from '../src/video/frame_pipeline.ts';
import type { EncodedFrame, Encoder } from '../src/video/jpeg.ts';
import { encodeJpeg, fitInside } from '../src/video/jpeg.ts';
import { RoomVideoInput } from '../src/video/room_video.ts';
import { FrameSampler } from '../src/video/sampler.ts';
import { TrackFrames } from '../src/video/track_frames.ts';
import { chooseVideoSource } from '../src/video/track_choice.ts';
import { EnergySpeechDetector } from '../src/video/user_speech.ts';
import { quietLogger } from './support/call_harness.ts';
import { jpegSize } from '../tools/fake_gemini/server.ts';

quietLogger();

const KEY = { GOOGLE_API_KEY: 'k' };
const M31 = 'gemini-3.1-flash-live-preview';
const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';

function rgbaFrame(width: number, height: number, shade = 128): VideoFrame {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    data[i * 4] = (i % width) & 255;
    data[i * 4 + 1] = shade;
    data[i * 4 + 2] = (i / width) & 255;
    data[i * 4 + 3] = 255;
  }
  return new VideoFrame(data, width, height, VideoBufferType.RGBA);
}

const TINY = rgbaFrame(4, 4);

/** Frames arriving at `fps` (25: whole ms apart) for `ms` on a manual clock; the times taken. */
function run(sampler: FrameSampler, clock: { t: number }, ms: number, fps = 25): number[] {
  const taken: number[] = [];
  const end = clock.t + ms;
  for (; clock.t < end; clock.t += 1000 / fps) if (sampler.take()) taken.push(Math.round(clock.t));
  return taken;
}

describe('FrameSampler', () => {
  it('takes one frame a second while the user speaks and one per 3 s otherwise', () => {
    const clock = { t: 0 };
    const sampler = new FrameSampler({
      speakingIntervalMs: 1000,
      idleIntervalMs: 3000,
      now: () => clock.t,
    });
    sampler.speaking = true;
    expect(run(sampler, clock, 5000)).toEqual([0, 1000, 2000, 3000, 4000]);
    sampler.speaking = false;
    expect(run(sampler, clock, 9000)).toEqual([7000, 10000, 13000]);
    // Speaking again: the next frame is due a second after the last one.
    sampler.speaking = true;
    expect(run(sampler, clock, 2000)).toEqual([14000, 15000]);
  });

  it('takes none while the user is silent when the idle interval is 0', () => {
    const clock = { t: 0 };
    const sampler = new FrameSampler({
      speakingIntervalMs: 1000,
      idleIntervalMs: 0,
      now: () => clock.t,
    });
    expect(run(sampler, clock, 10_000)).toEqual([]);
    sampler.speaking = true;
    expect(run(sampler, clock, 2000)).toEqual([10000, 11000]);
  });

  it('says how long until it takes a frame, and that none is due while silent with no idle interval', () => {
    const clock = { t: 0 };
    const sampler = new FrameSampler({
      speakingIntervalMs: 1000,
      idleIntervalMs: 0,
      now: () => clock.t,
    });
    expect(sampler.dueInMs()).toBeUndefined();
    sampler.speaking = true;
    expect(sampler.dueInMs()).toBe(0);
    expect(sampler.take()).toBe(true);
    clock.t = 400;
    expect(sampler.dueInMs()).toBe(600);
    expect(sampler.take()).toBe(false);
    clock.t = 1200;
    expect(sampler.dueInMs()).toBe(0);
    expect(sampler.take()).toBe(true);
  });
});

describe('the video plan', () => {
  it('on 3.1 (every frame counts toward the turn) sends only while the user speaks', () => {
    const plan = videoPlan(loadSettings({ ...KEY, GEMINI_MODEL: M31 }));
    expect(plan).toEqual({
      enabled: true,
      source: 'auto',
      speakingIntervalMs: 1000,
      idleIntervalMs: 0,
      maxSize: 1024,
      jpegQuality: 75,
    });
  });

  it('on 2.5 also sends one frame per 3 s while the user is silent', () => {
    expect(videoPlan(loadSettings({ ...KEY, GEMINI_MODEL: M25 })).idleIntervalMs).toBe(3000);
  });

  it('takes every setting from the environment, and an explicit idle interval on 3.1', () => {
    const plan = videoPlan(
      loadSettings({
        ...KEY,
        VIDEO_INPUT: 'Screen',
        VIDEO_SPEAKING_INTERVAL_MS: '500',
        VIDEO_IDLE_INTERVAL_MS: '5000',
        VIDEO_MAX_SIZE: '768',
        VIDEO_JPEG_QUALITY: '60',
      }),
    );
    expect(plan).toMatchObject({
      source: 'screen',
      speakingIntervalMs: 500,
      idleIntervalMs: 5000,
      maxSize: 768,
      jpegQuality: 60,
    });
  });

  it('is off, with the reason, for VIDEO_INPUT=off and for a model row without video', () => {
    expect(videoPlan(loadSettings({ ...KEY, VIDEO_INPUT: 'off' }))).toMatchObject({
      enabled: false,
      reason: 'VIDEO_INPUT is off',
    });
    const caps = { ...modelCapabilities(M25), id: 'audio-only', videoInput: false };
    expect(videoPlan({ call: loadSettings(KEY).call, capabilities: caps })).toMatchObject({
      enabled: false,
      reason: 'audio-only does not take video input (its row in the model table)',
    });
  });

  const problems = (env: Record<string, string>) => {
    try {
      loadSettings({ ...KEY, ...env });
    } catch (error) {
      return (error as ConfigError).problems;
    }
    return [];
  };

  it.each([
    ['VIDEO_INPUT', 'tv', '"tv"', 'auto, camera, screen, off'],
    ['VIDEO_SPEAKING_INTERVAL_MS', '50', '50', 'whole milliseconds from 100 to 60000'],
    [
      'VIDEO_IDLE_INTERVAL_MS',
      '20',
      '20',
      '0 (no frames while the user is silent) or whole milliseconds from 100 to 600000',
    ],
    ['VIDEO_MAX_SIZE', 'big', '"big"', 'pixels on the long side, a whole number from 64 to 3840'],
    ['VIDEO_JPEG_QUALITY', '101', '101', 'a whole number from 1 to 100'],
  ])(
    '%s=%s is one line naming it, the value and what is allowed',
    (name, value, shown, allowed) => {
      expect(problems({ [name]: value })).toEqual([
        `${name}: ${shown} is not valid (allowed: ${allowed})`,
      ]);
    },
  );

  it('takes the source and rates from dispatch metadata, but not the size or quality', () => {
    const base = loadSettings(KEY);
    const settings = applyDispatchMetadata(
      base,
      JSON.stringify({
        gemini_realtime_config: {
          video_input: 'camera',
          video_idle_interval_ms: 0,
          video_speaking_interval_ms: 2000,
        },
      }),
    );
    expect(videoPlan(settings)).toMatchObject({
      source: 'camera',
      idleIntervalMs: 0,
      speakingIntervalMs: 2000,
    });
    expect(() =>
      applyDispatchMetadata(base, '{"gemini_realtime_config":{"video_jpeg_quality":90}}'),
    ).toThrow(/unknown field "gemini_realtime_config\.video_jpeg_quality"/);
    expect(() =>
      applyDispatchMetadata(base, '{"gemini_realtime_config":{"video_input":"both"}}'),
    ).toThrow(
      'dispatch metadata: gemini_realtime_config.video_input: "both" is not valid (allowed: auto, camera, screen, off)',
    );
  });
});

describe('chooseVideoSource', () => {
  it.each([
    ['auto', { camera: true, screen: true }, 'screen'],
    ['auto', { camera: true, screen: false }, 'camera'],
    ['auto', { camera: false, screen: true }, 'screen'],
    ['auto', { camera: false, screen: false }, undefined],
    ['camera', { camera: true, screen: true }, 'camera'],
    ['camera', { camera: false, screen: true }, undefined],
    ['screen', { camera: true, screen: true }, 'screen'],
    ['screen', { camera: true, screen: false }, undefined],
    ['off', { camera: true, screen: true }, undefined],
  ] as const)('%s with %o -> %s', (mode, available, chosen) => {
    expect(chooseVideoSource(available, mode)).toBe(chosen);
  });
});

/** An encoder the test finishes by hand: what it was asked to encode, and when it is done. */
function manualEncoder() {
  const jobs: { frame: VideoFrame; finish: () => void }[] = [];
  const encode: Encoder = (frame) =>
    new Promise<EncodedFrame>((resolve) => {
      jobs.push({
        frame,
        finish: () =>
          resolve({
            data: Buffer.from([frame.width]),
            width: frame.width,
            height: frame.height,
            mimeType: 'image/jpeg',
          }),
      });
    });
  return { jobs, encode };
}

const flush = () => new Promise((r) => setImmediate(r));

/** Let `ms` pass on `clock`, running the timers due meanwhile. */
async function advance(clock: VirtualClock, ms: number): Promise<void> {
  let passed = false;
  clock.setTimeout(() => (passed = true), ms);
  await clock.runUntil(() => passed);
}

describe('FramePipeline', () => {
  const plan = { speakingIntervalMs: 100, idleIntervalMs: 100, maxSize: 1024, jpegQuality: 75 };

  it('keeps one encode in flight and one waiting frame, the newest, dropping the rest', async () => {
    const clock = { t: 0 };
    const sent: EncodedFrame[] = [];
    const { jobs, encode } = manualEncoder();
    const pipeline = new FramePipeline({
      plan,
      encode,
      sink: (f) => (sent.push(f), 'sent'),
      now: () => clock.t,
    });
    pipeline.startTrack();
    // 30 fps for one second while the encoder never finishes: 1 encode, nothing queued beyond one.
    const frames = Array.from({ length: 30 }, (_, i) => rgbaFrame(2, 2 + i));
    for (const frame of frames) {
      pipeline.pushFrame(frame);
      clock.t += 1000 / 30;
    }
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.frame).toBe(frames[0]);
    expect(pipeline.stats).toMatchObject({ frames: 30, sampled: 10, droppedBusy: 8 });
    jobs[0]!.finish();
    await flush();
    // The waiting slot held the newest frame, which is encoded next.
    expect(jobs).toHaveLength(2);
    expect(jobs[1]!.frame).toBe(frames[29]);
    jobs[1]!.finish();
    await pipeline.idle();
    expect(sent.map((f) => f.height)).toEqual([2, 31]);
    expect(pipeline.stats.sent).toBe(2);
  });

  it('sends nothing of a track after it ended, even a frame that was being encoded', async () => {
    const clock = { t: 0 };
    const sent: EncodedFrame[] = [];
    const { jobs, encode } = manualEncoder();
    const pipeline = new FramePipeline({
      plan,
      encode,
      sink: (f) => (sent.push(f), 'sent'),
      now: () => clock.t,
    });
    pipeline.startTrack();
    pipeline.pushFrame(TINY);
    clock.t += 150;
    pipeline.pushFrame(TINY); // waits for the encoder
    pipeline.endTrack();
    clock.t += 150;
    pipeline.pushFrame(TINY); // after the end: ignored
    jobs[0]!.finish();
    await pipeline.idle();
    expect(jobs).toHaveLength(1);
    expect(sent).toEqual([]);
    expect(pipeline.stats).toMatchObject({ encoded: 1, discardedEnded: 1, sent: 0, frames: 2 });
  });

  it('counts frames the model could not take and drops them', async () => {
    const pipeline = new FramePipeline({ plan, sink: () => 'not_connected' });
    pipeline.startTrack();
    pipeline.pushFrame(rgbaFrame(64, 48));
    await pipeline.idle();
    expect(pipeline.stats).toMatchObject({ encoded: 1, sent: 0, unsent: { not_connected: 1 } });
  });
});

describe('encodeJpeg', () => {
  it('scales 1280x720 (I420 from a camera) to 1024x576 JPEG', async () => {
    const i420 = rgbaFrame(1280, 720).convert(VideoBufferType.I420);
    const out = await encodeJpeg(i420, { maxSize: 1024, quality: 75 });
    expect(out.mimeType).toBe('image/jpeg');
    expect([out.width, out.height]).toEqual([1024, 576]);
    expect(jpegSize(out.data)).toEqual({ width: 1024, height: 576 });
    expect(out.data.length).toBeLessThan(200_000);
  });

  it('turns a rotated camera frame upright (WebRTC rotation, clockwise)', async () => {
    // Left half red, right half blue: turned 90 degrees clockwise, red is on top.
    const [w, h] = [1280, 720];
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++)
      rgba.set(i % w < w / 2 ? [255, 0, 0, 255] : [0, 0, 255, 255], i * 4);
    const frame = new VideoFrame(rgba, w, h, VideoBufferType.RGBA);
    const out = await encodeJpeg(frame, { maxSize: 1024, quality: 80, rotate: 90 });
    expect([out.width, out.height]).toEqual([576, 1024]);
    expect(jpegSize(out.data)).toEqual({ width: 576, height: 1024 });
    const { data, info } = await sharp(out.data).raw().toBuffer({ resolveWithObject: true });
    const pixel = (x: number, y: number) => {
      const at = (y * info.width + x) * info.channels;
      return [data[at]! > 200, data[at + 2]! > 200];
    };
    expect(pixel(288, 100)).toEqual([true, false]); // top: red
    expect(pixel(288, 900)).toEqual([false, true]); // bottom: blue
  });

  it('keeps the aspect of portrait frames and never enlarges small ones', async () => {
    expect(fitInside(720, 1280, 512)).toEqual({ width: 288, height: 512 });
    const small = await encodeJpeg(rgbaFrame(320, 240), { maxSize: 1024, quality: 50 });
    expect(jpegSize(small.data)).toEqual({ width: 320, height: 240 });
  });
});

describe('EnergySpeechDetector', () => {
  const frame = (level: number) => ({
    data: new Int16Array(320).fill(level),
    sampleRate: 16_000,
    samplesPerChannel: 320,
  });

  it('says speaking after 100 ms of voice and silent after 600 ms of quiet', () => {
    const detector = new EnergySpeechDetector();
    const changes: boolean[] = [];
    detector.onChange((s) => changes.push(s));
    for (let i = 0; i < 4; i++) detector.push(frame(3000));
    expect(detector.speaking).toBe(false);
    detector.push(frame(3000));
    expect(detector.speaking).toBe(true);
    for (let i = 0; i < 29; i++) detector.push(frame(0));
    expect(detector.speaking).toBe(true);
    detector.push(frame(0));
    expect(changes).toEqual([true, false]);
  });
});

/** A stand-in rtc Room: participants with publications, events emitted by the test. */
class StandInRoom extends EventEmitter {
  remoteParticipants = new Map<
    string,
    { identity: string; trackPublications: Map<string, StandInPub> }
  >();
}
interface StandInPub {
  sid: string;
  kind: TrackKind;
  source: TrackSource;
  subscribed: boolean;
  muted: boolean;
  track?: { sid: string };
  setSubscribed(on: boolean): void;
}

function publication(sid: string, source: TrackSource): StandInPub {
  const pub: StandInPub = {
    sid,
    kind: TrackKind.KIND_VIDEO,
    source,
    subscribed: false,
    muted: false,
    setSubscribed(on) {
      pub.subscribed = on;
      pub.track = on ? { sid } : undefined;
    },
  };
  return pub;
}

describe('RoomVideoInput', () => {
  it('subscribes, prefers the screen share while there is one, and stops a track when it goes', async () => {
    const room = new StandInRoom();
    const user = { identity: 'user', trackPublications: new Map<string, StandInPub>() };
    room.remoteParticipants.set('user', user);
    type Push = (frame: VideoFrame, rotation?: VideoRotation) => void;
    const streams = new Map<string, { push: Push; cancelled: boolean }>();
    const openStream = (track: { sid: string }) => {
      const entry: { push: Push; cancelled: boolean } = { push: () => {}, cancelled: false };
      streams.set(track.sid, entry);
      return new ReadableStream<VideoFrameEvent>({
        start(controller) {
          entry.push = (frame, rotation = VideoRotation.VIDEO_ROTATION_0) => {
            if (!entry.cancelled) controller.enqueue({ frame, timestampUs: 0n, rotation });
          };
        },
        cancel() {
          entry.cancelled = true;
        },
      });
    };
    const sent: number[] = [];
    const rotations: (number | undefined)[] = [];
    const clock = new VirtualClock();
    const pipeline = new FramePipeline({
      plan: { speakingIntervalMs: 100, idleIntervalMs: 100, maxSize: 64, jpegQuality: 50 },
      encode: async (frame, options) => {
        rotations.push(options.rotate);
        return {
          data: Buffer.alloc(1),
          width: frame.width,
          height: frame.height,
          mimeType: 'image/jpeg',
        };
      },
      sink: (f) => (sent.push(f.width), 'sent'),
      now: () => clock.now(),
    });
    const input = new RoomVideoInput({
      room: room as unknown as Room,
      linkedIdentity: () => 'user',
      mode: 'auto',
      pipeline,
      openStream: openStream as never,
      pollMs: 60_000,
      clock,
    });
    const camera = publication('TR_cam', TrackSource.SOURCE_CAMERA);
    user.trackPublications.set(camera.sid, camera);
    room.emit(RoomEvent.TrackPublished);
    expect(camera.subscribed).toBe(true);
    room.emit(RoomEvent.TrackSubscribed);
    expect(input.current).toBe('camera');

    // 200 ms pass (the reader opens the track's stream again once a frame is due), then the track
    // delivers a frame: only a stream still open gets it.
    const deliver = async (sid: string, width: number, rotation?: VideoRotation) => {
      await advance(clock, 200);
      streams.get(sid)!.push(rgbaFrame(width, 2), rotation);
      await flush();
      await pipeline.idle();
    };
    await deliver('TR_cam', 10);
    const screen = publication('TR_screen', TrackSource.SOURCE_SCREENSHARE);
    user.trackPublications.set(screen.sid, screen);
    room.emit(RoomEvent.TrackPublished);
    room.emit(RoomEvent.TrackSubscribed);
    expect(input.current).toBe('screen');
    expect(streams.get('TR_cam')!.cancelled).toBe(true);
    await deliver('TR_screen', 20);
    await deliver('TR_cam', 11); // the camera track is no longer read
    // The share ends: back to the camera.
    user.trackPublications.delete(screen.sid);
    room.emit(RoomEvent.TrackUnpublished);
    expect(input.current).toBe('camera');
    await deliver('TR_screen', 21);
    await deliver('TR_cam', 12, VideoRotation.VIDEO_ROTATION_270); // a phone held sideways
    // The camera goes too: nothing is read, nothing sent.
    user.trackPublications.delete(camera.sid);
    room.emit(RoomEvent.TrackUnpublished);
    expect(input.current).toBeUndefined();
    await deliver('TR_cam', 13);
    expect(sent).toEqual([10, 20, 12]);
    expect(rotations).toEqual([0, 0, 270]);
    input.close();
    expect(room.listenerCount(RoomEvent.TrackPublished)).toBe(0);
  });

  it('reads a 30 fps track only when a frame is due: each frame taken out of it is one sent', async () => {
    const clock = new VirtualClock();
    // A camera at 30 fps on the clock. As rtc-node copies a frame out of the native core only for
    // an open VideoStream, only an open stream gets one.
    let open: ReadableStreamDefaultController<VideoFrameEvent> | undefined;
    let produced = 0;
    const camera = () => {
      produced++;
      open?.enqueue({ frame: TINY, timestampUs: 0n, rotation: VideoRotation.VIDEO_ROTATION_0 });
      clock.setTimeout(camera, 1000 / 30);
    };
    camera();
    const openStream = () =>
      new ReadableStream<VideoFrameEvent>({
        start: (controller) => void (open = controller),
        cancel: () => void (open = undefined),
      });
    const sentAt: number[] = [];
    const pipeline = new FramePipeline({
      plan: { speakingIntervalMs: 1000, idleIntervalMs: 3000, maxSize: 64, jpegQuality: 50 },
      encode: async (frame) => ({
        data: Buffer.alloc(1),
        width: frame.width,
        height: frame.height,
        mimeType: 'image/jpeg',
      }),
      sink: () => (sentAt.push(Math.round(clock.now())), 'sent'),
      now: () => clock.now(),
    });
    pipeline.speaking = true;
    pipeline.startTrack();
    const frames = new TrackFrames({
      track: {} as Track,
      pipeline,
      openStream: openStream as never,
      clock,
    });
    frames.start();
    await advance(clock, 4500);
    // The user falls silent (a frame per 3 s), then speaks again: the next frame is due at once.
    pipeline.speaking = false;
    await advance(clock, 1500);
    pipeline.speaking = true;
    await advance(clock, 100);
    frames.stop();
    await pipeline.idle();
    expect(sentAt).toHaveLength(6);
    expect(sentAt.slice(0, 5).map((t) => Math.round(t / 1000))).toEqual([0, 1, 2, 3, 4]);
    expect(sentAt[5]).toBeGreaterThanOrEqual(6000);
    expect(sentAt[5]).toBeLessThan(6040);
    // 183 frames went by; only the six sent were read out of the track.
    expect(produced).toBeGreaterThan(180);
    expect(pipeline.stats.frames).toBe(6);
    expect(frames.opened).toBe(6);
    expect(open).toBeUndefined();
  });

  it('takes only the camera with VIDEO_INPUT=camera, and nothing of other participants', () => {
    const room = new StandInRoom();
    const user = { identity: 'user', trackPublications: new Map<string, StandInPub>() };
    const other = { identity: 'other', trackPublications: new Map<string, StandInPub>() };
    room.remoteParticipants.set('user', user).set('other', other);
    const screen = publication('TR_s', TrackSource.SOURCE_SCREENSHARE);
    const theirs = publication('TR_o', TrackSource.SOURCE_CAMERA);
    user.trackPublications.set(screen.sid, screen);
    other.trackPublications.set(theirs.sid, theirs);
    const pipeline = new FramePipeline({
      plan: { speakingIntervalMs: 100, idleIntervalMs: 100, maxSize: 64, jpegQuality: 50 },
      sink: () => 'sent',
    });
    const input = new RoomVideoInput({
      room: room as unknown as Room,
      linkedIdentity: () => 'user',
      mode: 'camera',
      pipeline,
      pollMs: 60_000,
    });
    expect(screen.subscribed).toBe(false);
    expect(theirs.subscribed).toBe(false);
    expect(input.current).toBeUndefined();
    input.close();
  });
});
