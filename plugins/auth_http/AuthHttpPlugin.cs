using System.Net;
using System.Text;
using System.Text.Json;
using Broker.Plugins.Auth;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.AuthHttp;

/// <summary>
/// EMQX 4's <c>emqx_auth_http</c>: an HTTP service decides. CONNECT: <c>auth_req</c> answers 200 (allowed; a JSON body
/// may add <c>is_superuser</c> and an <c>acl</c> of pub/sub/all filters for the connection), 200 with the body
/// <c>ignore</c> (the next source decides), or anything else (Bad User Name or Password). Then <c>super_req</c>: 200 =
/// superuser. PUBLISH/SUBSCRIBE: the connection's <c>acl</c> from the auth answer if it had one, else <c>acl_req</c>
/// (200 allow, <c>ignore</c>, else deny), each decision cached by the broker per connection.
/// </summary>
/// <remarks>
/// One pooled <see cref="HttpClient"/> (keep-alive, at most <c>pool_size</c> connections). A request that cannot be made,
/// or that takes longer than <c>timeout</c>, is cancelled and judged by <c>on_error</c> (deny by default: Server
/// Unavailable at CONNECT). Passwords never appear in the log: failures are logged with the URL and the error only,
/// at most every 10 seconds.
/// </remarks>
public sealed partial class AuthHttpPlugin : IBrokerPlugin
{
    private IPluginContext _context = null!;
    private AuthHttpOptions _options = null!;
    private HttpClient? _http;
    private HttpRequestTemplate? _auth;
    private HttpRequestTemplate? _super;
    private HttpRequestTemplate? _acl;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private LogInterval _failureLog = null!;

    /// <inheritdoc />
    public ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        _context = context;
        _options = context.BindOptions<AuthHttpOptions>();
        _logger = context.LoggerFactory.CreateLogger("Broker.Plugins." + context.Name);
        _failureLog = new LogInterval(context.TimeProvider, TimeSpan.FromSeconds(10));
        var tls = _options.Ssl.Load("auth.http.ssl");
        tls.Refused = reason =>
        {
            if (_failureLog.Allow())
                LogTlsRefused(_logger, reason);
        };
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = _options.PoolSize,
            ConnectTimeout = _options.ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            UseProxy = false,
        };
        handler.SslOptions.RemoteCertificateValidationCallback = tls.ValidateServer;
        if (tls.ClientCertificate is { } certificate)
            handler.SslOptions.ClientCertificates = [certificate];
        _http = new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        // EMQX's "disable" cannot be honoured (SocketsHttpHandler always sends SNI): it means "the URL's host", as empty does.
        var host = _options.Ssl.ServerName is { Length: > 0 } name && name != "disable" ? name : null;
        _auth = _options.AuthUrl.Length > 0 ? new HttpRequestTemplate(_options.AuthUrl, _options.AuthMethod, _options.AuthHeaders, _options.AuthParams, host) : null;
        _super = _options.SuperUrl.Length > 0 ? new HttpRequestTemplate(_options.SuperUrl, _options.SuperMethod, _options.SuperHeaders, _options.SuperParams, host) : null;
        _acl = _options.AclUrl.Length > 0 ? new HttpRequestTemplate(_options.AclUrl, _options.AclMethod, _options.AclHeaders, _options.AclParams, host) : null;
        var hook = new HookOptions
        {
            Priority = HookPriorities.ExternalAuth,
            Timeout = 2 * _options.Timeout + TimeSpan.FromSeconds(1),
            OnFailure = _options.OnError == OnError.Ignore ? HookFailureAction.Ignore : HookFailureAction.Deny,
        };
        if (_auth is not null)
            context.Hooks.Register(HookPoints.ClientAuthenticate, AuthenticateAsync, hook);
        if (_auth is not null || _acl is not null)
            context.Hooks.Register(HookPoints.ClientAuthorize, AuthorizeAsync, hook);
        LogStarted(_logger, _options.AuthUrl, _options.SuperUrl, _options.AclUrl, _options.OnError);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask StopAsync(CancellationToken cancellationToken)
    {
        // The host has removed the hooks and waited for the requests in flight: the pool is no longer used.
        _http?.Dispose();
        return ValueTask.CompletedTask;
    }

    private async ValueTask<HookResult> AuthenticateAsync(ClientAuthenticateContext ctx)
    {
        if (ctx.Client is not { } client)
            return HookResult.Continue;
        var password = ctx.Password is { } p ? Encoding.UTF8.GetString(p.Span) : "";
        var (status, body) = await SendAsync(_auth!, c => c == 'P' ? password : HttpRequestTemplate.ClientValue(c, client), ctx.CancellationToken).ConfigureAwait(false);
        if (status is null)
            return Fail(ctx);
        if (status != HttpStatusCode.OK)
            return Refuse(ctx, MqttReasonCode.BadUserNameOrPassword);
        if (IsIgnore(body))
            return HookResult.Continue;
        var (superuser, acl) = ParseGrant(body);
        if (!superuser && _super is not null)
        {
            var (superStatus, _) = await SendAsync(_super, c => HttpRequestTemplate.ClientValue(c, client), ctx.CancellationToken).ConfigureAwait(false);
            superuser = superStatus == HttpStatusCode.OK; // a failed superuser request means "not a superuser", as EMQX
        }
        _context.ClientState.Set(client, new Grant(superuser, acl));
        ctx.IsSuperuser |= superuser;
        ctx.Result = AuthenticationResult.Allow;
        return HookResult.Stop;
    }

    private async ValueTask<HookResult> AuthorizeAsync(ClientAuthorizeContext ctx)
    {
        if (ctx.Client is not { } client)
            return HookResult.Continue;
        var grant = _context.ClientState.Get<Grant>(client);
        if (grant is { IsSuperuser: true })
            return Decide(ctx, AuthorizationResult.Allow);
        if (grant?.Acl is { } acl)
        {
            // An answer with an acl is all the connection may do.
            return Decide(ctx, acl.Judge(ctx, client) == AuthorizationResult.Allow ? AuthorizationResult.Allow : AuthorizationResult.Deny);
        }
        if (_acl is null)
            return HookResult.Continue;
        var access = ctx.Action == AuthorizationAction.Publish ? "2" : "1";
        var (status, body) = await SendAsync(_acl, c => c switch
        {
            'A' => access,
            't' => ctx.Topic,
            'm' => "",
            _ => HttpRequestTemplate.ClientValue(c, client),
        }, ctx.CancellationToken).ConfigureAwait(false);
        if (status is null)
            throw new HttpRequestException("the ACL request failed"); // on_error, through the registration's OnFailure; not cached
        if (status != HttpStatusCode.OK)
            return Decide(ctx, AuthorizationResult.Deny);
        return IsIgnore(body) ? HookResult.Continue : Decide(ctx, AuthorizationResult.Allow);
    }

    /// <summary>
    /// Sends one request with the timeout; null status = it failed (transport error or timeout), logged. A transport
    /// error is retried once at once: a keep-alive connection the service closed while idle fails the first request
    /// sent on it, and these requests only ask (they change nothing).
    /// </summary>
    private async Task<(HttpStatusCode? Status, string Body)> SendAsync(HttpRequestTemplate template, Func<char, string?> value, CancellationToken hookToken)
    {
        using var timeout = new CancellationTokenSource(_options.Timeout, _context.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, hookToken);
        for (var attempt = 1; ; attempt++)
        {
            using var request = template.Build(value);
            try
            {
                using var response = await _http!.SendAsync(request, linked.Token).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false);
                return (response.StatusCode, body);
            }
            catch (HttpRequestException) when (attempt == 1 && !linked.IsCancellationRequested)
            {
                // once more, on a new connection if need be
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
            {
                if (_failureLog.Allow())
                    LogRequestFailed(_logger, request.RequestUri?.GetLeftPart(UriPartial.Path) ?? "", timeout.IsCancellationRequested ? $"no answer within {_options.Timeout.TotalMilliseconds:0} ms" : ex.Message);
                return (null, "");
            }
        }
    }

    private static bool IsIgnore(string body) => body.AsSpan().Trim().Equals("ignore", StringComparison.OrdinalIgnoreCase);

    /// <summary>A 200 body may be JSON: <c>{"is_superuser": true, "acl": {"pub": [...], "sub": [...], "all": [...]}}</c>.</summary>
    private static (bool Superuser, AclRuleSet? Acl) ParseGrant(string body)
    {
        if (body.Length == 0 || body.TrimStart()[0] != '{')
            return (false, null);
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            var superuser = root.TryGetProperty("is_superuser", out var s) && (s.ValueKind == JsonValueKind.True || (s.ValueKind == JsonValueKind.Number && s.GetDouble() != 0));
            var acl = root.TryGetProperty("acl", out var claim) && claim.ValueKind == JsonValueKind.Object ? AclRuleSet.FromJson(claim) : null;
            return (superuser, acl);
        }
        catch (JsonException)
        {
            return (false, null);
        }
    }

    private HookResult Fail(ClientAuthenticateContext ctx) =>
        _options.OnError == OnError.Ignore ? HookResult.Continue : Refuse(ctx, MqttReasonCode.ServerUnavailable);

    private static HookResult Refuse(ClientAuthenticateContext ctx, MqttReasonCode reason)
    {
        ctx.Result = AuthenticationResult.Deny;
        ctx.DenyReasonCode = reason;
        return HookResult.Stop;
    }

    private static HookResult Decide(ClientAuthorizeContext ctx, AuthorizationResult result)
    {
        ctx.Result = result;
        return HookResult.Stop;
    }

    /// <summary>What the auth answer granted, kept with the connection.</summary>
    private sealed record Grant(bool IsSuperuser, AclRuleSet? Acl);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "auth_http started: auth_req {Auth}, super_req {Super}, acl_req {Acl}; on_error = {OnError}")]
    private static partial void LogStarted(ILogger logger, string auth, string super, string acl, OnError onError);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "auth_http: a request to {Url} failed ({Reason}); clients are judged by on_error (logged at most every 10 s)")]
    private static partial void LogRequestFailed(ILogger logger, string url, string reason);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "auth_http: {Reason} (logged at most every 10 s)")]
    private static partial void LogTlsRefused(ILogger logger, string reason);
}
