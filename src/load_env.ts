/**
 * Imported first by the entry points: fills in from `.env.local` / `.env` what the environment does
 * not set, before any other module runs, so variables that plugins read at import time
 * (LK_GOOGLE_DEBUG, GOOGLE_GEMINI_BASE_URL) see them.
 */
import { loadEnvFiles } from './config/settings.ts';

loadEnvFiles();
