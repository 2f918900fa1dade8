# syntax=docker/dockerfile:1
# Worker image, for `docker build` and for `lk agent deploy` (LiveKit Cloud builds this file).
# Modelled on livekit-examples/agent-starter-node, with npm and its committed package-lock.json.
#
#   docker build -t gemini-avatar-worker .
#   docker run --rm --env-file worker.env gemini-avatar-worker
#
# Settings come from the environment at run time (.env.example lists them); no .env file is
# copied into the image. Docker's --env-file keeps quotes as part of the value, so give it plain
# KEY=value lines (the .env.local that `lk app env` writes quotes its values).
# Inside a container `localhost` is the container itself, so the worker's no-LIVEKIT_URL fallback
# (ws://localhost:7880) does not reach a livekit-server on the host. Set
# LIVEKIT_URL=ws://host.docker.internal:7880 plus LIVEKIT_API_KEY and LIVEKIT_API_SECRET from
# livekit.yaml (on Linux also pass --add-host=host.docker.internal:host-gateway), or use
# --network host on Linux.

# Node 22 or 24 (the worker needs >= 20.19); override with --build-arg NODE_VERSION=22.
ARG NODE_VERSION=24
FROM node:${NODE_VERSION}-slim AS base

# The LiveKit native core (Rust) reads the system trust store, which the slim image lacks.
RUN apt-get update -qq \
  && apt-get install --no-install-recommends -y ca-certificates \
  && rm -rf /var/lib/apt/lists/*

# --- Compile the TypeScript to JavaScript ---------------------------------------------------------
# Job processes that load plain JavaScript hold neither tsx (~70 MB each, plus an esbuild process)
# nor Node's type stripper (~30 MB each): docs/capacity.md. tsc needs the dev dependencies (the
# compiler and the type packages); their install scripts are not needed to compile.
FROM base AS compile
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- Install dependencies ------------------------------------------------------------------------
FROM base AS build
WORKDIR /app

# Dependency files first, so this layer is reused across code-only changes. onnxruntime-node's
# postinstall would download optional GPU binaries (the CPU ones it needs ship in the package),
# and node-av's an ffmpeg command-line binary (its decoders, which the Gemini avatar uses, ship
# in the package): package.json's allowScripts denies both on npm >= 11.19, the env vars skip
# them on older npm.
COPY package.json package-lock.json ./
ENV ONNXRUNTIME_NODE_INSTALL=skip SKIP_FFMPEG=true
# Runtime dependencies only.
RUN npm ci --omit=dev --no-audit --no-fund

# The end-of-turn model of TURN_DETECTION=livekit, as LiveKit's starter does: the multilingual
# model of @livekit/agents-plugin-livekit, fetched from Hugging Face into $HOME/.cache (HOME=/app,
# the runtime user's home, so the files travel with /app). Without them the worker falls back to
# the v1-mini model inside @livekit/local-inference. Silero's VAD model ships in its npm package.
RUN HOME=/app npx livekit-agents download-files

COPY . .
# The worker as JavaScript (dist/ mirrors src/, so avatars/ and contexts/ resolve the same).
COPY --from=compile /app/dist ./dist

# --- Runtime image -------------------------------------------------------------------------------
FROM base

# Unprivileged user (https://docs.docker.com/build/building/best-practices/#user).
ARG UID=10001
RUN useradd --uid "${UID}" --home-dir /app --create-home --shell /usr/sbin/nologin appuser

WORKDIR /app
# One COPY with --chown: no recursive chown layer over node_modules.
COPY --from=build --chown=appuser:appuser /app /app
USER appuser

ENV NODE_ENV=production \
  NPM_CONFIG_UPDATE_NOTIFIER=false

# The worker's health endpoint (http://0.0.0.0:8081/) in production mode.
EXPOSE 8081

# `npm start` compiled (dist/ from the compile stage), without npm in between: node is PID 1's only
# child process, so SIGTERM reaches the worker directly and it drains its running calls before
# exiting. Its job processes load the same JavaScript. Registers with LIVEKIT_URL, waits for jobs.
CMD ["node", "dist/agent.js", "start"]
