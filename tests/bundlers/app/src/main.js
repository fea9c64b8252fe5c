// The app as docs/sdk.md shows it for esbuild: the .wasm imported through esbuild's `file` loader
// (--loader:.wasm=file copies it into the output folder; the import is its URL) and passed to init.
import waymark from 'waymark';
import wasmUrl from 'waymark/waymark.wasm';

import { start } from './app.js';

start(waymark, { wasmUrl });
