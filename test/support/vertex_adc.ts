/**
 * Vertex AI sign-in offline: a workload identity federation (`external_account`) credentials
 * file, as GOOGLE_APPLICATION_CREDENTIALS names it. google-auth-library reads the subject token
 * from `subjectTokenFile` and exchanges it at `tokenUrl` (the fake server's STS endpoint) for the
 * access token the fake's Vertex endpoint requires.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** Writes `<dir>/<name>` and returns its path. */
export function writeWorkloadCredentials(
  dir: string,
  name: string,
  tokenUrl: string,
  subjectTokenFile: string,
): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    JSON.stringify({
      type: 'external_account',
      audience:
        '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/worker',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: tokenUrl,
      credential_source: { file: subjectTokenFile },
    }),
  );
  return file;
}
