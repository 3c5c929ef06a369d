/**
 * A value made when first asked for, then kept. Used for the AWS SDK clients a function needs only on
 * some paths (Scheduler, Secrets Manager, push targets): their packages are imported then, so a cold
 * start loads only the DynamoDB client. A failed attempt is not kept: the next call tries again.
 */
export function onFirstUse<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make().catch((error: unknown) => {
      made = undefined;
      throw error;
    });
    return made;
  };
}
