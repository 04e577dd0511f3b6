export function saveSnapshot(endpoint: string): Promise<Buffer>
export function checkSnapshot(file: Buffer): Buffer
export function restoreSnapshot(
  endpoint: string,
  file: Buffer,
): Promise<{ restored: boolean; message: string }>
export function describeSnapshot(file: Buffer): {
  revision: number
  compactRevision: number
  totalKeys: number
  totalSize: number
}
