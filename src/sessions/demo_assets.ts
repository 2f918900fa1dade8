/**
 * The demo page's files, read once at start: the page, its script and style from demo/, and
 * livekit-client's browser build from node_modules (no bundler, no CDN).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  type: string;
  body: Buffer;
}

const DEMO_DIR = fileURLToPath(new URL('./demo/', import.meta.url));

/**
 * The page loads only its own files and connects to any LiveKit server (the URL comes from the
 * start answer), so scripts and styles are 'self' and connections are open.
 */
export const DEMO_PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self' ws: wss: http: https:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

function livekitClientPath(): string {
  const require = createRequire(import.meta.url);
  // The package's main file is in dist/, beside the UMD build.
  return path.join(path.dirname(require.resolve('livekit-client')), 'livekit-client.umd.js');
}

export function loadDemoAssets(): Map<string, Asset> {
  const file = (name: string) => readFileSync(path.join(DEMO_DIR, name));
  return new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: file('index.html') }],
    ['/demo.js', { type: 'text/javascript; charset=utf-8', body: file('demo.js') }],
    ['/demo.css', { type: 'text/css; charset=utf-8', body: file('demo.css') }],
    [
      '/vendor/livekit-client.umd.js',
      { type: 'text/javascript; charset=utf-8', body: readFileSync(livekitClientPath()) },
    ],
  ]);
}
