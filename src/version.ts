import { createRequire } from 'node:module';

// Works from src/ (tests) and dist/ (built): package.json sits one level up from both.
const pkg = createRequire(import.meta.url)('../package.json') as { version: string };

export const VERSION: string = pkg.version;
