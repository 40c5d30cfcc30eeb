// run-e2e.mjs: runs the e2e test files with Node's test runner, one file
// at a time. Exits 77 (ctest SKIP_RETURN_CODE) when the system Chromium or
// node_modules/playwright-core is missing, so a machine without them skips
// instead of failing; otherwise it exits with the test runner's status.
// Usage: node run-e2e.mjs [test files...] (default: test/*.test.js)

import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';

if (!existsSync(chromium)) {
    console.log('e2e: SKIP: no Chromium at ' + chromium);
    process.exit(77);
}
if (!existsSync(path.join(here, 'node_modules', 'playwright-core'))) {
    console.log('e2e: SKIP: no node_modules (run npm ci in ' + here + ')');
    process.exit(77);
}

let files = process.argv.slice(2);
if (files.length === 0) {
    const dir = path.join(here, 'test');
    files = readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort()
        .map((f) => path.join(dir, f));
}

const child = spawn(process.execPath,
                    ['--test', '--test-concurrency=1', ...files],
                    { stdio: 'inherit', cwd: here });
for (const sig of ['SIGINT', 'SIGTERM'])
    process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
    process.exit(code ?? (signal ? 1 : 0));
});
