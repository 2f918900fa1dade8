/**
 * What a Live API client may send, as Google documents it: zod schemas of the four bodies of
 * BidiGenerateContentClientMessage (`setup`, `clientContent`, `realtimeInput`, `toolResponse`),
 * down to every nested field, value type and enum. A message that breaks them is what Google's
 * JSON parser refuses, so the fake closes with 1007 and Google's wording:
 * `Invalid JSON payload received. Unknown name "x" at 'setup.generation_config': Cannot find field.`
 * for an unknown field, `Invalid value at 'setup.generation_config.temperature' (TYPE_FLOAT), "hot"`
 * for a value of the wrong type or an enum name that does not exist.
 *
 * Sources: ai.google.dev/api/live (BidiGenerateContentSetup and the three message bodies,
 * RealtimeInputConfig, HistoryConfig, ...), ai.google.dev/api/generate-content (Content, Part,
 * Blob, Tool, FunctionDeclaration, Schema, GenerationConfig), the Live Avatar and live transcription
 * pages for `avatarConfig` and the transcription config, and @google/genai 2.32's types and
 * converters for which backend knows which field (the SDK refuses to send a field the backend's
 * proto lacks: `explicitVadSignal` and `sessionResumption.transparent` only to Vertex AI, Google
 * Search's `timeRangeFilter` only to the Gemini API, ...). How JSON maps to the protos is
 * protobuf's JSON mapping: the lowerCamelCase and the proto (snake_case) name of a field are both
 * accepted, `null` means unset, numbers may be quoted, 64-bit integers are usually strings, bytes
 * are base64. Enums are taken by name only (the docs list names; the mapping also allows numbers,
 * which no client of ours sends).
 *
 * Which model takes which field is not here: that is the server's per-model rules (server.ts).
 */
import { z } from 'zod';

// Wire JSON is untyped by nature (as in server.ts).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export type WireBackend = 'gemini' | 'vertex';
/** The client message bodies the schema knows. */
export type WireKind = 'setup' | 'clientContent' | 'realtimeInput' | 'toolResponse';
export type WireCheck = { ok: true; value: Json } | { ok: false; reason: string };

/** Issue messages carry one of these prefixes; `describeIssue` turns them into Google's text. */
const INVALID = 'invalid:'; // + the proto type: "Invalid value at '<path>' (<type>), <value>"
const TEXT = 'text:'; // + a sentence with a {path} placeholder

/** A proto message or enum type as Google names it in errors; `{pkg}` is the backend's package. */
const typeUrl = (name: string): string =>
  `type.googleapis.com/${name.startsWith('google.protobuf.') ? '' : '{pkg}.'}${name}`;

function scalar(type: string, test: (v: unknown) => boolean): z.ZodType {
  return z.custom<unknown>(test, { error: () => INVALID + type });
}

/** Proto JSON takes numbers as JSON numbers or as strings holding one. */
function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}
const integral = (max: number) => (v: unknown) => {
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : numeric(v);
  return n !== undefined && Number.isInteger(n) && Math.abs(n) <= max;
};
/** Standard or URL-safe base64, padding optional (what proto JSON takes for `bytes`). */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

const float = (): z.ZodType => scalar('TYPE_FLOAT', (v) => numeric(v) !== undefined);
const int32 = (): z.ZodType => scalar('TYPE_INT32', integral(2 ** 31));
const int64 = (): z.ZodType => scalar('TYPE_INT64', integral(2 ** 63));
const bool = (): z.ZodType => scalar('TYPE_BOOL', (v) => typeof v === 'boolean');
const string = (): z.ZodType => scalar('TYPE_STRING', (v) => typeof v === 'string');
const bytes = (): z.ZodType => scalar('TYPE_BYTES', (v) => typeof v === 'string' && BASE64.test(v));
const protoEnum = (name: string, values: readonly string[]): z.ZodType =>
  scalar(typeUrl(name), (v) => typeof v === 'string' && values.includes(v));

/** A repeated field: a JSON array of `item`. */
function repeated(item: z.ZodType, itemType: string): z.ZodType {
  return z.array(item, { error: () => INVALID + itemType });
}

/** A map field (`map<string, V>`): a JSON object. */
function map(value: z.ZodType, name: string): z.ZodType {
  return z.record(z.string(), value, { error: () => INVALID + typeUrl(name) });
}

/** `google.protobuf.Struct`: any JSON object. */
const struct = (): z.ZodType => map(z.unknown(), 'google.protobuf.Struct');
/** `google.protobuf.Value`: any JSON. */
const value = (): z.ZodType => z.unknown();

/** A field the proto has but the Live API refuses (documented). */
const refused = (why: string): z.ZodType =>
  z.custom<never>(() => false, { error: () => `${TEXT}{path}: ${why}` });

interface MessageOptions {
  /** Fields the docs mark Required. */
  required?: readonly string[];
  /** Groups of fields of which at most one may be set (a proto `oneof`, or documented exclusion). */
  oneof?: readonly { name: string; fields: readonly string[] }[];
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * A proto message: a JSON object whose keys are its fields, by JSON name or proto name, and
 * nothing else. Parsing yields the object with JSON names and without `null`s, the shape the
 * server's rules read.
 */
function message(name: string, shape: Record<string, z.ZodType>, o: MessageOptions = {}) {
  const byProtoName = new Map(Object.keys(shape).map((k) => [snake(k), k]));
  // Every proto3 field may be absent.
  const fields = Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, s.optional()]));
  const object = z.strictObject(fields, {
    error: (issue) => (issue.code === 'invalid_type' ? INVALID + typeUrl(name) : undefined),
  });
  return z
    .preprocess((input) => jsonNames(input, byProtoName), object)
    .superRefine((msg: Record<string, unknown>, ctx) => {
      for (const field of o.required ?? []) {
        if (msg[field] === undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `${TEXT}{path}.${snake(field)}: required, but not set.`,
          });
        }
      }
      for (const group of o.oneof ?? []) {
        const set = group.fields.filter((f) => msg[f] !== undefined);
        if (set.length > 1) {
          const message = `${TEXT}{path}: Oneof field '${group.name}' is already set. Cannot set '${set[1]}'`;
          ctx.addIssue({ code: 'custom', message });
        }
      }
    });
}

/** Rename proto (snake_case) names to JSON names and drop `null` fields (proto JSON: unset). */
function jsonNames(input: unknown, byProtoName: Map<string, string>): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(input)) {
    if (v === null) continue;
    const jsonName = byProtoName.get(key) ?? key;
    out[jsonName in out ? key : jsonName] = v;
  }
  return out;
}

/** An object the docs define but none of our clients sends: only its JSON kind is checked. */
const anyMessage = (name: string): z.ZodType =>
  z.record(z.string(), z.unknown(), { error: () => INVALID + typeUrl(name) });

const MODALITIES = ['MODALITY_UNSPECIFIED', 'TEXT', 'IMAGE', 'AUDIO', 'VIDEO'];
const MEDIA_RESOLUTIONS = [
  'MEDIA_RESOLUTION_UNSPECIFIED',
  'MEDIA_RESOLUTION_LOW',
  'MEDIA_RESOLUTION_MEDIUM',
  'MEDIA_RESOLUTION_HIGH',
];
const THINKING_LEVELS = ['THINKING_LEVEL_UNSPECIFIED', 'MINIMAL', 'LOW', 'MEDIUM', 'HIGH'];
/** Gemini's Schema types (OpenAPI's, upper case). */
const TYPES = [
  'TYPE_UNSPECIFIED',
  'STRING',
  'NUMBER',
  'INTEGER',
  'BOOLEAN',
  'ARRAY',
  'OBJECT',
  'NULL',
];
const BEHAVIORS = ['UNSPECIFIED', 'BLOCKING', 'NON_BLOCKING'];
const SCHEDULING = ['SCHEDULING_UNSPECIFIED', 'SILENT', 'WHEN_IDLE', 'INTERRUPT'];
const START_SENSITIVITY = [
  'START_SENSITIVITY_UNSPECIFIED',
  'START_SENSITIVITY_HIGH',
  'START_SENSITIVITY_LOW',
];
const END_SENSITIVITY = [
  'END_SENSITIVITY_UNSPECIFIED',
  'END_SENSITIVITY_HIGH',
  'END_SENSITIVITY_LOW',
];
const ACTIVITY_HANDLING = [
  'ACTIVITY_HANDLING_UNSPECIFIED',
  'START_OF_ACTIVITY_INTERRUPTS',
  'NO_INTERRUPTION',
];
const TURN_COVERAGE = [
  'TURN_COVERAGE_UNSPECIFIED',
  'TURN_INCLUDES_ONLY_ACTIVITY',
  'TURN_INCLUDES_ALL_INPUT',
  'TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO',
];
const TRANSCRIPTION_MODES = ['MODE_UNSPECIFIED', 'VERBATIM', 'SMART'];
const HARM_CATEGORIES = [
  'HARM_CATEGORY_UNSPECIFIED',
  'HARM_CATEGORY_HARASSMENT',
  'HARM_CATEGORY_HATE_SPEECH',
  'HARM_CATEGORY_SEXUALLY_EXPLICIT',
  'HARM_CATEGORY_DANGEROUS_CONTENT',
  'HARM_CATEGORY_CIVIC_INTEGRITY',
  'HARM_CATEGORY_JAILBREAK',
  'HARM_CATEGORY_IMAGE_HATE',
  'HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT',
  'HARM_CATEGORY_IMAGE_HARASSMENT',
  'HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT',
];
const HARM_THRESHOLDS = [
  'HARM_BLOCK_THRESHOLD_UNSPECIFIED',
  'BLOCK_LOW_AND_ABOVE',
  'BLOCK_MEDIUM_AND_ABOVE',
  'BLOCK_ONLY_HIGH',
  'BLOCK_NONE',
  'OFF',
];
const PART_RESOLUTIONS = [...MEDIA_RESOLUTIONS, 'MEDIA_RESOLUTION_ULTRA_HIGH'];
/** FunctionDeclaration.name: "Must start with a letter or an underscore. Must be a-z, A-Z, 0-9,
 * or contain underscores, dots, colons and dashes, with a maximum length of 128." */
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;
/** What a Part carries: exactly one of these (proto oneof `data`). */
const PART_DATA = [
  'text',
  'inlineData',
  'fileData',
  'functionCall',
  'functionResponse',
  'executableCode',
  'codeExecutionResult',
  'toolCall',
  'toolResponse',
];

/** The four message bodies' schemas for one backend. */
function buildSchemas(backend: WireBackend): Record<WireKind, z.ZodType> {
  const gemini = backend === 'gemini';
  /** Fields one backend's proto has and the other's lacks. */
  const only = (on: WireBackend, fields: Record<string, z.ZodType>) =>
    on === backend ? fields : {};

  const blob = message(
    'Blob',
    { mimeType: string(), data: bytes(), displayName: string() },
    {
      required: ['mimeType', 'data'],
    },
  );
  const fileData = message('FileData', {
    mimeType: string(),
    fileUri: string(),
    displayName: string(),
  });
  const functionResponsePart = message(
    'FunctionResponsePart',
    {
      inlineData: message('FunctionResponseBlob', {
        mimeType: string(),
        data: bytes(),
        displayName: string(),
      }),
      fileData: message('FunctionResponseFileData', {
        mimeType: string(),
        fileUri: string(),
        displayName: string(),
      }),
      ...only('gemini', { mediaProcessing: anyMessage('MediaProcessing') }),
    },
    { oneof: [{ name: 'data', fields: ['inlineData', 'fileData'] }] },
  );
  const functionResponse = message(
    'FunctionResponse',
    {
      id: string(),
      name: string(),
      response: struct(),
      parts: repeated(functionResponsePart, typeUrl('FunctionResponsePart')),
      scheduling: protoEnum('FunctionResponse.Scheduling', SCHEDULING),
      // Vertex AI's proto lacks it; the per-model rule in server.ts says so in its own words.
      willContinue: bool(),
    },
    { required: ['name'] },
  );
  const functionCall = message('FunctionCall', {
    id: string(),
    name: string(),
    args: struct(),
    ...only('vertex', { partialArgs: repeated(anyMessage('PartialArg'), 'PartialArg') }),
    ...only('vertex', { willContinue: bool() }),
  });
  const part = message(
    'Part',
    {
      text: string(),
      inlineData: blob,
      fileData,
      functionCall,
      functionResponse,
      executableCode: anyMessage('ExecutableCode'),
      codeExecutionResult: anyMessage('CodeExecutionResult'),
      ...only('gemini', {
        toolCall: anyMessage('ToolCall'),
        toolResponse: anyMessage('ToolResponse'),
        partMetadata: struct(),
      }),
      thought: bool(),
      thoughtSignature: bytes(),
      videoMetadata: message('VideoMetadata', {
        startOffset: string(),
        endOffset: string(),
        fps: float(),
      }),
      mediaResolution: message('Part.MediaResolution', {
        level: protoEnum('Part.MediaResolution.Level', PART_RESOLUTIONS),
        numTokens: int32(),
      }),
      mediaProcessing: anyMessage('MediaProcessing'),
      speechMetadata: anyMessage('SpeechMetadata'),
    },
    { oneof: [{ name: 'data', fields: PART_DATA }] },
  ).superRefine((p: Record<string, unknown>, ctx) => {
    if (!PART_DATA.some((f) => p[f] !== undefined)) {
      const why = "required oneof field 'data' must have one initialized field";
      ctx.addIssue({ code: 'custom', message: `${TEXT}{path}: ${why}` });
    }
  });
  const content = message('Content', {
    parts: repeated(part, typeUrl('Part')),
    role: string(),
  });

  /** Gemini's Schema (an OpenAPI subset, upper-case types), as function parameters take it. */
  const schema: z.ZodType = z.lazy(() =>
    message('Schema', {
      type: protoEnum('Type', TYPES),
      format: string(),
      title: string(),
      description: string(),
      nullable: bool(),
      enum: repeated(string(), 'TYPE_STRING'),
      maxItems: int64(),
      minItems: int64(),
      properties: map(schema, 'Schema'),
      required: repeated(string(), 'TYPE_STRING'),
      minProperties: int64(),
      maxProperties: int64(),
      minLength: int64(),
      maxLength: int64(),
      pattern: string(),
      example: value(),
      anyOf: repeated(schema, typeUrl('Schema')),
      propertyOrdering: repeated(string(), 'TYPE_STRING'),
      default: value(),
      items: schema,
      minimum: float(),
      maximum: float(),
    }),
  );
  const functionDeclaration = message(
    'FunctionDeclaration',
    {
      name: string(),
      description: string(),
      behavior: protoEnum('FunctionDeclaration.Behavior', BEHAVIORS),
      parameters: schema,
      parametersJsonSchema: value(),
      response: schema,
      responseJsonSchema: value(),
    },
    {
      required: ['name'],
      oneof: [
        { name: 'parameters', fields: ['parameters', 'parametersJsonSchema'] },
        { name: 'response', fields: ['response', 'responseJsonSchema'] },
      ],
    },
  ).superRefine((d: Record<string, unknown>, ctx) => {
    if (typeof d.name === 'string' && !FUNCTION_NAME.test(d.name)) {
      const why =
        'Invalid function name. Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots, colons and dashes, with a maximum length of 128.';
      ctx.addIssue({ code: 'custom', message: `${TEXT}{path}.name: ${why}` });
    }
  });
  const googleSearch = message('Tool.GoogleSearch', {
    searchTypes: message('SearchTypes', {
      webSearch: message('WebSearch', {}),
      imageSearch: message('ImageSearch', {}),
    }),
    ...only('gemini', {
      timeRangeFilter: message('Interval', { startTime: string(), endTime: string() }),
    }),
    ...only('vertex', {
      blockingConfidence: phishBlockThreshold(),
      excludeDomains: repeated(string(), 'TYPE_STRING'),
    }),
  });
  const tool = message('Tool', {
    functionDeclarations: repeated(functionDeclaration, typeUrl('FunctionDeclaration')),
    googleSearch,
    googleSearchRetrieval: message('GoogleSearchRetrieval', {
      dynamicRetrievalConfig: message('DynamicRetrievalConfig', {
        mode: protoEnum('DynamicRetrievalConfig.Mode', ['MODE_UNSPECIFIED', 'MODE_DYNAMIC']),
        dynamicThreshold: float(),
      }),
    }),
    codeExecution: message('CodeExecution', {}),
    urlContext: message('UrlContext', {}),
    googleMaps: anyMessage('GoogleMaps'),
    computerUse: anyMessage('ComputerUse'),
    mcpServers: repeated(anyMessage('McpServer'), typeUrl('McpServer')),
    ...only('gemini', { fileSearch: anyMessage('FileSearch') }),
    ...only('vertex', {
      retrieval: anyMessage('Retrieval'),
      enterpriseWebSearch: anyMessage('EnterpriseWebSearch'),
      exaAiSearch: anyMessage('ExaAiSearch'),
      parallelAiSearch: anyMessage('ParallelAiSearch'),
    }),
  });

  const voiceConfig = message('VoiceConfig', {
    prebuiltVoiceConfig: message('PrebuiltVoiceConfig', { voiceName: string() }),
    replicatedVoiceConfig: message('ReplicatedVoiceConfig', {
      mimeType: string(),
      voiceSampleAudio: bytes(),
      ...only('gemini', {
        consentAudio: bytes(),
        voiceConsentSignature: message('VoiceConsentSignature', { signature: string() }),
      }),
    }),
    voice: string(),
  });
  const speechConfig = message('SpeechConfig', {
    voiceConfig,
    languageCode: string(),
    multiSpeakerVoiceConfig: refused(
      'multi-speaker voice config is not supported in the Live API.',
    ),
  });
  /** Refused in a Live setup (ai.google.dev/api/live, BidiGenerateContentSetup.generation_config). */
  const notLive = refused('not supported by the Live API (BidiGenerateContentSetup).');
  const generationConfig = message('GenerationConfig', {
    candidateCount: int32(),
    maxOutputTokens: int32(),
    temperature: float(),
    topP: float(),
    // The Gemini API's proto has an integer top-k, Vertex AI's a float.
    topK: gemini ? int32() : float(),
    presencePenalty: float(),
    frequencyPenalty: float(),
    seed: int32(),
    responseModalities: repeated(
      protoEnum('GenerationConfig.Modality', MODALITIES),
      typeUrl('GenerationConfig.Modality'),
    ),
    speechConfig,
    mediaResolution: protoEnum('GenerationConfig.MediaResolution', MEDIA_RESOLUTIONS),
    thinkingConfig: message('ThinkingConfig', {
      includeThoughts: bool(),
      thinkingBudget: int32(),
      thinkingLevel: protoEnum('ThinkingConfig.ThinkingLevel', THINKING_LEVELS),
    }),
    enableAffectiveDialog: bool(),
    translationConfig: message('TranslationConfig', {
      targetLanguageCode: string(),
      echoTargetLanguage: bool(),
    }),
    responseFormat: repeated(anyMessage('ResponseFormat'), typeUrl('ResponseFormat')),
    audioTranscriptionConfig: anyMessage('AudioTranscriptionConfig'),
    ...only('gemini', {
      modelSelectionConfig: anyMessage('ModelSelectionConfig'),
      enableEnhancedCivicAnswers: bool(),
    }),
    ...only('vertex', {
      modelConfig: anyMessage('ModelConfig'),
      audioTimestamp: notLive,
      routingConfig: notLive,
    }),
    responseLogprobs: notLive,
    responseMimeType: notLive,
    logprobs: notLive,
    responseSchema: notLive,
    responseJsonSchema: notLive,
    stopSequences: notLive,
  });
  const transcription = message('AudioTranscriptionConfig', {
    languageCodes: repeated(string(), 'TYPE_STRING'),
    customVocabulary: repeated(string(), 'TYPE_STRING'),
    mode: protoEnum('AudioTranscriptionConfig.Mode', TRANSCRIPTION_MODES),
    wordTimestamp: bool(),
    diarization: bool(),
    // Deprecated, still in the proto.
    languageAuto: message('LanguageAuto', {}),
    languageHints: message('LanguageHints', {
      languageCodes: repeated(string(), 'TYPE_STRING'),
    }),
    adaptationPhrases: repeated(string(), 'TYPE_STRING'),
  });
  const setup = message('BidiGenerateContentSetup', {
    model: string(),
    generationConfig,
    systemInstruction: content,
    tools: repeated(tool, typeUrl('Tool')),
    realtimeInputConfig: message('RealtimeInputConfig', {
      automaticActivityDetection: message('RealtimeInputConfig.AutomaticActivityDetection', {
        disabled: bool(),
        startOfSpeechSensitivity: protoEnum(
          'RealtimeInputConfig.AutomaticActivityDetection.StartSensitivity',
          START_SENSITIVITY,
        ),
        endOfSpeechSensitivity: protoEnum(
          'RealtimeInputConfig.AutomaticActivityDetection.EndSensitivity',
          END_SENSITIVITY,
        ),
        prefixPaddingMs: int32(),
        silenceDurationMs: int32(),
      }),
      activityHandling: protoEnum('RealtimeInputConfig.ActivityHandling', ACTIVITY_HANDLING),
      turnCoverage: protoEnum('RealtimeInputConfig.TurnCoverage', TURN_COVERAGE),
      interimTranscriptTimestampEnabled: bool(),
    }),
    sessionResumption: message('SessionResumptionConfig', {
      handle: string(),
      ...only('vertex', { transparent: bool() }),
    }),
    contextWindowCompression: message('ContextWindowCompressionConfig', {
      triggerTokens: int64(),
      slidingWindow: message('ContextWindowCompressionConfig.SlidingWindow', {
        targetTokens: int64(),
      }),
    }),
    inputAudioTranscription: transcription,
    outputAudioTranscription: transcription,
    proactivity: message('ProactivityConfig', { proactiveAudio: bool() }),
    historyConfig: message('HistoryConfig', { initialHistoryInClientContent: bool() }),
    avatarConfig: message('AvatarConfig', {
      avatarName: string(),
      customizedAvatar: message('CustomizedAvatar', {
        imageMimeType: string(),
        imageData: bytes(),
      }),
      audioBitrateBps: int32(),
      videoBitrateBps: int32(),
    }),
    safetySettings: repeated(
      message('SafetySetting', {
        category: protoEnum('HarmCategory', HARM_CATEGORIES),
        threshold: protoEnum('SafetySetting.HarmBlockThreshold', HARM_THRESHOLDS),
        ...only('vertex', {
          method: protoEnum('SafetySetting.HarmBlockMethod', [
            'HARM_BLOCK_METHOD_UNSPECIFIED',
            'SEVERITY',
            'PROBABILITY',
          ]),
        }),
      }),
      typeUrl('SafetySetting'),
    ),
    labels: map(string(), 'BidiGenerateContentSetup.LabelsEntry'),
    ...only('vertex', { explicitVadSignal: bool() }),
  });
  const clientContent = message('BidiGenerateContentClientContent', {
    turns: repeated(content, typeUrl('Content')),
    turnComplete: bool(),
  });
  const realtimeInput = message('BidiGenerateContentRealtimeInput', {
    mediaChunks: repeated(blob, typeUrl('Blob')),
    audio: blob,
    video: blob,
    text: string(),
    activityStart: message('BidiGenerateContentRealtimeInput.ActivityStart', {}),
    activityEnd: message('BidiGenerateContentRealtimeInput.ActivityEnd', {}),
    audioStreamEnd: bool(),
  });
  const toolResponse = message('BidiGenerateContentToolResponse', {
    functionResponses: repeated(functionResponse, typeUrl('FunctionResponse')),
  });
  return { setup, clientContent, realtimeInput, toolResponse };
}

/** Vertex AI's `GoogleSearch.blockingConfidence`. */
function phishBlockThreshold(): z.ZodType {
  return protoEnum('Tool.PhishBlockThreshold', [
    'PHISH_BLOCK_THRESHOLD_UNSPECIFIED',
    'BLOCK_LOW_AND_ABOVE',
    'BLOCK_MEDIUM_AND_ABOVE',
    'BLOCK_HIGH_AND_ABOVE',
    'BLOCK_HIGHER_AND_ABOVE',
    'BLOCK_VERY_HIGH_AND_ABOVE',
    'BLOCK_ONLY_EXTREMELY_HIGH',
  ]);
}

const SCHEMAS: Record<WireBackend, Record<WireKind, z.ZodType>> = {
  gemini: buildSchemas('gemini'),
  vertex: buildSchemas('vertex'),
};

const KINDS: readonly (WireKind | 'contextUpdate')[] = [
  'setup',
  'clientContent',
  'realtimeInput',
  'toolResponse',
  'contextUpdate',
];

/** What a client message's one field (by JSON or proto name) carries; undefined: no such field. */
export function clientMessageKind(field: string): WireKind | 'contextUpdate' | undefined {
  return KINDS.find((kind) => kind === field || snake(kind) === field);
}

/** The proto package a backend's errors name types in. */
function protoPackage(backend: WireBackend, apiVersion: string): string {
  return backend === 'gemini'
    ? `google.ai.generativelanguage.${apiVersion}`
    : `google.cloud.aiplatform.${apiVersion}`;
}

/**
 * Check one client message body against the backend's schema. On success `value` is the body with
 * JSON field names and no `null`s; on failure `reason` is the first problem in Google's words.
 */
export function checkClientMessage(
  kind: WireKind,
  body: unknown,
  backend: WireBackend,
  apiVersion: string,
): WireCheck {
  const result = SCHEMAS[backend][kind].safeParse(body, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0]!;
  return { ok: false, reason: describeIssue(issue, kind, body, protoPackage(backend, apiVersion)) };
}

/** Google's text for one issue. */
function describeIssue(
  issue: z.core.$ZodIssue,
  kind: WireKind,
  body: unknown,
  pkg: string,
): string {
  const path = protoPath(snake(kind), issue.path, body);
  if (issue.code === 'unrecognized_keys') {
    return `Invalid JSON payload received. Unknown name "${issue.keys[0]}" at '${path}': Cannot find field.`;
  }
  const { message } = issue;
  if (message.startsWith(TEXT)) return message.slice(TEXT.length).replace('{path}', path);
  const type = message.startsWith(INVALID) ? message.slice(INVALID.length) : 'unknown';
  const input = 'input' in issue ? issue.input : undefined;
  if (Array.isArray(input) && issue.code === 'invalid_type' && issue.expected !== 'array') {
    const field = String(issue.path.at(-1) ?? kind);
    const parent = protoPath(snake(kind), issue.path.slice(0, -1), body);
    return `Invalid JSON payload received. Unknown name "${field}" at '${parent}': Proto field is not repeating, cannot start list.`;
  }
  return `Invalid value at '${path}' (${type.replace('{pkg}', pkg)}), ${shown(input)}`;
}

/** Map fields: their entries show in paths as `name[i].value`, as Google prints them. */
const MAP_FIELDS = new Set(['properties', 'labels']);

/** `setup.tools[0].function_declarations[0].parameters.properties[1].value.type` */
function protoPath(root: string, path: readonly PropertyKey[], body: unknown): string {
  let out = root;
  let node: Json = body;
  let inMap = false;
  for (const key of path) {
    if (typeof key === 'number') {
      out += `[${key}]`;
    } else if (inMap) {
      const index = node && typeof node === 'object' ? Object.keys(node).indexOf(String(key)) : -1;
      out += `[${index}].value`;
    } else {
      out += `.${snake(String(key))}`;
    }
    inMap = !inMap && typeof key === 'string' && MAP_FIELDS.has(key);
    node =
      node && typeof node === 'object'
        ? (node[key as string] ?? node[snake(String(key))])
        : undefined;
  }
  return out;
}

/** A value as Google quotes it in an error: JSON, cut short. */
function shown(input: unknown): string {
  const text = JSON.stringify(input) ?? String(input);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
