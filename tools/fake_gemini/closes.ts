/**
 * Which server closes a test or the soak did not script: a close the fake made for a rule the
 * client broke (1007), where no fault explains it.
 */
import { type FaultAction, type FaultSpec, HANDLE_EXPIRED } from './faults.ts';
import type { FakeConnection, FakeGeminiServer } from './server.ts';

/**
 * Sockets the server closed that no scripted fault explains (a rule break closes with 1007), as
 * `#index code reason`; `allowed`: connection indexes a test expects the server to close. A fault
 * explains a close only on its own connection and with its own code (a `close`, or a `go_away`
 * whose deadline passed); a refused resumption explains a 1007 only after handles were expired.
 */
export function unscriptedCloses(fake: FakeGeminiServer, allowed: number[] = []): string[] {
  const expired = fake.faults.some((f) =>
    actionsOf(f.spec).some((a) => a.type === 'expire_handles'),
  );
  const explained = (c: FakeConnection): boolean => {
    if (expired && c.closeCode === 1007 && c.closeReason === HANDLE_EXPIRED) return true;
    return fake.faults
      .filter((f) => f.connection === c.index)
      .flatMap((f) => actionsOf(f.spec))
      .some(
        (a) =>
          (a.type === 'close' && a.code === c.closeCode) ||
          (a.type === 'go_away' && (a.closeCode ?? 1011) === c.closeCode),
      );
  };
  return fake.connections
    .filter((c) => c.closedBy === 'server' && !allowed.includes(c.index) && !explained(c))
    .map((c) => `#${c.index} ${c.closeCode} ${c.closeReason}`);
}

function actionsOf(spec: FaultSpec): readonly FaultAction[] {
  return Array.isArray(spec.do) ? spec.do : [spec.do as FaultAction];
}
