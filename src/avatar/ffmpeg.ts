/**
 * ffmpeg, when it is on PATH: the avatar preview encodes its video with it, and the offline demo
 * muxes the call's recording into an .mp4. Nothing requires it: both fall back to .y4m + .wav.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/** ffmpeg's encoder settings per container: the video, then the audio in the mux. */
export const ENCODE = {
  '.mp4': {
    video: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p'],
    audio: ['-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart'],
  },
  '.webm': {
    video: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1'],
    audio: ['-c:a', 'libopus', '-b:a', '64k'],
  },
} as const satisfies Record<string, { video: string[]; audio: string[] }>;

/** libyuv's RGBA -> I420 is BT.601, limited range: say so, or players may guess BT.709. */
export const BT601 = ['-color_range', 'tv', '-colorspace', 'smpte170m'];

export function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

export interface Ffmpeg {
  child: ChildProcess;
  /** Resolves when ffmpeg exits 0; rejects with its last error line otherwise. */
  done: Promise<void>;
}

export function runFfmpeg(args: string[], stdin: 'pipe' | 'ignore'): Ffmpeg {
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
    stdio: [stdin, 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const why = stderr.trim().split('\n').at(-1) ?? '';
      reject(new Error(`ffmpeg exited with ${signal ?? `code ${code}`}${why ? `: ${why}` : ''}`));
    });
  });
  return { child, done };
}

/** The arguments that mux a .y4m and a .wav recorded together into an .mp4 (H.264 + AAC). */
export function muxToMp4Args(y4m: string, wav: string, mp4: string): string[] {
  return [
    ...['-i', y4m, '-i', wav, '-map', '0:v:0', '-map', '1:a:0'],
    ...ENCODE['.mp4'].video,
    ...BT601,
    ...ENCODE['.mp4'].audio,
    mp4,
  ];
}
