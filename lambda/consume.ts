import { httpHandler } from "./apigw.js";
import { getApp } from "./runtime.js";

/** API Gateway HTTP API → the shared router; the stack routes only the consume paths here. */
export const handler = httpHandler(getApp);
