import { describe, expect, it } from "vitest";
import { checkAmqpLogin, parseAmqpCredentials } from "../../core/amqp/credentials.js";

describe("AMQP_CREDENTIALS", () => {
  it("takes a list of user:password entries", () => {
    const users = parseAmqpCredentials("app:s3cret,ops:p:w");
    expect([...(users.users ?? [])]).toEqual([["app", "s3cret"], ["ops", "p:w"]]);
  });

  it("takes one user as the JSON a generated Secrets Manager secret holds (extra fields ignored)", () => {
    const users = parseAmqpCredentials('{"username":"delayq","password":"Ab1,:\\"x","note":"generated"}');
    expect([...(users.users ?? [])]).toEqual([["delayq", 'Ab1,:"x']]);
    expect(checkAmqpLogin(users, "delayq", 'Ab1,:"x', false)).toBe(true);
    expect(checkAmqpLogin(users, "delayq", "wrong", false)).toBe(false);
  });

  it.each([
    ["{not json", /not JSON/],
    ['{"username":"u"}', /"username" and "password"/],
    ['{"username":"","password":"p"}', /"username" and "password"/],
    ["user-without-password", /user:password/],
  ])("refuses %s, without echoing a password", (raw, message) => {
    expect(() => parseAmqpCredentials(raw)).toThrow(message);
  });
});
