/**
 * Throw-away directories for the data of the real servers tests start (etcd, Redis,
 * kube-apiserver's etcd, Prometheus). On /dev/shm when the machine has it: their fsyncs
 * (etcd's WAL, Redis's `appendfsync always`) then cost nothing, so a CI machine's slow or
 * shared disk does not turn into timeouts in tests that are not about the disk. A kill -9
 * keeps what was written either way (the page cache survives the process); what tmpfs
 * gives up is only a power cut, which no test here simulates. The bench keeps its Redis on
 * the real disk (`startRedis({ onDisk: true })`): its figures include the fsync.
 */
import { accessSync, constants, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SHM = "/dev/shm";

function memoryBacked(): string | undefined {
  try {
    accessSync(SHM, constants.W_OK);
    return SHM;
  } catch {
    return undefined;
  }
}

const base = process.env.EDITION_TEST_DATA_DIR ?? memoryBacked() ?? tmpdir();

/** A new directory `<prefix>XXXXXX` for a test server's data; `onDisk` forces tmpdir(). */
export function scratchDir(prefix: string, onDisk = false): string {
  return mkdtempSync(join(onDisk ? tmpdir() : base, prefix));
}
