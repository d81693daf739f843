/** The chat page's entry point, bundled by esbuild into app.js (local/web-server.ts). */
import { render } from 'preact';
import { config } from 'zod';
import { App } from './app';

// The page's CSP forbids eval: tell zod not to probe for it (the probe would log a CSP violation).
config({ jitless: true });

const root = document.getElementById('app');
if (!root) throw new Error('index.html has no #app element');
render(<App />, root);
