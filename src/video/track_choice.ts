/**
 * Which of the user's video sources Gemini sees. `auto` prefers a screen share while there is one
 * (what the user shows on purpose), else the camera.
 */
import type { VideoSource } from '../config/call_options.ts';

export type VideoKind = 'camera' | 'screen';

export function chooseVideoSource(
  available: Readonly<Record<VideoKind, boolean>>,
  mode: VideoSource,
): VideoKind | undefined {
  switch (mode) {
    case 'off':
      return undefined;
    case 'camera':
    case 'screen':
      return available[mode] ? mode : undefined;
    case 'auto':
      return available.screen ? 'screen' : available.camera ? 'camera' : undefined;
  }
}
