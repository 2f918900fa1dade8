/**
 * The LiveKit token handed to the user: one room, the grants a participant needs and no more,
 * a short lifetime (LiveKit refreshes a joined participant's token itself).
 */
import { randomBytes } from 'node:crypto';
import { AccessToken, TrackSource, type VideoGrant } from 'livekit-server-sdk';
import type { Secret } from '../config/secret.ts';

/** What a user may publish: speech, and video for Gemini to see (camera or screen). */
const USER_SOURCES = [
  TrackSource.MICROPHONE,
  TrackSource.CAMERA,
  TrackSource.SCREEN_SHARE,
  TrackSource.SCREEN_SHARE_AUDIO,
];

export interface ClientTokenOptions {
  apiKey: Secret;
  apiSecret: Secret;
  room: string;
  ttlMs: number;
}

export function mintClientToken(options: ClientTokenOptions): Promise<string> {
  const token = new AccessToken(options.apiKey.reveal(), options.apiSecret.reveal(), {
    identity: `user-${randomBytes(6).toString('hex')}`,
    name: 'user',
    ttl: Math.ceil(options.ttlMs / 1000),
  });
  const grant: VideoGrant = {
    roomJoin: true,
    room: options.room,
    canSubscribe: true,
    canPublish: true,
    canPublishSources: USER_SOURCES,
    // Typed input to the agent (lk.chat) goes as a data stream.
    canPublishData: true,
    canUpdateOwnMetadata: false,
  };
  token.addGrant(grant);
  return token.toJwt();
}
