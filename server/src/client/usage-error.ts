/** A mistake in how the client was invoked: one line on stderr, exit code 2, no stack trace. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "USAGE";
}
