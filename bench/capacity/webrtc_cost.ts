/**
 * The WebRTC work a call adds, estimated apart: with no LiveKit server here, rtc-node never
 * encodes the avatar's video or decodes the user's camera. This runs the same kind of work
 * through another libwebrtc build (@roamhq/wrtc, prebuilt for each platform and installed by npm
 * alone): two peer connections in this process, over loopback, one sending a VP8 video track at
 * the bitrate LiveKit would pick, the other receiving and decoding it. The CPU of each libwebrtc
 * thread is read from the kernel (/proc), so the encoder's and the decoder's threads are told
 * apart; what remains (network, pacing, SRTP) is transport, counted once per side.
 *
 * An estimate: LiveKit's libwebrtc (in rtc-node's native core) is a newer build with its own
 * settings, and it also sends lower simulcast layers (a quarter and a sixteenth of the pixels).
 */
import wrtc from '@roamhq/wrtc';
import { AvatarRenderer } from '../../src/avatar/renderer.ts';
import { LipSyncAnalyzer } from '../../src/avatar/lip_sync.ts';
import { tonePcm16 } from '../../tools/fake_gemini/server.ts';
import { cameraFrame } from '../video.ts';
import { threadCpuMs, threadCpuSince } from './reports.ts';

const { RTCPeerConnection, nonstandard } = wrtc;

export interface WebrtcCostOptions {
  width: number;
  height: number;
  fps: number;
  /** The sender's bitrate cap, bits per second. */
  bitrate: number;
  seconds: number;
  /** The frames to send, I420, looped. */
  frames: Uint8Array[];
}

export interface WebrtcCost {
  width: number;
  height: number;
  bitrate: number;
  /** CPU ms per second of video: the encoder's threads, the decoder's, and the rest. */
  encodeMsPerS: number;
  decodeMsPerS: number;
  transportMsPerS: number;
  /** Frames the receiver got, per second. */
  receivedFps: number;
  threads: Record<string, number>;
}

const ENCODER = /enc/i;
const DECODER = /dec|IncomingVideo/i;

/** Encode and decode `frames` at `fps` for `seconds` over a loopback peer connection. */
export async function webrtcCost(options: WebrtcCostOptions): Promise<WebrtcCost> {
  const { width, height, fps, bitrate, seconds, frames } = options;
  const sender = new RTCPeerConnection();
  const receiver = new RTCPeerConnection();
  const source = new nonstandard.RTCVideoSource();
  const track = source.createTrack();
  let received = 0;
  let timer: NodeJS.Timeout | undefined;
  let sink: InstanceType<typeof nonstandard.RTCVideoSink> | undefined;
  try {
    sender.onicecandidate = (e) => e.candidate && void receiver.addIceCandidate(e.candidate);
    receiver.onicecandidate = (e) => e.candidate && void sender.addIceCandidate(e.candidate);
    const gotTrack = new Promise<void>((resolve) => {
      receiver.ontrack = (e) => {
        sink = new nonstandard.RTCVideoSink(e.track);
        sink.onframe = () => received++;
        resolve();
      };
    });
    sender.addTransceiver(track, { direction: 'sendonly' });
    await sender.setLocalDescription(await sender.createOffer());
    await receiver.setRemoteDescription(sender.localDescription!);
    await receiver.setLocalDescription(await receiver.createAnswer());
    // The receiver caps the bitrate in its answer (b=AS), as a LiveKit subscriber's SFU would.
    const answer = receiver.localDescription!;
    await sender.setRemoteDescription({
      type: answer.type,
      sdp: answer.sdp.replace(/(m=video[^]*?c=IN [^\r\n]*\r\n)/, `$1b=AS:${bitrate / 1000}\r\n`),
    });
    await gotTrack;

    let index = 0;
    const send = () => source.onFrame({ width, height, data: frames[index++ % frames.length]! });
    const started = performance.now();
    timer = setInterval(send, 1000 / fps);
    // Bandwidth estimation ramps up over the first seconds: measure after it.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const before = threadCpuMs();
    const receivedBefore = received;
    const measuredFrom = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const threads = threadCpuSince(before);
    const elapsedS = (performance.now() - measuredFrom) / 1000;
    void started;
    const perS = (test: (name: string) => boolean) =>
      Object.entries(threads)
        .filter(([name]) => test(name))
        .reduce((s, [, ms]) => s + ms, 0) / elapsedS;
    const webrtcThread = (name: string) => !/^(node|MainThread|V8Worker|libuv-worker)/.test(name);
    return {
      width,
      height,
      bitrate,
      encodeMsPerS: perS((n) => webrtcThread(n) && ENCODER.test(n)),
      decodeMsPerS: perS((n) => webrtcThread(n) && DECODER.test(n)),
      transportMsPerS: perS((n) => webrtcThread(n) && !ENCODER.test(n) && !DECODER.test(n)),
      receivedFps: (received - receivedBefore) / elapsedS,
      threads: Object.fromEntries(
        Object.entries(threads).map(([name, ms]) => [name, ms / elapsedS]),
      ),
    };
  } finally {
    clearInterval(timer);
    sink?.stop();
    track.stop();
    sender.close();
    receiver.close();
  }
}

/** The avatar talking: `seconds` of frames at `fps`, the mouth following a tone's syllables. */
export async function avatarFrames(
  width: number,
  height: number,
  fps: number,
): Promise<Uint8Array[]> {
  const renderer = await AvatarRenderer.load({ kind: 'builtin', id: 'default' }, { width, height });
  const analyzer = new LipSyncAnalyzer({ sampleRate: 24_000 });
  // Syllables: 180 ms of voice, 70 ms of quiet, for 3 s.
  const syllable = tonePcm16(180, 24_000, 180);
  for (let t = 0; t < 3000; t += 250) {
    analyzer.push(syllable);
    analyzer.push(new Int16Array(24 * 70));
  }
  const rgba = new Uint8Array(width * height * 4);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 3 * fps; i++) {
    const timeMs = (i * 1000) / fps;
    renderer.render({ mouth: analyzer.stateAt(timeMs), timeMs }, rgba);
    const i420 = new Uint8Array((width * height * 3) / 2);
    nonstandard.rgbaToI420({ width, height, data: rgba }, { width, height, data: i420 });
    frames.push(i420);
  }
  return frames;
}

/** The bench's 1280x720 camera frames (I420). */
export function cameraI420(): Uint8Array[] {
  return [cameraFrame(1), cameraFrame(2), cameraFrame(3)].map((f) => new Uint8Array(f.data));
}
