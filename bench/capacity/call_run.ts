/**
 * The call a capacity-bench job process runs (bench/capacity/job_process.ts imports this only once
 * its job starts, so the idle process it reports on holds what a worker's job process holds).
 */
import type { Track } from '@livekit/rtc-node';
import { avatarPublisherFor } from '../../src/avatar/from_settings.ts';
import { loadSettings } from '../../src/config/settings.ts';
import { MIC_RATE, OfflineCall } from '../../src/console/offline_call.ts';
import { createCallSession } from '../../src/session.ts';
import { TrackFrames } from '../../src/video/track_frames.ts';
import { tonePcm16 } from '../../tools/fake_gemini/server.ts';
import {
  type FrameRecord,
  StampingOutput,
  TrackCatcher,
  clockOffsets,
  frameRecorder,
} from '../av_offset.ts';
import { CameraTrackStandIn } from '../camera_track.ts';
import { cameraFrame } from '../video.ts';
import { AudioExitLog } from './audio_exits.ts';
import {
  type CallReport,
  USER_SPEECH_MS,
  memoryFigures,
  threadCpuMs,
  threadCpuSince,
  wallMs,
} from './reports.ts';

const CAMERA_FPS = 30;

export async function runCall(durationMs: number): Promise<CallReport> {
  const settings = loadSettings(process.env);
  const call = await createCallSession({ settings, echoFree: true, outputCanPause: false });
  const frames: FrameRecord[] = [];
  const frameDelaysMs: number[] = [];
  const record = frameRecorder(frames);
  const frameMs = 1000 / settings.avatar.fps;
  const publisher = avatarPublisherFor(settings, {
    onFrame: (f) => {
      record(f);
      frameDelaysMs.push(f.tMs - f.frame * frameMs);
    },
  });
  if (!publisher) throw new Error('the capacity bench needs AVATAR_ENABLED=true');
  const room = new TrackCatcher();
  await publisher.start(call.session, room);
  const exits = new AudioExitLog(room.audioTrack);
  const replies: [number, number, number][][] = [[]];
  let captured = 0;
  const sink = publisher.sink;
  const stamper = new StampingOutput(sink, {
    onCapture: (samples) => {
      // Audio queued in the source when this frame arrived: near full, the sink held it back.
      const queuedMs = ((captured - sink.playedSamples) * 1000) / sink.rate;
      captured += samples;
      replies.at(-1)!.push([wallMs(), samples, queuedMs]);
    },
    onFlush: (position) => {
      exits.replyEnded(position);
      replies.push([]);
    },
  });
  const offline = await OfflineCall.start(call, { speaker: stamper });
  // The user's camera as a room track: I420, as rtc-node hands over a WebRTC camera's decoded
  // frames (1.4 MB each), read by the worker's own track reader as in a room.
  const camera = new CameraTrackStandIn([1, 2, 3].map(cameraFrame), CAMERA_FPS);
  const pipeline = call.video.pipeline;
  if (!pipeline) throw new Error('video input is off in these settings');
  pipeline.startTrack();
  const cameraReader = new TrackFrames({
    track: {} as Track,
    pipeline,
    openStream: camera.openStream,
  });
  cameraReader.start();

  const words = tonePcm16(USER_SPEECH_MS, MIC_RATE);
  let turns = 0;
  let unanswered = 0;
  const cpuStart = process.cpuUsage();
  const threadsStart = threadCpuMs();
  const started = performance.now();
  // RSS once a second: a single reading at the end lands before or after a GC, tens of MB apart.
  const rssMb: number[] = [];
  const rssTimer = setInterval(() => rssMb.push(process.memoryUsage.rss() / 2 ** 20), 1000);
  try {
    while (performance.now() - started < durationMs) {
      const from = offline.events.events.length;
      await offline.say(words);
      const answered = await offline.untilAnswered({
        deadline: Date.now() + 30_000,
        since: from,
        settleMs: 200,
      });
      if (answered) turns++;
      else unanswered++;
    }
    const callMs = performance.now() - started;
    const used = process.cpuUsage(cpuStart);
    const cpuMs = (used.user + used.system) / 1000;
    const threadsCpuMs = threadCpuSince(threadsStart);
    const end = memoryFigures();
    clearInterval(rssTimer);
    return {
      type: 'result',
      callMs,
      cpuMs,
      end,
      rssMb,
      turns,
      unanswered,
      frames: frames.length,
      capturedFrames: publisher.capturedFrames,
      skipped: publisher.skippedFrames,
      lateHalf: frameDelaysMs.filter((d) => d > frameMs / 2).length,
      frameDelaysMs,
      dryChunks: exits.dryChunks,
      avOffsetsMs: clockOffsets(frames, exits).map((c) => Math.abs(c.offsetMs)),
      replies: replies.filter((r) => r.length > 0),
      threadsCpuMs,
      cameraFrames: camera.produced,
      cameraFramesRead: camera.copied,
      jpegsSent: call.video.stats?.sent ?? 0,
    };
  } finally {
    clearInterval(rssTimer);
    cameraReader.stop();
    camera.stop();
    await exits.close();
    await offline.close();
    await publisher.close();
  }
}
