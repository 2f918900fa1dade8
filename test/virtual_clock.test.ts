/**
 * The preview's virtual time: a clock that runs its timers in order as fast as it can, and an
 * audio source that queues and plays on it the way rtc-node's AudioSource does in real time.
 */
import { AudioFrame } from '@livekit/rtc-node';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../src/avatar/clock.ts';
import { VirtualAudioSource } from '../src/avatar/virtual_audio_source.ts';

const RATE = 24_000;
const frame20ms = () => new AudioFrame(new Int16Array(480), RATE, 1, 480);

describe('VirtualClock', () => {
  it('runs timers in due order (same time: the order they were set), moving its time to each', async () => {
    const clock = new VirtualClock();
    const ran: [string, number][] = [];
    clock.setTimeout(() => ran.push(['b', clock.now()]), 30);
    clock.setTimeout(() => ran.push(['a', clock.now()]), 10);
    clock.setTimeout(() => ran.push(['c', clock.now()]), 30);
    const dropped = clock.setTimeout(() => ran.push(['dropped', clock.now()]), 20);
    clock.clearTimeout(dropped);
    await clock.runUntil(() => ran.length === 3);
    expect(ran).toEqual([
      ['a', 10],
      ['b', 30],
      ['c', 30],
    ]);
  });

  it('lets awaited work run between timers, and says when nothing is left to run', async () => {
    const clock = new VirtualClock();
    const steps: number[] = [];
    void (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(100);
        steps.push(clock.now());
      }
    })();
    await clock.runUntil(() => steps.length === 3);
    expect(steps).toEqual([100, 200, 300]);
    await expect(clock.runUntil(() => false)).rejects.toThrow(/nothing left to run/);
  });
});

describe('VirtualAudioSource', () => {
  it('takes frames while the queue has room, then one per 20 ms as it plays', async () => {
    const clock = new VirtualClock();
    const source = new VirtualAudioSource(clock, 200);
    const takenAt: number[] = [];
    let done = false;
    void (async () => {
      for (let i = 0; i < 13; i++) {
        await source.captureFrame(frame20ms());
        takenAt.push(clock.now());
      }
      done = true;
    })();
    await clock.runUntil(() => done);
    // Ten fill the 200 ms queue at once; each later one waits for 20 ms to play.
    expect(takenAt).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 40, 60]);
    expect(source.queuedDuration).toBe(200);
    clock.setTimeout(() => {}, 150);
    await clock.runUntil(() => clock.now() === 210);
    expect(source.queuedDuration).toBe(50);
  });

  it('clearQueue() drops what is queued; a frame waiting for room goes in at once', async () => {
    const clock = new VirtualClock();
    const source = new VirtualAudioSource(clock, 40);
    await source.captureFrame(frame20ms());
    await source.captureFrame(frame20ms());
    let taken = false;
    void source.captureFrame(frame20ms()).then(() => (taken = true));
    await Promise.resolve();
    expect(taken).toBe(false);
    source.clearQueue();
    await Promise.resolve();
    expect(taken).toBe(true);
    // As with rtc-node's source, the waiting frame is queued after the clear (the sink clears again).
    expect(source.queuedDuration).toBe(20);
    source.clearQueue();
    expect(source.queuedDuration).toBe(0);
  });
});
