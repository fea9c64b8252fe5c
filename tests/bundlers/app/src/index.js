// The app as docs/sdk.md shows it for webpack 5 and Vite: nothing bundler-specific; the SDK finds
// waymark.wasm beside its module (new URL('./waymark.wasm', import.meta.url)).
import waymark from 'waymark';

import { start } from './app.js';

start(waymark);
