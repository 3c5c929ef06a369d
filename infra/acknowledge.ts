import { Validations } from "aws-cdk-lib";
import type { IConstruct } from "constructs";

/**
 * Acknowledges one finding of the cdk-nag AwsSolutions pack on `scope` (and the constructs under it).
 * The reason is part of the code on purpose: a reviewer reads why the rule does not apply right where
 * the resource is defined.
 */
export function acknowledgeAwsSolutions(scope: IConstruct, finding: `AwsSolutions-${string}`, reason: string): void {
  Validations.of(scope).acknowledge({ id: finding, reason });
}
