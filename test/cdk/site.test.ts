/**
 * The dashboard's hosting: a private bucket read by CloudFront through Origin Access Control, HTTPS only,
 * a CSP that lets the page talk to the API and the data bucket alone, and CORS on the API and the data
 * bucket that admits the dashboard's origin and no other (unless the deployer adds origins).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { App } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contentSecurityPolicy } from "../../infra/constructs/site";
import { cliSynth } from "./assembly";
import { getAtt, logicalId, ref, removeOutdirs, resourcesOfType, type Synthesized, synth } from "./synth";

let sx: Synthesized;
let bucketId: string;
let distributionId: string;
beforeAll(() => {
  sx = synth({}, { bundling: false });
  const site = sx.stack.site;
  if (!site) throw new Error("the stack has no site by default");
  bucketId = logicalId(sx, site.bucket);
  distributionId = logicalId(sx, site.distribution);
});
afterAll(removeOutdirs);

/** The distribution's domain, `https://<domain>`, as CloudFormation writes it. */
const siteOrigin = () => ({ "Fn::Join": ["", ["https://", getAtt(distributionId, "DomainName")]] });

describe("site bucket", () => {
  it("is private: all public access blocked, no website endpoint, TLS-only policy", () => {
    const bucket = resourcesOfType(sx.template, "AWS::S3::Bucket")[bucketId];
    expect(bucket?.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    expect(bucket?.Properties?.WebsiteConfiguration).toBeUndefined();
    sx.template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: ref(bucketId),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
  });

  it("lets only this distribution read it, through Origin Access Control", () => {
    const policies = Object.values(resourcesOfType(sx.template, "AWS::S3::BucketPolicy")).filter(
      (p) => JSON.stringify(p.Properties?.Bucket) === JSON.stringify(ref(bucketId)),
    );
    const allows = policies.flatMap((p) =>
      (
        (p.Properties as Record<string, unknown>).PolicyDocument as {
          Statement: Array<Record<string, unknown>>;
        }
      ).Statement.filter((s) => s.Effect === "Allow"),
    );
    // Reads by CloudFront for this distribution only; any other Allow would widen access.
    const reads = allows.filter((s) => s.Principal && JSON.stringify(s.Principal).includes("cloudfront"));
    expect(reads.length).toBeGreaterThan(0);
    for (const s of reads) {
      expect(s.Principal).toEqual({ Service: "cloudfront.amazonaws.com" });
      expect(JSON.stringify(s.Condition)).toContain(distributionId);
      expect(([] as unknown[]).concat(s.Action)).toEqual(["s3:GetObject"]);
    }
    const others = allows.filter((s) => !reads.includes(s));
    // The only other Allow is CDK's auto-delete handler on destroy stages, absent here.
    expect(others).toEqual([]);
    sx.template.resourceCountIs("AWS::CloudFront::OriginAccessControl", 1);
    sx.template.hasResourceProperties("AWS::CloudFront::OriginAccessControl", {
      OriginAccessControlConfig: { OriginAccessControlOriginType: "s3", SigningBehavior: "always" },
    });
  });
});

describe("distribution", () => {
  it("serves HTTPS only (HTTP redirects), and reads the bucket over its regional endpoint with OAC", () => {
    sx.template.hasResourceProperties("AWS::CloudFront::Distribution", {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: "index.html",
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: "redirect-to-https" }),
      }),
    });
    const distribution = resourcesOfType(sx.template, "AWS::CloudFront::Distribution")[distributionId];
    const config = distribution?.Properties?.DistributionConfig as Record<string, unknown>;
    // No other behaviour could let plain HTTP through.
    expect(config.CacheBehaviors).toBeUndefined();
    expect(config.Origins).toEqual([
      expect.objectContaining({
        DomainName: getAtt(bucketId, "RegionalDomainName"),
        OriginAccessControlId: expect.anything(),
        S3OriginConfig: { OriginAccessIdentity: "" },
      }),
    ]);
  });

  it("sends HSTS, no-framing, no-sniffing and no-referrer headers with every file", () => {
    const policies = resourcesOfType(sx.template, "AWS::CloudFront::ResponseHeadersPolicy");
    expect(Object.keys(policies)).toHaveLength(1);
    const [policyId, policy] = Object.entries(policies)[0] as [string, (typeof policies)[string]];
    const distribution = resourcesOfType(sx.template, "AWS::CloudFront::Distribution")[distributionId];
    expect(JSON.stringify(distribution?.Properties)).toContain(JSON.stringify(ref(policyId)));
    const security = (
      (policy.Properties as Record<string, unknown>).ResponseHeadersPolicyConfig as Record<
        string,
        Record<string, unknown>
      >
    ).SecurityHeadersConfig as Record<string, Record<string, unknown>>;
    expect(security.StrictTransportSecurity).toMatchObject({ Override: true, IncludeSubdomains: true });
    expect(security.FrameOptions).toMatchObject({ FrameOption: "DENY" });
    expect(security.ContentTypeOptions).toMatchObject({ Override: true });
    expect(security.ReferrerPolicy).toMatchObject({ ReferrerPolicy: "no-referrer" });
  });

  it("puts a CSP in index.html that lets the page connect to the API and the data bucket only", () => {
    const csp = contentSecurityPolicy(["'self'", "https://api.example", "https://data.example"]);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self' https://api.example https://data.example;");
    expect(csp).not.toContain("*");
    expect(csp).not.toContain("unsafe");

    // The staged index.html holds the policy with deploy-time markers for the two origins.
    const assembly = (sx.stack.node.root as App).synth();
    const pages = readdirSync(assembly.directory)
      .filter((d) => d.startsWith("asset.") && existsSync(join(assembly.directory, d, "index.html")))
      .map((d) => readFileSync(join(assembly.directory, d, "index.html"), "utf8"))
      .filter((html) => html.includes("Content-Security-Policy"));
    expect(pages).toHaveLength(1);
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(pages[0] as string);
    expect(meta?.[1]).toMatch(/connect-src 'self' <<marker:0xbaba:\d+>> https:\/\/<<marker:0xbaba:\d+>>;/);
    const deployment = Object.values(resourcesOfType(sx.template, "Custom::CDKBucketDeployment"))[0];
    const markers = JSON.stringify(deployment?.Properties?.SourceMarkers);
    expect(markers).toContain(logicalId(sx, sx.stack.api.httpApi));
    expect(markers).toContain(
      JSON.stringify(getAtt(logicalId(sx, sx.stack.storage.bucket), "RegionalDomainName")),
    );
  });

  it("deploys the built site with a config.json naming the API", () => {
    const deployments = Object.values(resourcesOfType(sx.template, "Custom::CDKBucketDeployment"));
    expect(deployments).toHaveLength(1);
    const props = deployments[0]?.Properties as Record<string, unknown>;
    expect(props.DestinationBucketName).toEqual(ref(bucketId));
    expect(props.DistributionId).toEqual(ref(distributionId));
    // Source.jsonData substitutes the API's URL at deploy time through a marker.
    const markers = JSON.stringify(props.SourceMarkers);
    expect(markers).toContain(logicalId(sx, sx.stack.api.httpApi));
  });
});

describe("CORS", () => {
  it("the API allows the dashboard's origin and no other", () => {
    sx.template.hasResourceProperties("AWS::ApiGatewayV2::Api", {
      CorsConfiguration: Match.objectLike({ AllowOrigins: [siteOrigin()] }),
    });
  });

  it("the data bucket accepts presigned upload POSTs from the dashboard's origin only", () => {
    const dataBucket = resourcesOfType(sx.template, "AWS::S3::Bucket")[
      logicalId(sx, sx.stack.storage.bucket)
    ];
    expect(dataBucket?.Properties?.CorsConfiguration).toEqual({
      CorsRules: [expect.objectContaining({ AllowedMethods: ["POST"], AllowedOrigins: [siteOrigin()] })],
    });
  });

  it("adds the deployer's origins to the dashboard's, and without a site allows only those", () => {
    const more = synth({ corsOrigins: "https://crm.example.com" }, { bundling: false });
    more.template.hasResourceProperties("AWS::ApiGatewayV2::Api", {
      CorsConfiguration: Match.objectLike({ AllowOrigins: [Match.anyValue(), "https://crm.example.com"] }),
    });
    const bare = synth({ site: "false" }, { bundling: false });
    expect(bare.stack.site).toBeUndefined();
    bare.template.resourceCountIs("AWS::CloudFront::Distribution", 0);
    const api = Object.values(resourcesOfType(bare.template, "AWS::ApiGatewayV2::Api"))[0];
    expect(api?.Properties?.CorsConfiguration).toBeUndefined();
    const data = resourcesOfType(bare.template, "AWS::S3::Bucket")[
      logicalId(bare, bare.stack.storage.bucket)
    ];
    expect(data?.Properties?.CorsConfiguration).toBeUndefined();
  });
});

describe("site asset", () => {
  // The default context has the site on; `cdk synth` of this run built it (in a hook: it takes minutes).
  let outDir: string;
  beforeAll(async () => {
    ({ outDir } = await cliSynth());
  });

  it("is the dashboard built at synth: index.html and its scripts", () => {
    const assets = readdirSync(outDir).filter((d) => d.startsWith("asset."));
    const sites = assets
      .map((d) => join(outDir, d))
      .filter((d) => existsSync(join(d, "index.html")) && existsSync(join(d, "app.js")));
    expect(sites).toHaveLength(1);
    const files = readdirSync(sites[0] as string, { recursive: true }).map(String);
    expect(files).toEqual(expect.arrayContaining(["index.html", "app.js", "styles.css"]));
    // The build's own index.html loads the bundle; the deployed one (with the CSP) replaces it.
    expect(readFileSync(join(sites[0] as string, "index.html"), "utf8")).toContain("app.js");
  });
});
