/**
 * The avatar publisher with a real rtc-node AudioSource and VideoSource and no room: A/V offset
 * measured from outside the sink, idle frames, interruption, track publishing against a room
 * stand-in, the frame clock on an injected clock, and avatar errors.
 *
 * "When audio left the AudioSource" is observed, not modelled: an AudioStream on the audio track
 * the publisher creates receives each 10 ms chunk as the native source hands it to WebRTC (see
 * bench/av_offset.ts, which the long benchmark shares). The pushed audio is stamped with its
 * timeline position in its two lowest bits, so each chunk is placed exactly on the timeline.
 */
import {
  ConnectionState,
  type LocalTrack,
  type LocalTrackPublication,
  LocalAudioTrack,
  LocalVideoTrack,
  RoomEvent,
  type TrackPublishOptions,
  TrackSource,
} from '@livekit/rtc-node';
import { initializeLogger, voice } from '@livekit/agents';
import { createHash } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AvatarError } from '../src/avatar/avatar_source.ts';
import { VirtualClock } from '../src/avatar/clock.ts';
import { FrameClock, type FrameTick } from '../src/avatar/frame_clock.ts';
import { AvatarPublisher, type RoomLike } from '../src/avatar/publisher.ts';
import {
  AudioExitMonitor,
  type FrameRecord,
  TrackCatcher,
  clockOffsets,
  clockOrigin,
  frameRecorder,
  onsetOffsets,
  percentile,
  prng,
  pushSegment,
  sleep,
  stampTimeline,
} from '../bench/av_offset.ts';
import { LoopWatch, REAL_TIME_RETRY } from './support/loop_watch.ts';
import { concatSamples } from './support/signals.ts';

const RATE = 24_000;
const FPS = 30;
const FRAME_MS = 1000 / FPS;

beforeAll(() => {
  initializeLogger({ pretty: false, level: 'error' });
});

/** A harmonic tone on 200 Hz (8 partials, 1/k), peak 12000 (about -15 dBFS RMS). */
function tone(ms: number): Int16Array {
  const n = Math.round((ms * RATE) / 1000);
  const raw = new Float64Array(n);
  let peak = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 1; k <= 8; k++) raw[i]! += Math.sin((2 * Math.PI * 200 * k * i) / RATE) / k;
    peak = Math.max(peak, Math.abs(raw[i]!));
  }
  return Int16Array.from(raw, (x) => Math.round((x / peak) * 12_000));
}

const TONE_MS = 300;
const GAP_MS = 410;
/** One burst: a tone, then silence (which the timeline stamps keep at -80 dBFS). */
const BURST = concatSamples(tone(TONE_MS), new Int16Array((GAP_MS * RATE) / 1000));

function describeMs(values: readonly number[]): string {
  const fmt = (v: number) => v.toFixed(1);
  return `n=${values.length} min=${fmt(Math.min(...values))} p50=${fmt(percentile(values, 50))} p90=${fmt(percentile(values, 90))} p99=${fmt(percentile(values, 99))} max=${fmt(Math.max(...values))}`;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('AvatarPublisher: A/V offset through a real AudioSource (no room)', () => {
  it(
    'opens the mouth within a frame of each onset leaving the source; idles at the frame rate',
    REAL_TIME_RETRY,
    async () => {
      const frames: FrameRecord[] = [];
      const publisher = new AvatarPublisher({
        fps: FPS,
        width: 256,
        height: 256,
        onFrame: frameRecorder(frames),
      });
      cleanups.push(() => publisher.close());
      const sink = await publisher.prepare();
      // start() with a connected stand-in only to be handed the audio track it publishes: an
      // AudioStream on that track is our view of what leaves the AudioSource.
      const room = new TrackCatcher();
      await publisher.start(new voice.AgentSession({}), room);
      const monitor = new AudioExitMonitor(room.audioTrack);
      cleanups.push(() => monitor.close());
      const loop = new LoopWatch().start();
      cleanups.push(async () => loop.stop());

      // Silence first: idle frames.
      const idleFrom = performance.now();
      await sleep(1_100);

      // Ten bursts: six back to back (the source queue stays full: back-pressure), then four
      // after the source ran dry (each starts on an empty queue).
      const random = prng(7);
      const onsets: number[] = [];
      let position = 0;
      const pushBurst = async () => {
        onsets.push(position);
        await pushSegment(sink, stampTimeline(BURST, position), () => 20 + 40 * random());
        position += BURST.length;
      };
      for (let i = 0; i < 6; i++) await pushBurst();
      for (let i = 0; i < 4; i++) {
        await sink.waitForPlayout();
        await sleep(100 + 300 * random());
        await pushBurst();
      }
      await sink.waitForPlayout();
      await sleep(300);
      await publisher.close();
      await monitor.close();

      expect(sink.pendingPlayoutSegments).toBe(0);
      // What left the source is our audio, in order: every chunk but the source's own padding
      // carries our timeline stamps, at increasing positions, up to the end of what was pushed.
      const starts = [...monitor.timelineStarts()].filter((s, i) =>
        monitor.chunks[i]!.samples.some((x) => x !== 0) ? true : !Number.isNaN(s),
      );
      expect(starts.every((s, i) => !Number.isNaN(s) && (i === 0 || s > starts[i - 1]!))).toBe(
        true,
      );
      expect(starts.at(-1)! + RATE / 100).toBeGreaterThan(position - RATE / 100);
      const origin = clockOrigin(frames);
      const at = (f: FrameRecord) => origin + f.tMs;

      // Frames: on their own clock, strictly increasing.
      for (let i = 1; i < frames.length; i++) {
        expect(frames[i]!.tMs).toBeGreaterThan(frames[i - 1]!.tMs);
        expect(frames[i]!.frame).toBeGreaterThan(frames[i - 1]!.frame);
      }

      // Idle: a second of silence shows ~30 frames, no gap over two frames, the mouth shut.
      const idle = frames.filter((f) => at(f) >= idleFrom + 50 && at(f) < idleFrom + 1_050);
      const idleStalledMs = loop.stalledMs(idleFrom + 50, idleFrom + 1_050);
      const idleGapMs = loop.maxGapMs(idle.map(at));
      console.log(
        `idle: ${idle.length} frames in 1 s, max gap ${idleGapMs.toFixed(1)} ms without loop stalls (${idleStalledMs.toFixed(0)} ms), skipped ${publisher.skippedFrames} over the run`,
      );
      // Frames a stalled loop could not render are not counted against the clock.
      expect(idle.length).toBeGreaterThanOrEqual(FPS - 2 - Math.floor(idleStalledMs / FRAME_MS));
      expect(idle.length).toBeLessThanOrEqual(FPS + 2);
      expect(idleGapMs).toBeLessThanOrEqual(2 * FRAME_MS);
      expect(idle.every((f) => f.open === 0)).toBe(true);

      // Onsets: when each burst's first sample left the source.
      const exits = onsets.map((p) => monitor.exitOf(p));
      expect(exits.every((e) => e !== undefined)).toBe(true);
      const exitTimes = exits as number[];

      // The mouth is shut in the silence before each onset (from 200 ms after the previous burst
      // ended, when its release has run out, to 60 ms before: lip sync looks 30 ms ahead).
      for (const exit of exitTimes) {
        const before = frames.filter((f) => at(f) >= exit - 200 && at(f) <= exit - 60);
        expect(before.length).toBeGreaterThan(0);
        expect(before.map((f) => f.open)).toEqual(before.map(() => 0));
      }

      // An onset met a stalled process when this process's loop stalled from a frame before it to
      // the frame that should open (or the opening frame came over 1.5 frames after the one before
      // it: the frame clock was late): that is the CPU, not the sync. A sync bug moves every
      // onset, so the clean ones (all ten on a quiet machine) keep the check tight.
      const offsets = onsetOffsets(exitTimes, frames, { open: 0.2, beforeMs: 100, afterMs: 100 });
      const stalled = exitTimes.map((exit, i) => {
        if (loop.stalledMs(exit - FRAME_MS, exit + 2 * FRAME_MS) > 0) return true;
        const offset = offsets[i];
        if (offset === null || offset === undefined) return false;
        const edge = frames.findIndex((f) => Math.abs(at(f) - exit - offset) < 1e-6);
        return frames[edge]!.tMs - frames[edge - 1]!.tMs > 1.5 * FRAME_MS;
      });
      console.log(
        `onset offset (first frame with open > 0.2 minus the onset leaving the source), ms: ${offsets.map((o) => o?.toFixed(1) ?? 'none').join(', ')}; stalled: ${stalled.filter(Boolean).length}`,
      );
      expect(offsets.filter((o, i) => o === null && !stalled[i])).toEqual([]);
      const clean = (from: number, to: number) =>
        offsets.slice(from, to).filter((o, i): o is number => o !== null && !stalled[from + i]);
      expect(clean(0, 6).length).toBeGreaterThanOrEqual(2);
      expect(clean(6, 10).length).toBeGreaterThanOrEqual(1);
      // Queued audio (the back-to-back bursts): the lip sync sees the onset ahead and the mouth
      // starts opening ~10 ms early, so the frame grid (one frame) bounds the offset.
      expect(percentile(clean(0, 6).map(Math.abs), 99)).toBeLessThanOrEqual(FRAME_MS);
      // Audio arriving on an empty source plays at the source's next 10 ms tick; the sink cannot
      // show it before it arrives, so the first frame after may come a whole frame later, plus the
      // timer's own lateness (a few ms on a loaded machine).
      expect(percentile(clean(6, 10).map(Math.abs), 99)).toBeLessThanOrEqual(FRAME_MS + 5);

      // Per frame while audio flows: the position the frame shows minus the position leaving the
      // source at that moment. The source hands over whole 10 ms chunks on its tick while the sink's
      // estimate runs on continuously, so the frame may lead by up to a chunk (plus a few ms of
      // timer and callback latency); it should never trail. A video 10 ms late or 15 ms early
      // fails.
      // Frames rendered during or just after a stall of this process's loop (a loaded machine) are
      // left out: the audio-exit monitor reads the source's output on the same loop, notes it late
      // in a stall and catches up on its backlog after.
      const whileSpeaking = clockOffsets(frames, monitor);
      expect(whileSpeaking.length).toBeGreaterThan(200);
      const clock = whileSpeaking
        .filter((c) => loop.stalledMs(c.at - 3 * FRAME_MS, c.at) === 0)
        .map((c) => c.offsetMs);
      console.log(
        `clock offset (frame audioMs minus audio leaving), ms: ${describeMs(clock)}; ${whileSpeaking.length - clock.length} frames in loop stalls left out`,
      );
      expect(clock.length).toBeGreaterThan(whileSpeaking.length / 2);
      expect(percentile(clock, 1)).toBeGreaterThanOrEqual(-6);
      expect(percentile(clock, 99)).toBeLessThanOrEqual(20);
    },
  );

  it('closes the mouth on the first frame after clearBuffer()', async () => {
    const frames: FrameRecord[] = [];
    const publisher = new AvatarPublisher({
      fps: FPS,
      width: 128,
      height: 128,
      onFrame: frameRecorder(frames),
    });
    cleanups.push(() => publisher.close());
    const sink = await publisher.prepare();
    const finished: voice.PlaybackFinishedEvent[] = [];
    sink.on(voice.AudioOutput.EVENT_PLAYBACK_FINISHED, (ev: voice.PlaybackFinishedEvent) =>
      finished.push(ev),
    );
    let stop = false;
    const push = pushSegment(
      sink,
      tone(2_000),
      () => 40,
      () => stop,
    );
    // Wait until the mouth has been open for a few frames.
    const deadline = performance.now() + 3_000;
    while (frames.slice(-3).filter((f) => f.open > 0.2).length < 3) {
      expect(performance.now()).toBeLessThan(deadline);
      await sleep(5);
    }
    const before = frames.length;
    stop = true;
    sink.clearBuffer();
    await push;
    await sleep(200);

    expect(frames[before - 1]!.open).toBeGreaterThan(0.2);
    expect(frames.length).toBeGreaterThan(before);
    // Frames render on the event loop, so frames[before] is the first one after the call.
    expect(frames[before]!.open).toBe(0);
    expect(frames.slice(before).every((f) => f.open === 0)).toBe(true);
    expect(finished).toHaveLength(1);
    expect(finished[0]!.interrupted).toBe(true);
    expect(sink.pendingPlayoutSegments).toBe(0);
  });
});

/** A room stand-in: records publishTrack calls and the connection-state listeners. */
class FakeRoom implements RoomLike {
  isConnected: boolean;
  readonly published: { track: LocalTrack; options: TrackPublishOptions }[] = [];
  readonly listeners = new Set<(state: ConnectionState) => void>();
  readonly localParticipant = {
    publishTrack: async (track: LocalTrack, options: TrackPublishOptions) => {
      this.published.push({ track, options });
      return {} as LocalTrackPublication;
    },
  };

  constructor(connected: boolean) {
    this.isConnected = connected;
  }

  on(event: RoomEvent.ConnectionStateChanged, listener: (state: ConnectionState) => void): this {
    expect(event).toBe(RoomEvent.ConnectionStateChanged);
    this.listeners.add(listener);
    return this;
  }

  off(event: RoomEvent.ConnectionStateChanged, listener: (state: ConnectionState) => void): this {
    expect(event).toBe(RoomEvent.ConnectionStateChanged);
    this.listeners.delete(listener);
    return this;
  }

  /** Announce a state change, as rtc-node's Room does, then let async work settle. */
  async changeState(state: ConnectionState): Promise<void> {
    this.isConnected = state === ConnectionState.CONN_CONNECTED;
    for (const listener of [...this.listeners]) listener(state);
    await sleep(20);
  }

  get sources(): TrackSource[] {
    return this.published.map((p) => p.options.source!);
  }
}

function smallPublisher(): AvatarPublisher {
  const publisher = new AvatarPublisher({ width: 64, height: 64 });
  cleanups.push(() => publisher.close());
  return publisher;
}

describe('AvatarPublisher: frames to the video track (virtual clock)', () => {
  it('sends every frame that changed, and a still picture at 15 fps instead of 30', async () => {
    const clock = new VirtualClock();
    const frames: { frame: number; captured: boolean; pixels: string }[] = [];
    const publisher = new AvatarPublisher({
      fps: FPS,
      width: 128,
      height: 128,
      clock,
      onFrame: (f) =>
        frames.push({
          frame: f.frame,
          captured: f.captured,
          pixels: createHash('sha1').update(f.rgba).digest('hex'),
        }),
    });
    cleanups.push(() => publisher.close());
    const sink = await publisher.prepare();
    // 3 s of silence, then the agent speaks (ten bursts: the mouth moves), then 1 s of silence.
    let spoken = false;
    void (async () => {
      await clock.sleep(3000);
      for (let i = 0; i < 10; i++) await pushSegment(sink, BURST, () => 40);
      await sink.waitForPlayout();
      await clock.sleep(1000);
      spoken = true;
    })();
    await clock.runUntil(() => spoken);

    const changed = (i: number) => i === 0 || frames[i]!.pixels !== frames[i - 1]!.pixels;
    // Every change reaches the track...
    expect(frames.every((f, i) => !changed(i) || f.captured)).toBe(true);
    // ...and the track never goes two frames without one (15 fps while the picture stands still).
    const gaps = frames.slice(1).map((f, i) => (f.captured || frames[i]!.captured ? 0 : 1));
    expect(Math.max(...gaps)).toBe(0);
    // The silent first 3 s: about half the frames (the head moves a pixel now and then).
    const silent = frames.filter((f) => f.frame < 3 * FPS);
    const silentShare = silent.filter((f) => f.captured).length / silent.length;
    expect(silentShare).toBeGreaterThanOrEqual(0.5);
    expect(silentShare).toBeLessThan(0.65);
    // While speaking the mouth moves: more frames change, and all of them are sent.
    const speakingFrom = frames.findIndex((f) => f.frame >= 3 * FPS);
    const changes = (from: number, to: number) =>
      frames.slice(from, to).filter((_, i) => changed(from + i)).length;
    console.log(
      `changed frames: ${changes(0, speakingFrom)} in the silent 3 s, ${changes(speakingFrom, speakingFrom + 3 * FPS)} in the next 3 s (speaking)`,
    );
    expect(changes(speakingFrom, speakingFrom + 3 * FPS)).toBeGreaterThan(
      2 * changes(0, speakingFrom),
    );
    expect(publisher.capturedFrames).toBe(frames.filter((f) => f.captured).length);
  });
});

describe('AvatarPublisher: publishing', () => {
  it('publishes one microphone track and one camera track when the room is connected', async () => {
    const publisher = smallPublisher();
    const session = new voice.AgentSession({});
    const room = new FakeRoom(true);
    await publisher.start(session, room);

    expect(session.output.audio).toBe(publisher.sink);
    expect(room.sources).toEqual([TrackSource.SOURCE_MICROPHONE, TrackSource.SOURCE_CAMERA]);
    expect(room.published[0]!.track).toBeInstanceOf(LocalAudioTrack);
    expect(room.published[1]!.track).toBeInstanceOf(LocalVideoTrack);
    expect(room.listeners.size).toBe(0);
  });

  it('waits for CONN_CONNECTED, ignores other states, and publishes once', async () => {
    const publisher = smallPublisher();
    const session = new voice.AgentSession({});
    const room = new FakeRoom(false);
    await publisher.start(session, room);
    expect(session.output.audio).toBe(publisher.sink);
    expect(room.published).toHaveLength(0);

    await room.changeState(ConnectionState.CONN_RECONNECTING);
    await room.changeState(ConnectionState.CONN_DISCONNECTED);
    expect(room.published).toHaveLength(0);

    await room.changeState(ConnectionState.CONN_CONNECTED);
    expect(room.sources).toEqual([TrackSource.SOURCE_MICROPHONE, TrackSource.SOURCE_CAMERA]);

    await room.changeState(ConnectionState.CONN_RECONNECTING);
    await room.changeState(ConnectionState.CONN_CONNECTED);
    expect(room.published).toHaveLength(2);
    expect(room.listeners.size).toBe(0);
  });

  it('publishes nothing once closed', async () => {
    const publisher = smallPublisher();
    const room = new FakeRoom(false);
    await publisher.start(new voice.AgentSession({}), room);
    await publisher.close();
    await room.changeState(ConnectionState.CONN_CONNECTED);
    expect(room.published).toHaveLength(0);
  });

  it('rejects an unknown avatar id from prepare(), naming the ids that exist', async () => {
    const publisher = new AvatarPublisher({ avatar: 'no_such_avatar' });
    cleanups.push(() => publisher.close());
    const error = await publisher.prepare().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AvatarError);
    expect((error as Error).message).toMatch(/"no_such_avatar": unknown id \(available: default/);
    expect(() => publisher.sink).toThrow();
  });
});

describe('FrameClock (injected clock)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A clock on fake timers; `stall(ms)` makes the current tick take that long. */
  function fakeClock(fps: number, onTick?: (tick: FrameTick) => void) {
    vi.useFakeTimers();
    vi.setSystemTime(0);
    let lag = 0;
    const ticks: FrameTick[] = [];
    const errors: unknown[] = [];
    const clock = new FrameClock({
      fps,
      now: () => Date.now() + lag,
      onTick: (tick) => {
        ticks.push(tick);
        onTick?.(tick);
      },
      onError: (error) => errors.push(error),
    });
    const stall = (ms: number) => {
      lag += ms;
    };
    return { clock, ticks, errors, stall };
  }

  it('ticks on its grid', () => {
    const { clock, ticks } = fakeClock(25);
    clock.start();
    vi.advanceTimersByTime(1_000);
    clock.stop();
    vi.advanceTimersByTime(1_000);
    expect(ticks.map((t) => t.frame)).toEqual([...Array(26).keys()]);
    expect(ticks.every((t) => t.dueMs === t.frame * 40 && t.nowMs === t.dueMs)).toBe(true);
    expect(clock.skipped).toBe(0);
  });

  it('stays on a fractional grid (30 fps) without drifting', () => {
    const { clock, ticks } = fakeClock(30);
    clock.start();
    vi.advanceTimersByTime(60_000);
    clock.stop();
    expect(ticks).toHaveLength(1_801);
    for (const t of ticks) {
      expect(t.dueMs).toBeCloseTo((t.frame * 1000) / 30, 6);
      // Fake timers fire on whole milliseconds: each tick within a millisecond of its slot.
      expect(t.nowMs).toBeGreaterThanOrEqual(t.dueMs - 1);
      expect(t.nowMs).toBeLessThan(t.dueMs + 1);
    }
  });

  // A stall inside frame 5's tick (due at 200 ms) ends at 200 + stall: the slots it overran
  // are skipped; frame 6 is shown only if its slot (240-280 ms) is still current.
  it.each([
    [30, 0],
    [50, 0],
    [90, 1],
    [100, 1],
    [250, 5],
  ])(
    'after a %i ms stall skips %i frame(s) to the current slot, with no burst',
    (stallMs, skipped) => {
      const { clock, ticks, stall } = fakeClock(25, (tick) => {
        if (tick.frame === 5) stall(stallMs);
      });
      clock.start();
      vi.advanceTimersByTime(1_000);
      clock.stop();

      // Every tick shows its own slot: due no later than now, and the next slot not yet begun.
      for (const t of ticks) {
        expect(t.nowMs).toBeGreaterThanOrEqual(t.dueMs);
        expect(t.nowMs).toBeLessThan(t.dueMs + 40);
      }
      // No two frames at the same moment, frame numbers increasing, skipped ones counted.
      for (let i = 1; i < ticks.length; i++) {
        expect(ticks[i]!.nowMs).toBeGreaterThan(ticks[i - 1]!.nowMs);
        expect(ticks[i]!.frame).toBeGreaterThan(ticks[i - 1]!.frame);
      }
      const frames = ticks.map((t) => t.frame);
      expect(frames.at(-1)! + 1 - frames.length).toBe(skipped);
      expect(clock.skipped).toBe(skipped);
      // Back on the grid after the stall.
      expect(ticks.at(-1)!.nowMs).toBe(ticks.at(-1)!.dueMs);
    },
  );

  it('keeps ticking when onTick throws', () => {
    const boom = new Error('bad frame');
    const { clock, ticks, errors } = fakeClock(25, (tick) => {
      if (tick.frame === 3) throw boom;
    });
    clock.start();
    vi.advanceTimersByTime(400);
    clock.stop();
    expect(errors).toEqual([boom]);
    expect(ticks.map((t) => t.frame)).toEqual([...Array(11).keys()]);
  });

  it('rejects a frame rate out of range', () => {
    expect(() => new FrameClock({ fps: 0, onTick: () => {} })).toThrow(/fps/);
    expect(() => new FrameClock({ fps: 240, onTick: () => {} })).toThrow(/fps/);
  });
});
