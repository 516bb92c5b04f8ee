using System.Globalization;
using System.Text;
using System.Text.Json;
using Broker.Plugins.Auth;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Broker.Plugins.AuthJwt;

/// <summary>
/// EMQX 4's <c>emqx_auth_jwt</c>: a client whose password (or user name) is a JSON Web Token is allowed when the
/// token's signature verifies (HMAC secret, RSA or EC public key, or a key of the JWKS by kid), it is within its
/// <c>nbf</c>/<c>exp</c>, and the configured claims match; refused (Bad User Name or Password) when any of that fails;
/// ignored (the next source decides) when the field holds no JWT at all. The token's ACL claim and expiry are kept
/// with the connection: once the token expires, the client's PUBLISH and SUBSCRIBE are refused.
/// </summary>
/// <remarks>
/// Both callbacks finish synchronously: the keys are in memory, and verifying a signature costs microseconds. The
/// JWKS is fetched when the plugin starts and every <c>jwks.refresh_interval</c>; while it cannot be fetched, tokens
/// that need its keys are refused (fail closed), and the log says so once per failed fetch.
/// </remarks>
public sealed partial class AuthJwtPlugin : IBrokerPlugin
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(10);

    private IPluginContext _context = null!;
    private AuthJwtOptions _options = null!;
    private JwtKeys? _keys;
    private HttpClient? _http;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private Placeholders[] _claimValues = [];
    private string[] _claimNames = [];

    /// <inheritdoc />
    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        _context = context;
        _options = context.BindOptions<AuthJwtOptions>();
        _logger = context.LoggerFactory.CreateLogger("Broker.Plugins." + context.Name);
        _keys = new JwtKeys(_options.Secret, _options.PublicKey);
        if (_options.VerifyClaims)
        {
            _claimNames = [.. _options.Claims.Keys];
            _claimValues = [.. _claimNames.Select(n => Placeholders.Parse(_options.Claims[n].Value))];
        }
        if (_options.Jwks.Length > 0)
        {
            _http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var fetched = await FetchJwksAsync(cancellationToken).ConfigureAwait(false);
            _ = RefreshJwksAsync(fetched);
        }
        var options = new HookOptions { Priority = HookPriorities.ExternalAuth };
        context.Hooks.Register(HookPoints.ClientAuthenticate, Authenticate, options);
        context.Hooks.Register(HookPoints.ClientAuthorize, Authorize, options);
        context.Hooks.Register(HookPoints.ClientDisconnected, Disconnected, new HookOptions { Priority = HookPriorities.Observer });
        LogStarted(_logger, _options.Secret.Length > 0, _options.PublicKey.Length > 0, _options.Jwks.Length > 0, _options.From);
    }

    /// <inheritdoc />
    public ValueTask StopAsync(CancellationToken cancellationToken)
    {
        // The host has removed the hooks and waited for their calls: nothing uses the keys or the JWKS client now.
        _http?.Dispose();
        _keys?.Dispose();
        return ValueTask.CompletedTask;
    }

    private ValueTask<HookResult> Authenticate(ClientAuthenticateContext ctx)
    {
        if (ctx.Client is not { } client)
            return ValueTask.FromResult(HookResult.Continue);
        return ValueTask.FromResult(Authenticate(ctx, client));
    }

    private HookResult Authenticate(ClientAuthenticateContext ctx, ClientInfo client)
    {
        var token = _options.From == TokenSource.Password
            ? ctx.Password is { Length: > 0 } password ? Encoding.UTF8.GetString(password.Span) : null
            : client.Username;
        if (string.IsNullOrEmpty(token) || !TryParse(token, out var jwt, out var payload))
            return HookResult.Continue; // no token here: the next source decides
        using (payload)
        {
            var now = _context.TimeProvider.GetUtcNow().ToUnixTimeSeconds();
            var expires = NumericClaim(payload.RootElement, "exp");
            if (!VerifySignature(jwt) || expires <= now || NumericClaim(payload.RootElement, "nbf") > now || !ClaimsMatch(payload.RootElement, client))
            {
                ctx.Result = AuthenticationResult.Deny;
                ctx.DenyReasonCode = MqttReasonCode.BadUserNameOrPassword;
                return HookResult.Stop;
            }
            var acl = payload.RootElement.TryGetProperty(_options.AclClaimName, out var aclClaim) && aclClaim.ValueKind == JsonValueKind.Object
                ? AclRuleSet.FromJson(aclClaim)
                : null;
            ITimer? expiry = null;
            if (expires is { } exp)
            {
                // The broker caches decisions per connection: at expiry it must ask again, and then hear "deny".
                var due = TimeSpan.FromSeconds(Math.Max(0, exp - now));
                expiry = _context.TimeProvider.CreateTimer(static state => ((Action)state!)(), (Action)(() => _context.Broker.InvalidateAuthorization(client)), due, Timeout.InfiniteTimeSpan);
            }
            _context.ClientState.Set(client, new TokenAccess(expires, acl, expiry));
        }
        ctx.Result = AuthenticationResult.Allow;
        return HookResult.Stop;
    }

    private ValueTask<HookResult> Authorize(ClientAuthorizeContext ctx)
    {
        if (ctx.Client is not { } client || _context.ClientState.Get<TokenAccess>(client) is not { } access)
            return ValueTask.FromResult(HookResult.Continue);
        if (access.ExpiresAt <= _context.TimeProvider.GetUtcNow().ToUnixTimeSeconds())
        {
            ctx.Result = AuthorizationResult.Deny;
            return ValueTask.FromResult(HookResult.Stop);
        }
        if (access.Acl is not { } acl)
            return ValueTask.FromResult(HookResult.Continue);
        // A token with an ACL claim may do what it lists and nothing else.
        ctx.Result = acl.Judge(ctx, client) == AuthorizationResult.Allow ? AuthorizationResult.Allow : AuthorizationResult.Deny;
        return ValueTask.FromResult(HookResult.Stop);
    }

    private ValueTask<HookResult> Disconnected(ClientDisconnectedContext ctx)
    {
        if (ctx.Client is { } client && _context.ClientState.Get<TokenAccess>(client) is { Expiry: { } timer })
            timer.Dispose();
        return ValueTask.FromResult(HookResult.Continue);
    }

    private static bool TryParse(string token, out JsonWebToken jwt, out JsonDocument payload)
    {
        jwt = null!;
        payload = null!;
        if (token.AsSpan().Count('.') != 2)
            return false;
        try
        {
            jwt = new JsonWebToken(token);
            payload = JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(jwt.EncodedPayload));
            return payload.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or JsonException or SecurityTokenMalformedException)
        {
            return false;
        }
    }

    private bool VerifySignature(JsonWebToken jwt)
    {
        byte[] signature;
        try
        {
            signature = Base64UrlEncoder.DecodeBytes(jwt.EncodedSignature);
        }
        catch (FormatException)
        {
            return false;
        }
        var input = Encoding.ASCII.GetBytes(jwt.EncodedHeader + "." + jwt.EncodedPayload);
        return _keys!.Verify(jwt.Alg, string.IsNullOrEmpty(jwt.Kid) ? null : jwt.Kid, input, signature);
    }

    private static long? NumericClaim(JsonElement payload, string name) =>
        payload.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var seconds)
            ? (long)seconds
            : null;

    private bool ClaimsMatch(JsonElement payload, ClientInfo client)
    {
        for (var i = 0; i < _claimNames.Length; i++)
        {
            if (!payload.TryGetProperty(_claimNames[i], out var value))
                return false;
            var actual = value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText();
            if (!string.Equals(actual, _claimValues[i].Render(client), StringComparison.Ordinal))
                return false;
        }
        return true;
    }

    private async Task<bool> FetchJwksAsync(CancellationToken cancellationToken)
    {
        try
        {
            var json = await _http!.GetStringAsync(new Uri(_options.Jwks), cancellationToken).ConfigureAwait(false);
            LogJwks(_logger, _keys!.LoadJwks(json), _options.Jwks);
            return true;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ArgumentException or JsonException)
        {
            LogJwksFailed(_logger, _options.Jwks, ex.Message, _keys!.HasJwks ? "the keys fetched before stay in use" : "tokens that need its keys are refused");
            return false;
        }
    }

    private async Task RefreshJwksAsync(bool fetched)
    {
        var stopping = _context.Stopping;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                await Task.Delay(fetched ? _options.JwksRefreshInterval : RetryInterval, _context.TimeProvider, stopping).ConfigureAwait(false);
                fetched = await FetchJwksAsync(stopping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>What a token allowed, kept with the connection.</summary>
    private sealed record TokenAccess(long? ExpiresAt, AclRuleSet? Acl, ITimer? Expiry);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "auth_jwt started: HMAC secret {Secret}, public key {PublicKey}, JWKS {Jwks}; token from the {From}")]
    private static partial void LogStarted(ILogger logger, bool secret, bool publicKey, bool jwks, TokenSource from);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "auth_jwt: {Count} keys from the JWKS at {Url}")]
    private static partial void LogJwks(ILogger logger, int count, string url);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "auth_jwt: the JWKS at {Url} could not be fetched ({Reason}); {Outcome}; trying again in 10 s")]
    private static partial void LogJwksFailed(ILogger logger, string url, string reason, string outcome);
}
