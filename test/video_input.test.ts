/**
 * Gemini sees the user, end to end and offline: the call's session with the real plugin and SDK
 * against the fake Gemini Live server, a paced camera of 1280x720 I420 frames, and the user's
 * speech from the microphone. The fake records each `realtimeInput.video` frame (time, mime type,
 * bytes, JPEG size) and closes the socket with 1007 on video for a model that takes none.
 */
import { VideoBufferType, VideoFrame } from '@livekit/rtc-node';
import { afterEach, describe, expect, it } from 'vitest';
import { MIC_RATE, OfflineCall } from '../src/console/offline_call.ts';
import { createCallSession } from '../src/session.ts';
import { geminiFrameSink } from '../src/video/gemini_sink.ts';
import { encodeJpeg } from '../src/video/jpeg.ts';
import { PacedFrameSource } from '../src/video/paced_frames.ts';
import { VideoInput } from '../src/video/video_input.ts';
import {
  type Harness,
  TEST_API_KEY,
  quietLogger,
  startHarness,
  testSettings,
} from './support/call_harness.ts';
import { FakeGeminiServer, type FakeVideoFrame, tonePcm16 } from '../tools/fake_gemini/server.ts';

const M25 = 'gemini-2.5-flash-native-audio-preview-12-2025';
const M31 = 'gemini-3.1-flash-live-preview';
const CAMERA_FPS = 15;

/** One 1280x720 camera frame in the I420 layout WebRTC delivers. */
const FRAME = (() => {
  const [w, h] = [1280, 720];
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    rgba.set([(i % w) & 255, (i / w / 3) & 255, 90, 255], i * 4);
  }
  return new VideoFrame(rgba, w, h, VideoBufferType.RGBA).convert(VideoBufferType.I420);
})();

/** A camera that delivers FRAME at CAMERA_FPS; `frames` bounds it (then it ends). */
function camera(frames = Infinity) {
  let left = frames;
  return new PacedFrameSource(CAMERA_FPS, () => (left-- > 0 ? FRAME : undefined));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the first Gemini socket is set up (frames before that are dropped by design). */
async function connected(fake: FakeGeminiServer) {
  await fake.waitFor((f) => f.sent.some((s) => 'setupComplete' in s.msg), 10_000, 'setupComplete');
  await sleep(100);
}

function framesBetween(fake: FakeGeminiServer, from: number, to: number): FakeVideoFrame[] {
  return fake.videoFrames.filter((f) => f.at >= from && f.at < to);
}

function gaps(frames: FakeVideoFrame[]): number[] {
  return frames.slice(1).map((f, i) => Math.round(f.at - frames[i]!.at));
}

/** The mean wait between frames: a late frame and the early one after it even out. */
const meanGap = (frames: { at: number }[]) =>
  Math.round((frames.at(-1)!.at - frames[0]!.at) / (frames.length - 1));

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('video input to Gemini', () => {
  it('on 2.5 sends JPEG frames at the speaking rate while the user speaks, the idle rate otherwise, none after the track ends', async () => {
    h = await startHarness({
      env: {
        GEMINI_MODEL: M25,
        AGENT_GREETING: '',
        VIDEO_SPEAKING_INTERVAL_MS: '250',
        VIDEO_IDLE_INTERVAL_MS: '1000',
      },
    });
    const { fake, call } = h;
    await connected(fake);
    const source = camera(Math.round(6.5 * CAMERA_FPS));
    let endedAt = Infinity;
    const video = call.call.video;
    video.useSource({
      start: (onFrame, onEnd) =>
        source.start(onFrame, () => {
          endedAt = performance.now();
          onEnd();
        }),
      stop: () => source.stop(),
    });
    const t0 = performance.now();
    await sleep(2600); // silent: one frame a second
    const t1 = performance.now();
    await call.say(tonePcm16(2000, MIC_RATE)); // speaking: four a second
    const t2 = performance.now();
    await sleep(1500); // silence again, then the camera ends (6.5 s)
    await fake.waitFor(() => endedAt < Infinity, 5000, 'camera end');
    await sleep(1200);

    const silent = framesBetween(fake, t0, t1);
    // The detector turns on 100 ms into the speech and off 600 ms after it.
    const speaking = framesBetween(fake, t1 + 150, t2 + 550);
    console.log(
      `video rates: silent ${silent.length} frames in ${Math.round(t1 - t0)} ms (gaps ${gaps(silent).join(', ')}); ` +
        `speaking ${speaking.length} frames in ${Math.round(t2 + 400 - t1)} ms (mean gap ${meanGap(speaking)} ms, gaps ${gaps(speaking).join(', ')})`,
    );
    expect(silent.length).toBeGreaterThanOrEqual(2);
    expect(silent.length).toBeLessThanOrEqual(4);
    // Arrival gaps: a frame held up by its encode or a busy loop shortens the gap after it by as
    // much; 900 ms still fails a faster idle rate (the next step down is 500 ms).
    for (const gap of gaps(silent)) expect(gap).toBeGreaterThanOrEqual(900);
    expect(speaking.length).toBeGreaterThanOrEqual(6);
    // Four a second (the camera gives 15, the idle rate is one): arrival gaps jitter on a loaded
    // machine (a frame held up by its encode is followed by one sooner), their mean does not.
    expect(meanGap(speaking)).toBeGreaterThanOrEqual(225);
    expect(meanGap(speaking)).toBeLessThanOrEqual(400);

    const all = fake.videoFrames;
    for (const frame of all) {
      expect(frame.mimeType).toBe('image/jpeg');
      expect([frame.width, frame.height]).toEqual([1024, 576]);
      expect(frame.bytes).toBeLessThan(200_000);
    }
    expect(all.filter((f) => f.at > endedAt + 50)).toEqual([]);
    expect(video.stats).toMatchObject({ sent: all.length, encodeErrors: 0 });
    expect(fake.connections.filter((c) => c.closedBy === 'server')).toEqual([]);
  });

  it('on 3.1 (every frame counts toward the turn) sends frames only while the user speaks', async () => {
    h = await startHarness({
      env: { GEMINI_MODEL: M31, AGENT_GREETING: '', VIDEO_SPEAKING_INTERVAL_MS: '250' },
    });
    const { fake, call } = h;
    await connected(fake);
    call.call.video.useSource(camera());
    const t0 = performance.now();
    await sleep(2000);
    const t1 = performance.now();
    await call.say(tonePcm16(1500, MIC_RATE));
    await sleep(1000);
    expect(framesBetween(fake, t0, t1)).toEqual([]);
    const spoken = framesBetween(fake, t1, performance.now());
    expect(spoken.length).toBeGreaterThanOrEqual(4);
    expect(spoken.every((f) => f.mimeType === 'image/jpeg')).toBe(true);
    expect(fake.connections.filter((c) => c.closedBy === 'server')).toEqual([]);
  });

  it('drops frames under a slow encoder instead of queueing them, and the audio keeps its pace', async () => {
    h = await startHarness({
      env: { GEMINI_MODEL: M25, AGENT_GREETING: '', VIDEO_SPEAKING_INTERVAL_MS: '100' },
    });
    const { fake, call } = h;
    await connected(fake);
    const slow = new VideoInput({
      settings: h.settings,
      model: call.call.model,
      session: call.call.session,
      encode: async (frame, options) => {
        await sleep(400);
        return encodeJpeg(frame, options);
      },
    });
    slow.useSource(camera());
    const t0 = performance.now();
    await call.say(tonePcm16(2000, MIC_RATE));
    const t1 = performance.now();
    await slow.close();
    const sent = framesBetween(fake, t0, t1 + 500);
    // Ten due frames a second, one encode per 400 ms: about five sent, the rest dropped.
    expect(sent.length).toBeLessThanOrEqual(7);
    expect(slow.stats!.droppedBusy).toBeGreaterThan(5);
    expect(slow.stats!.sent).toBe(sent.length);
    const audio = fake.received
      .filter((r) => r.msg.realtimeInput?.audio && r.at >= t0 && r.at < t1)
      .map((r) => r.at);
    const audioGaps = audio.slice(1).map((at, i) => at - audio[i]!);
    expect(audio.length).toBeGreaterThan(30);
    expect(Math.max(...audioGaps)).toBeLessThan(250);
  });
});

describe('video input through a Gemini outage', () => {
  it('drops the frames due while the socket is down instead of sending them late', async () => {
    h = await startHarness({
      env: { GEMINI_MODEL: M25, AGENT_GREETING: '', VIDEO_SPEAKING_INTERVAL_MS: '250' },
    });
    const { fake, call } = h;
    await connected(fake);
    // The call's own sink, with each frame's outcome noted when the pipeline hands it over.
    const real = geminiFrameSink(call.call.model);
    const handed: { at: number; outcome: string }[] = [];
    const video = new VideoInput({
      settings: h.settings,
      model: call.call.model,
      session: call.call.session,
      sink: (frame) => {
        const outcome = real(frame);
        handed.push({ at: performance.now(), outcome });
        return outcome;
      },
    });
    video.useSource(camera());
    const speech = call.say(tonePcm16(4000, MIC_RATE));
    await sleep(1200);
    // The socket drops and the next three connection attempts are refused (backoff ~700 ms).
    fake.inject({ at: 'connect', do: { type: 'refuse', attempts: 3 } });
    const downAt = performance.now();
    fake.connections[0]!.close(1011, 'Internal error encountered.');
    await fake.waitFor(
      (f) => f.connections.length >= 2 && !!f.connections[1]!.setup,
      10_000,
      'reconnect',
    );
    await speech;
    await sleep(700);
    await video.close();
    const upAt = fake.sent.find((s) => s.conn === 1 && 'setupComplete' in s.msg)!.at;
    const stats = video.stats!;
    expect(upAt - downAt).toBeGreaterThan(400);
    // Due frames met no socket: dropped and counted.
    expect(stats.unsent.not_connected ?? 0).toBeGreaterThan(0);
    // None was kept for the new socket: it got exactly the frames handed over once it was up,
    // as they were handed over (compared by count and order of outcome, not by arrival times,
    // which a loaded machine bunches).
    const sentOnNew = handed.filter((f) => f.at > upAt && f.outcome === 'sent');
    expect(sentOnNew.length).toBeGreaterThan(3);
    // The last frame sent may still be on its way through the socket.
    const after = fake.connections[1]!.videoFrames;
    await fake
      .waitFor(() => after.length >= sentOnNew.length, 2000, 'the frames sent on the new socket')
      .catch(() => undefined);
    expect(after).toHaveLength(sentOnNew.length);
    expect(fake.videoFrames.filter((f) => f.at > downAt && f.at < upAt)).toEqual([]);
  });
});

describe('a model whose row takes no video', () => {
  it('gets no frames (the plan says why), while the fake would refuse one with 1007', async () => {
    quietLogger();
    const fake = await FakeGeminiServer.start({ apiKey: TEST_API_KEY });
    // No real Live model refuses video: the fake's test-only model does, run with the 2.5 rules
    // (GEMINI_MODEL_RULES) and the row's video column turned off, as a row without video reads.
    const base = testSettings(fake, {
      GEMINI_MODEL: 'fake-live-audio-only',
      GEMINI_MODEL_RULES: M25,
      AGENT_GREETING: '',
    });
    const settings = { ...base, capabilities: { ...base.capabilities, videoInput: false } };
    const session = await createCallSession({ settings, echoFree: true, outputCanPause: false });
    const call = await OfflineCall.start(session);
    try {
      await connected(fake);
      expect(session.video.plan).toMatchObject({
        enabled: false,
        reason: 'fake-live-audio-only does not take video input (its row in the model table)',
      });
      session.video.useSource(camera());
      await call.say(tonePcm16(1000, MIC_RATE));
      await sleep(800);
      expect(fake.videoFrames).toEqual([]);
      expect(fake.connections.filter((c) => c.closedBy === 'server')).toEqual([]);

      // The control: a frame sent anyway is refused the way Google refuses it.
      const frame = await encodeJpeg(FRAME, { maxSize: 256, quality: 50 });
      expect(geminiFrameSink(session.model)(frame)).toBe('sent');
      await fake.waitFor((f) => f.connections[0]!.closedBy === 'server', 5000, '1007');
      expect(fake.connections[0]).toMatchObject({
        closeCode: 1007,
        closeReason: 'Video input is not supported for models/fake-live-audio-only.',
      });
    } finally {
      await call.close();
      await fake.close();
    }
  });
});
