/**
 * Who may call the API. Every route with a scope in the route table needs a JWT access token that API
 * Gateway's JWT authorizer accepts (signature, issuer, audience, expiry) and that carries the route's scope
 * `<scopePrefix>/<scope>`. Scopes are required on every protected route because the JWT authorizer cannot
 * tell an access token from an ID token otherwise; ID tokens carry no scopes, so they are refused.
 *
 * Each route accepts exactly its own scope: API Gateway treats a route's scopes as alternatives and knows
 * no hierarchy, so `admin` does not imply `write` and `write` does not imply `read`. A client that reads and
 * writes asks for both scopes.
 *
 * Two sources of tokens:
 * - By default a Cognito user pool, with a resource server defining the three scopes, an app client for
 *   machines (client credentials, with a secret) and one for people (authorization code flow, a public
 *   client without secret, so clients use PKCE; MFA by authenticator app is required). Self sign-up is off: an administrator creates users.
 * - With `oidcIssuer` and `oidcAudience`, an existing OpenID Connect issuer instead; no pool is created.
 *
 * Tenant binding. The handlers take the caller's tenant from the access token's `tenant` or
 * `custom:tenant` claim and fall back to the deployment's default tenant (`defaultTenant`) when neither
 * is there. Cognito puts neither in access tokens by itself: the pool's immutable `custom:tenant` user
 * attribute reaches ID tokens only, and client-credentials tokens carry no user attributes at all. So a
 * deployment on the pool created here is single-tenant: every caller works in the default tenant. To
 * serve several tenants, use an OIDC issuer that writes a `tenant` claim into access tokens (per user, and
 * per machine client), or attach a pre-token-generation trigger (event version 2 for users, 3 for
 * machines) to this pool that copies `custom:tenant`, or maps the client id to a tenant, into the token.
 */
import { Aws, Duration, RemovalPolicy } from "aws-cdk-lib";
import type { IHttpRouteAuthorizer } from "aws-cdk-lib/aws-apigatewayv2";
import { HttpJwtAuthorizer, HttpUserPoolAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import {
  AccountRecovery,
  ClientAttributes,
  FeaturePlan,
  Mfa,
  OAuthScope,
  ResourceServerScope,
  StringAttribute,
  UserPool,
  type UserPoolClient,
  UserPoolClientIdentityProvider,
  type UserPoolDomain,
  type UserPoolResourceServer,
} from "aws-cdk-lib/aws-cognito";
import { NagSuppressions } from "cdk-nag";
import { Construct } from "constructs";
import type { Scope } from "../../shared/routes";
import type { RouteAuthorizer } from "./api";

/** Every scope of the route table, with what it allows; the Record makes a new scope without one an error. */
export const SCOPE_DESCRIPTIONS: Readonly<Record<Scope, string>> = {
  read: "Read segments, customers and runs",
  write: "Upload data",
  admin: "Administer datasets",
};
export const SCOPES = Object.keys(SCOPE_DESCRIPTIONS) as Scope[];

/** Name of the Cognito custom attribute holding a user's tenant; tokens show it as `custom:tenant`. */
export const TENANT_ATTRIBUTE = "tenant";

export interface CognitoAuthOptions {
  /** Prefix of the pool's Cognito domain, which serves the token endpoint. */
  readonly domainPrefix: string;
  /** Redirect URLs of the user client's authorization code flow. */
  readonly callbackUrls: readonly string[];
  /** Deletes the pool (and its users) with the stack; otherwise it is retained and deletion-protected. */
  readonly destroyOnRemoval: boolean;
}

export interface OidcAuthOptions {
  readonly issuer: string;
  readonly audience: readonly string[];
}

export type AuthProps = { readonly scopePrefix: string } & (
  | { readonly cognito: CognitoAuthOptions; readonly oidc?: undefined }
  | { readonly oidc: OidcAuthOptions; readonly cognito?: undefined }
);

/** The pool and what hangs off it, present only when the stack creates its own pool. */
export interface CognitoResources {
  readonly userPool: UserPool;
  readonly resourceServer: UserPoolResourceServer;
  readonly domain: UserPoolDomain;
  /** Client-credentials client for services (CRM, data pipelines); holds a secret. */
  readonly machineClient: UserPoolClient;
  /** Public client for people signing in through Cognito's login pages. */
  readonly userClient: UserPoolClient;
}

export class Auth extends Construct {
  readonly authorizer: IHttpRouteAuthorizer;
  /** The `iss` every accepted token carries. */
  readonly issuer: string;
  readonly scopePrefix: string;
  readonly cognito: CognitoResources | undefined;

  constructor(scope: Construct, id: string, props: AuthProps) {
    super(scope, id);
    this.scopePrefix = props.scopePrefix;

    if (props.oidc) {
      this.cognito = undefined;
      this.issuer = props.oidc.issuer;
      this.authorizer = new HttpJwtAuthorizer("Jwt", props.oidc.issuer, {
        jwtAudience: [...props.oidc.audience],
        authorizerName: "jwt",
      });
      return;
    }

    this.cognito = this.createPool(props.cognito);
    this.issuer = this.cognito.userPool.userPoolProviderUrl;
    this.authorizer = new HttpUserPoolAuthorizer("Jwt", this.cognito.userPool, {
      userPoolClients: [this.cognito.machineClient, this.cognito.userClient],
      authorizerName: "jwt",
    });
  }

  /** The scope string a token must carry for routes of `scope`, e.g. "segmentation/read". */
  scopeName(scope: Scope): string {
    return `${this.scopePrefix}/${scope}`;
  }

  /** Authorization of a protected route: this authorizer, and the route's own scope only. */
  readonly authorizeRoute: RouteAuthorizer = (scope) => ({
    authorizer: this.authorizer,
    authorizationScopes: [this.scopeName(scope)],
  });

  private createPool(options: CognitoAuthOptions): CognitoResources {
    const userPool = new UserPool(this, "UserPool", {
      // Users are created by an administrator, who also sets their tenant; nobody signs themselves up.
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      customAttributes: {
        [TENANT_ATTRIBUTE]: new StringAttribute({ minLen: 1, maxLen: 64, mutable: false }),
      },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      // Authenticator apps only: SMS would need an SNS role and spend limits, and is the weaker factor.
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      featurePlan: FeaturePlan.ESSENTIALS,
      deletionProtection: !options.destroyOnRemoval,
      removalPolicy: options.destroyOnRemoval ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(userPool, [
      {
        id: "AwsSolutions-COG8",
        reason:
          "The Plus feature plan (threat protection) is billed per monthly active user with no free tier; the " +
          "pool requires MFA and a strong password policy on the Essentials plan, and a deployer who wants " +
          "adaptive authentication switches the plan on the pool.",
      },
    ]);

    const scopes = Object.fromEntries(
      SCOPES.map((s) => [
        s,
        new ResourceServerScope({ scopeName: s, scopeDescription: SCOPE_DESCRIPTIONS[s] }),
      ]),
    ) as Record<Scope, ResourceServerScope>;
    const resourceServer = userPool.addResourceServer("ResourceServer", {
      identifier: this.scopePrefix,
      userPoolResourceServerName: "Customer segmentation API",
      scopes: SCOPES.map((s) => scopes[s]),
    });
    const oauthScope = (s: Scope) => OAuthScope.resourceServer(resourceServer, scopes[s]);

    const domain = userPool.addDomain("Domain", { cognitoDomain: { domainPrefix: options.domainPrefix } });

    // A service holding the secret is operated by the deployer, so it may hold every scope; narrower
    // integrations get their own client with fewer scopes.
    const machineClient = userPool.addClient("MachineClient", {
      userPoolClientName: "machine",
      generateSecret: true,
      authFlows: { userSrp: false },
      oAuth: { flows: { clientCredentials: true }, scopes: SCOPES.map(oauthScope) },
      writeAttributes: new ClientAttributes().withStandardAttributes({ email: true }),
      accessTokenValidity: Duration.hours(1),
      enableTokenRevocation: true,
      preventUserExistenceErrors: true,
    });

    // People read and upload; administration is kept to machine clients, since any user of this client
    // could ask for any scope it allows.
    const userClient = userPool.addClient("UserClient", {
      userPoolClientName: "users",
      generateSecret: false,
      // Tokens from the SDK sign-in flows carry no resource-server scopes, so they could call no route:
      // people sign in through the authorization code flow only.
      authFlows: { userSrp: false },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, oauthScope("read"), oauthScope("write")],
        callbackUrls: [...options.callbackUrls],
      },
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(1),
      enableTokenRevocation: true,
      preventUserExistenceErrors: true,
      // The tenant is set by an administrator when creating the user; no app client may write it.
      writeAttributes: new ClientAttributes().withStandardAttributes({ email: true }),
    });

    return { userPool, resourceServer, domain, machineClient, userClient };
  }
}

/** Default Cognito domain prefix: unique per stage and account, as Cognito requires per region. */
export const defaultDomainPrefix = (service: string, stage: string): string =>
  `${service}-${stage}-${Aws.ACCOUNT_ID}`;
