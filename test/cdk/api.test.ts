/**
 * The HTTP API in the synthesized stack: one route per entry of the route table, each wired to the function
 * the table names, plus the stage's throttling and access logs. Authorization of the routes is in
 * auth.test.ts.
 */

import { Capture, Match } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES, routeKey } from "../../shared/routes";
import { getAtt, logicalId, ref, removeOutdirs, resourcesOfType, type Synthesized, synth } from "./synth";

let sx: Synthesized;
let apiId: string;
beforeAll(() => {
  sx = synth();
  apiId = logicalId(sx, sx.stack.api.httpApi);
});
afterAll(removeOutdirs);

describe("routes", () => {
  it("has exactly the routes of the route table", () => {
    const keys = Object.values(resourcesOfType(sx.template, "AWS::ApiGatewayV2::Route")).map(
      (r) => r.Properties?.RouteKey,
    );
    expect(keys.sort()).toEqual(ROUTES.map((r) => routeKey(r)).sort());
  });

  it("sends each route to the Lambda function the route table names", () => {
    const routes = resourcesOfType(sx.template, "AWS::ApiGatewayV2::Route");
    const integrations = resourcesOfType(sx.template, "AWS::ApiGatewayV2::Integration");
    for (const route of ROUTES) {
      const found = Object.values(routes).find((r) => r.Properties?.RouteKey === routeKey(route));
      const target = found?.Properties?.Target as
        | { "Fn::Join": [string, [string, { Ref: string }]] }
        | undefined;
      expect(target?.["Fn::Join"][1][0], route.id).toBe("integrations/");
      const integration = integrations[target?.["Fn::Join"][1][1].Ref ?? ""];
      expect(integration?.Properties, route.id).toMatchObject({
        ApiId: ref(apiId),
        IntegrationType: "AWS_PROXY",
        PayloadFormatVersion: "2.0",
        IntegrationUri: getAtt(sx.stack.api.functions[route.fn].logicalId),
      });
    }
  });

  it("lets API Gateway invoke each route's function for that route's path", () => {
    const permissions = Object.values(resourcesOfType(sx.template, "AWS::Lambda::Permission"));
    for (const route of ROUTES) {
      // One permission per route; routes that differ only in method share function and path.
      const sharing = ROUTES.filter((r) => r.fn === route.fn && r.path === route.path).length;
      const fnArn = JSON.stringify(getAtt(sx.stack.api.functions[route.fn].logicalId));
      const matching = permissions.filter(
        (p) =>
          p.Properties?.Action === "lambda:InvokeFunction" &&
          p.Properties?.Principal === "apigateway.amazonaws.com" &&
          JSON.stringify(p.Properties?.FunctionName) === fnArn &&
          // execute-api ARN: <api id>/<stage>/<method>/<path>
          JSON.stringify(p.Properties?.SourceArn).includes(`"/*/*${route.path}"`),
      );
      expect(matching.length, route.id).toBe(sharing);
    }
  });
});

describe("default stage", () => {
  it("throttles requests with a rate and a burst limit", () => {
    sx.template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      ApiId: ref(apiId),
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
  });

  it("writes JSON access logs with the request id and route key, never the raw path, to a log group", () => {
    const format = new Capture();
    sx.template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      AccessLogSettings: { DestinationArn: getAtt(logicalId(sx, sx.stack.api.accessLogs)), Format: format },
    });
    const fields = JSON.parse(format.asString()) as Record<string, string>;
    expect(Object.values(fields)).toEqual(
      expect.arrayContaining(["$context.requestId", "$context.routeKey"]),
    );
    // Paths carry customer ids; the caller's address is personal data.
    expect(Object.values(fields).filter((v) => /\$context\.(path|identity\.)/.test(v))).toEqual([]);
    sx.template.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: Match.anyValue() });
  });

  it("publishes the stage URL as the ApiUrl output", () => {
    sx.template.hasOutput("ApiUrl", {
      Value: { "Fn::Join": ["", Match.arrayWith(["https://", ref(apiId)])] },
    });
  });
});
