import type { APIGatewayProxyEventV2, Context } from "aws-lambda";
import { httpHandler } from "./apigw.js";
import { getApp } from "./runtime.js";
import { handler as fireSchedule, isScheduleFiring } from "./schedule-target.js";

const http = httpHandler(getApp);

/**
 * API Gateway HTTP API → the shared router (the stack routes only the publish paths here); also the
 * target of users' recurring schedules, whose firings EventBridge Scheduler sends as plain events.
 */
export const handler = async (event: APIGatewayProxyEventV2 | unknown, context?: Partial<Context>) =>
  isScheduleFiring(event) ? fireSchedule(event, context) : http(event as APIGatewayProxyEventV2, context);
