export * from './call_options.ts';
export * from './contexts.ts';
export * from './dispatch.ts';
export * from './errors.ts';
export * from './model_rules.ts';
export * from './models.ts';
export * from './secret.ts';
export * from './settings.ts';
