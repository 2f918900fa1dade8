/**
 * Imported first by the entry points: loads `.env` / `.env.local` before any other module runs,
 * so variables that plugins read at import time (LK_GOOGLE_DEBUG, GOOGLE_GEMINI_BASE_URL) see them.
 */
import { loadEnvFiles } from './config/settings.ts';

loadEnvFiles();
