/**
 * LiveAvatar's example session request for its Gemini Live connector, to the letter (LITE, the
 * connector's documented defaults: Puck, 3.1, 0.8), with the ids a test holds files for.
 */
export function liveAvatarRequest(ids: { avatarId: string; secretId: string; contextId: string }) {
  return {
    mode: 'LITE',
    avatar_id: ids.avatarId,
    gemini_realtime_config: {
      secret_id: ids.secretId,
      context_id: ids.contextId,
      voice: 'Puck',
      model: 'gemini-3.1-flash-live-preview',
      temperature: 0.8,
    },
  };
}
