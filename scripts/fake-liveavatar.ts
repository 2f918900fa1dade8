/**
 * Run the fake LiveAvatar API on its own, to try a LiveAvatar avatar with no LiveAvatar account:
 * `npm run fake-liveavatar`, then in another shell (with the fake Gemini server too)
 * `LIVEAVATAR_API_URL=<printed url> LIVEAVATAR_API_KEY=fake-liveavatar-api-key npm run console --
 *  --input test/fixtures/hello.wav --metadata '{"avatar_id":"<any UUID>"}'`.
 * It plays the audio it is sent in real time and prints each session's commands as they come.
 */

import { parseOptionsOrExit } from '../src/cli_io.ts';
import { DEFAULT_API_KEY, FakeLiveAvatarServer } from '../tools/fake_liveavatar/server.ts';

const USAGE = 'usage: npm run fake-liveavatar (no options; stop it with Ctrl-C)';

parseOptionsOrExit(process.argv.slice(2), {}, 'fake-liveavatar', USAGE);

const fake = await FakeLiveAvatarServer.start();
process.stdout.write(
  `fake LiveAvatar listening: LIVEAVATAR_API_URL=${fake.baseUrl} LIVEAVATAR_API_KEY=${DEFAULT_API_KEY}\n`,
);
let printed = 0;
const report = setInterval(() => {
  const commands = fake.commands;
  for (const c of commands.slice(printed)) {
    const audio = c.audio ? ` ${((c.audio.length / 24_000) * 1000).toFixed(0)} ms` : '';
    process.stdout.write(
      `${c.session.slice(0, 8)} ${c.type}${audio}${c.dropped ? ' (dropped)' : ''}\n`,
    );
  }
  printed = commands.length;
}, 250);
const stop = () => {
  clearInterval(report);
  void fake.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
