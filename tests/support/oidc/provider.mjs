// Local OpenID Connect provider for end-to-end SSO tests (never for production).
//
// A real `oidc-provider` instance on 127.0.0.1 with one confidential client, the
// authorization-code flow with PKCE (S256) required, and a minimal HTML login form.
//
// Configuration (environment):
//   OIDC_PORT                 TCP port on 127.0.0.1; 0 or unset picks a free one (the ready
//                             line tells which), so there is no pick-then-bind race.
//   OIDC_CLIENT_ID            client_id of the one registered client (required)
//   OIDC_CLIENT_SECRET        its client_secret (required)
//   OIDC_REDIRECT_URIS        comma-separated redirect URIs (required)
//   OIDC_POST_LOGOUT_REDIRECT_URIS  comma-separated post_logout_redirect_uris (optional)
//   OIDC_CLIENT_AUTH_METHOD   token_endpoint_auth_method: client_secret_post (default, what
//                             mozilla-django-oidc sends by default) or client_secret_basic
//   OIDC_USERS_FILE           JSON {"alice": {"password", "email", "name", "groups": [...],
//                             "email_verified"?: any JSON value (default true),
//                             "omit_claims"?: ["email_verified", ...]}} (required). Re-read on
//                             every login and every claims lookup, so tests can change groups
//                             (or delete the user) between logins.
//   OIDC_EXIT_ON_STDIN_EOF    "1": exit when stdin closes, i.e. when the parent test process
//                             dies without stopping us (no orphaned providers).
//
// Ready line on stdout once listening:  OIDC_PROVIDER_READY <issuer>
//
// Invariants: listens on 127.0.0.1 only; the signing key and cookie keys are generated fresh
// per process (nothing secret on disk); consent is granted automatically because the only
// client is first-party; a wrong password re-renders the form with HTTP 401 and the
// interaction stays usable.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const SCOPES = ['openid', 'email', 'profile', 'groups'];
const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name'],
  groups: ['groups'],
};

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const usersFile = requiredEnv('OIDC_USERS_FILE');
const clientId = requiredEnv('OIDC_CLIENT_ID');
const clientSecret = requiredEnv('OIDC_CLIENT_SECRET');
const redirectUris = requiredEnv('OIDC_REDIRECT_URIS').split(',').map((u) => u.trim()).filter(Boolean);
const postLogoutRedirectUris = (process.env.OIDC_POST_LOGOUT_REDIRECT_URIS || '')
  .split(',').map((u) => u.trim()).filter(Boolean);
const authMethod = process.env.OIDC_CLIENT_AUTH_METHOD || 'client_secret_post';
const port = Number(process.env.OIDC_PORT || 0);

// Read on every call on purpose: a test rewrites the file to change a user's groups.
function loadUsers() {
  return JSON.parse(readFileSync(usersFile, 'utf8'));
}

function findUser(username) {
  const users = loadUsers();
  return Object.hasOwn(users, username) ? users[username] : undefined;
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  }[c]));
}

function loginPage(uid, clientName, { error = '', login = '' } = {}) {
  const errorHtml = error ? `<p id="error" role="alert">${escapeHtml(error)}</p>` : '';
  return page('Sign in - test OIDC provider', `<h1>Sign in to ${escapeHtml(clientName)}</h1>
${errorHtml}
<form id="login-form" method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
  <label for="login">Username</label>
  <input id="login" name="login" type="text" value="${escapeHtml(login)}" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required>
  <button id="submit" type="submit">Sign in</button>
</form>`);
}

// The provider's default pages pull a Google web font; with the network closed that is a
// refused connection per page view, so these replacements reference nothing external.
function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
${body}
</body></html>`;
}

// RP-initiated logout is confirmed automatically (inline script) so a browser round trip
// RP -> end_session -> post_logout_redirect_uri needs no click; a non-JS client posts
// #op.logoutForm with logout=yes.
async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = page('Sign out', `<h1>Sign out</h1>
${form}
<button id="logout-confirm" type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<script>document.getElementById('logout-confirm').click();</script>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<h1 id="signed-out">Signed out</h1>');
}

async function renderError(ctx, out) {
  ctx.type = 'html';
  const rows = Object.entries(out)
    .map(([key, value]) => `<p id="${escapeHtml(key)}"><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
    .join('\n');
  ctx.body = page('OIDC error', `<h1>OIDC error</h1>\n${rows}`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Our own interaction routes, mounted in front of the provider's router.
function interactions(provider) {
  const route = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/;
  return async (ctx, next) => {
    const match = route.exec(ctx.path);
    if (!match) return next();
    const [, uid, isLogin] = match;
    ctx.set('Cache-Control', 'no-store');

    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
    const client = await provider.Client.find(details.params.client_id);
    const clientName = client?.clientName || details.params.client_id;

    if (!isLogin && ctx.method === 'GET') {
      if (details.prompt.name === 'login') {
        ctx.type = 'html';
        ctx.body = loginPage(uid, clientName);
        return undefined;
      }
      // Normally unreachable because loadExistingGrant grants consent up front; kept so an
      // unexpected consent prompt still completes instead of hanging the test.
      const grant = new provider.Grant({ accountId: details.session.accountId, clientId: client.clientId });
      grant.addOIDCScope(SCOPES.join(' '));
      const grantId = await grant.save();
      const to = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      ctx.status = 303;
      ctx.redirect(to);
      return undefined;
    }

    if (isLogin && ctx.method === 'POST') {
      const form = await readForm(ctx.req);
      const login = form.get('login') || '';
      const password = form.get('password') || '';
      const user = findUser(login);
      if (!user || typeof user.password !== 'string' || user.password !== password) {
        ctx.status = 401;
        ctx.type = 'html';
        ctx.body = loginPage(uid, clientName, { error: 'Invalid username or password.', login });
        return undefined;
      }
      const to = await provider.interactionResult(
        ctx.req, ctx.res, { login: { accountId: login } }, { mergeWithLastSubmission: false },
      );
      ctx.status = 303;
      ctx.redirect(to);
      return undefined;
    }

    ctx.throw(405);
    return undefined;
  };
}

const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'test-rs256' };

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      client_name: 'Portal (test client)',
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutRedirectUris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: authMethod,
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: SCOPES,
    claims: CLAIMS,
    // Put the scope claims (groups included) into the id_token as well as userinfo, so an RP
    // that only reads the id_token sees the same groups.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    renderError,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // First-party client: grant every supported scope without a consent screen.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      if (!ctx.oidc.session.accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(SCOPES.join(' '));
      await grant.save();
      return grant;
    },
    async findAccount(_ctx, sub) {
      if (!findUser(sub)) return undefined;
      return {
        accountId: sub,
        async claims() {
          // Looked up again here so claims reflect the users file at token/userinfo time.
          const user = findUser(sub) || {};
          const claims = {
            sub,
            email: user.email,
            email_verified: user.email_verified ?? true,
            name: user.name,
            groups: Array.isArray(user.groups) ? user.groups : [],
          };
          // "omit_claims": ["email_verified"] leaves a claim out entirely (an IdP that never sends it).
          for (const name of Array.isArray(user.omit_claims) ? user.omit_claims : []) delete claims[name];
          return claims;
        },
      };
    },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
  });
  provider.use(interactions(provider));
  server.on('request', provider.callback());
  process.stdout.write(`OIDC_PROVIDER_READY ${issuer}\n`);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (process.env.OIDC_EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
