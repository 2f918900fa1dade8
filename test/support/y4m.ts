/**
 * A strict reader for the .y4m files the avatar writes (tests only): the header's fields, and
 * every frame checked to be `FRAME\n` plus exactly one I420 image.
 */
import { readFileSync } from 'node:fs';

export interface Y4mFile {
  header: string;
  width: number;
  height: number;
  fps: number;
  frameBytes: number;
  /** I420 bytes of each frame (views into the file). */
  frames: Uint8Array[];
}

export function readY4m(file: string): Y4mFile {
  const bytes = readFileSync(file);
  const end = bytes.indexOf(0x0a);
  if (end < 0) throw new Error(`${file}: no y4m header line`);
  const header = bytes.toString('latin1', 0, end);
  const fields = header.split(' ');
  if (fields[0] !== 'YUV4MPEG2') throw new Error(`${file}: not y4m (${header.slice(0, 20)})`);
  const field = (tag: string) => fields.find((f) => f.startsWith(tag))?.slice(1);
  const width = Number(field('W'));
  const height = Number(field('H'));
  const [num, den] = (field('F') ?? '').split(':').map(Number);
  const fps = num! / den!;
  const frameBytes = width * height + 2 * Math.ceil(width / 2) * Math.ceil(height / 2);
  const frames: Uint8Array[] = [];
  let at = end + 1;
  while (at < bytes.length) {
    if (bytes.toString('latin1', at, at + 6) !== 'FRAME\n') {
      throw new Error(`${file}: frame ${frames.length} does not start with FRAME\\n at ${at}`);
    }
    at += 6;
    if (at + frameBytes > bytes.length)
      throw new Error(`${file}: frame ${frames.length} cut short`);
    frames.push(bytes.subarray(at, at + frameBytes));
    at += frameBytes;
  }
  return { header, width, height, fps, frameBytes, frames };
}
