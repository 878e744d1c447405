/**
 * The dashboard (web/): a static site in a private bucket, served over HTTPS by CloudFront, which reads the
 * bucket through Origin Access Control (the bucket has no public access and no website endpoint). The site
 * calls the API from the browser, so the API and the data bucket (presigned uploads) allow the site's
 * origin by CORS; the site's own Content-Security-Policy lets it connect to the API and the data bucket and
 * nowhere else.
 *
 * Built in two steps because the site's configuration (the API's URL) is only known once the API exists,
 * while the API's CORS needs the site's origin: the constructor creates bucket and distribution, `deploy`
 * uploads the built site with its `config.json`.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { type CfnElement, DockerImage, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import {
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from "aws-cdk-lib/aws-cloudfront";
import { S3BucketOrigin } from "aws-cdk-lib/aws-cloudfront-origins";
import { Bucket, type IBucket } from "aws-cdk-lib/aws-s3";
import { BucketDeployment, Source } from "aws-cdk-lib/aws-s3-deployment";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import { PROJECT_ROOT } from "./service-function";
import { PRIVATE_BUCKET } from "./storage";

export interface SiteProps {
  readonly destroyOnRemoval: boolean;
}

export interface SiteConfig {
  /** Base URL of the API the site calls. */
  readonly apiUrl: string;
  /** `https://host` of the API, for the CSP. */
  readonly apiOrigin: string;
  /** The data bucket, which receives presigned uploads straight from the browser. */
  readonly dataBucket: IBucket;
}

/** The script that builds the site into a directory (web/build.ts's buildWeb), run at synth. */
const BUILD_SCRIPT = `${PROJECT_ROOT}infra/build-site.ts`;

export class Site extends Construct {
  readonly bucket: Bucket;
  readonly distribution: Distribution;

  constructor(scope: Construct, id: string, props: SiteProps) {
    super(scope, id);
    this.bucket = new Bucket(this, "Bucket", {
      ...PRIVATE_BUCKET,
      removalPolicy: props.destroyOnRemoval ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      autoDeleteObjects: props.destroyOnRemoval,
    });
    NagSuppressions.addResourceSuppressions(this.bucket, [
      {
        id: "AwsSolutions-S1",
        reason:
          "The bucket holds only the dashboard's public build output, which is redeployed whole from the " +
          "repository; reads go through CloudFront, whose own request metrics cover them.",
      },
    ]);
    const headers = new ResponseHeadersPolicy(this, "Headers", {
      comment: "Dashboard: HSTS, no framing, no sniffing, no referrer",
      securityHeadersBehavior: {
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(365),
          includeSubdomains: true,
          override: true,
        },
      },
    });
    this.distribution = new Distribution(this, "Distribution", {
      comment: "Segmentation dashboard",
      defaultRootObject: "index.html",
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        compress: true,
        responseHeadersPolicy: headers,
      },
    });
    NagSuppressions.addResourceSuppressions(this.distribution, [
      {
        id: "AwsSolutions-CFR1",
        reason:
          "The dashboard is meant to be reachable from anywhere its users work; the API enforces access.",
      },
      {
        id: "AwsSolutions-CFR2",
        reason:
          "The distribution serves only static files of the dashboard; the data lives behind the API, which " +
          "authenticates every request and is throttled. A WAF web ACL can be attached by the deployer.",
      },
      {
        id: "AwsSolutions-CFR3",
        reason:
          "CloudFront access logs record every viewer's IP address and user agent, which the service keeps " +
          "out of its logs as personal data (as it does for the API and the data bucket).",
      },
      {
        id: "AwsSolutions-CFR4",
        reason:
          "The distribution's own cloudfront.net certificate has a fixed security policy that CloudFront does " +
          "not let a deployer raise; viewers are redirected to HTTPS, and a custom domain brings its own policy.",
      },
    ]);
  }

  /** The site's origin, `https://<distribution domain>`, for CORS. */
  get origin(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }

  get url(): string {
    return `${this.origin}/`;
  }

  /**
   * Uploads the built site with its config.json. index.html carries the Content-Security-Policy in a meta
   * element: the policy names the API and the data bucket, whose CORS names this distribution, so a
   * CloudFront header would make the three depend on each other; a file written at deploy time does not.
   */
  deploy(config: SiteConfig): BucketDeployment {
    const stack = Stack.of(this);
    const csp = contentSecurityPolicy([
      "'self'",
      config.apiOrigin,
      `https://${config.dataBucket.bucketRegionalDomainName}`,
    ]);
    const page = readFileSync(`${PROJECT_ROOT}web/index.html`, "utf8");
    if (!page.includes("<head>")) throw new Error("web/index.html has no <head> to put the CSP in");
    const index = page.replace(
      "<head>",
      `<head>\n    <meta http-equiv="Content-Security-Policy" content="${csp}">`,
    );
    const deployment = new BucketDeployment(this, "Deployment", {
      destinationBucket: this.bucket,
      distribution: this.distribution,
      distributionPaths: ["/*"],
      sources: [
        Source.asset(`${PROJECT_ROOT}web`, {
          bundling: {
            // The build runs on this machine with the project's own esbuild; no container is involved.
            image: DockerImage.fromRegistry("public.ecr.aws/docker/library/node:22-slim"),
            local: {
              tryBundle(outputDir: string) {
                execFileSync(process.execPath, ["--import", "tsx", BUILD_SCRIPT, outputDir], {
                  cwd: PROJECT_ROOT,
                  stdio: ["ignore", "inherit", "inherit"],
                });
                return true;
              },
            },
          },
        }),
        // Later sources overwrite earlier ones: this index.html replaces the build's.
        Source.data("index.html", index),
        Source.jsonData("config.json", { apiUrl: config.apiUrl }),
      ],
      memoryLimit: 512,
    });
    // CDK's own custom resource that copies the build into the bucket; its function and role are CDK's.
    const reason =
      "CDK's BucketDeployment handler, which copies the built site into the site bucket at deploy time; its " +
      "function, runtime and role are built by aws-cdk-lib, scoped to the asset and site buckets.";
    for (const child of stack.node.children) {
      if (!child.node.id.startsWith("Custom::CDKBucketDeployment")) continue;
      NagSuppressions.addResourceSuppressions(
        child,
        [
          {
            id: "AwsSolutions-IAM4",
            reason,
            appliesTo: [
              "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            ],
          },
          {
            id: "AwsSolutions-IAM5",
            reason,
            appliesTo: [
              "Action::s3:Abort*",
              "Action::s3:DeleteObject*",
              "Action::s3:GetBucket*",
              "Action::s3:GetObject*",
              "Action::s3:List*",
              "Resource::*",
              `Resource::<${stack.getLogicalId(this.bucket.node.defaultChild as CfnElement)}.Arn>/*`,
              "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
            ],
          },
          { id: "AwsSolutions-L1", reason },
          { id: "Serverless-LambdaDLQ", reason },
          { id: "Serverless-LambdaLatestVersion", reason },
          { id: "Serverless-LambdaTracing", reason },
        ],
        true,
      );
    }
    return deployment;
  }
}

/** The page's CSP: its own files only, and connections to `connect` alone. */
export function contentSecurityPolicy(connect: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connect.join(" ")}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}
