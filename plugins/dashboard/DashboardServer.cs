using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.Dashboard;

/// <summary>
/// Every request of the dashboard's listeners: the pages, sign-in and sign-out, the signed-in user's password, the
/// dashboard users, and <c>/api/v4/*</c> forwarded to the management API.
/// </summary>
/// <remarks>
/// <para>
/// <b>Sessions</b>: a random token in a cookie (HttpOnly, SameSite=Strict, Secure over HTTPS), forgotten after
/// <c>session_timeout</c> without a request, on sign-out, and when the user is deleted or their password is changed
/// elsewhere. Every request that changes something must also carry the session's CSRF token in
/// <c>X-CSRF-Token</c> (the page gets it at sign-in), so another site can neither read nor forge one.
/// </para>
/// <para>
/// <b>Default password</b>: a user marked to change their password (the default user, whose password sits in a .conf
/// file) can sign in and change it, and do nothing else: every other request answers 403.
/// </para>
/// <para>
/// <b>Failed sign-ins</b> count per client address; past <c>sign_in.max_failures</c> in <c>sign_in.window</c> every
/// sign-in from that address is refused with 429 and Retry-After, right password or not, until the window passes.
/// </para>
/// </remarks>
internal sealed partial class DashboardServer : IDisposable
{
    private const string SessionCookie = "broker_dashboard";
    private const string CsrfHeader = "X-CSRF-Token";
    private const int BodyLimit = 1024 * 1024;

    private readonly IPluginContext _context;
    private readonly DashboardOptions _options;
    private readonly AdminStore _admins;
    private readonly Dictionary<string, Asset> _assets;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly PartitionedRateLimiter<IPAddress> _attempts;
    // PBKDF2 is the costly part of a sign-in or password change: at most two at a time, whatever arrives in parallel.
    private readonly SemaphoreSlim _hashing = new(2);
    private readonly List<IDisposable> _registrations = [];
    private readonly Lock _clientLock = new();
    private HttpClient? _management;

    public DashboardServer(IPluginContext context, DashboardOptions options, AdminStore admins, Dictionary<string, Asset> assets, ILogger logger)
    {
        _context = context;
        _options = options;
        _admins = admins;
        _assets = assets;
        _logger = logger;
        _attempts = PartitionedRateLimiter.Create<IPAddress, IPAddress>(address => RateLimitPartition.GetFixedWindowLimiter(address, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.MaxFailures,
            Window = options.FailureWindow,
            QueueLimit = 0,
        }));
    }

    /// <summary>
    /// The dashboard users on the management API too (<c>/api/v4/plugins/dashboard/api/admins</c>), for
    /// <c>ctl admins list|add|passwd|del</c>.
    /// </summary>
    public void MapManagementEndpoints()
    {
        var http = _context.Http;
        _registrations.Add(http.Map("GET", "admins", (_, _) => ValueTask.FromResult(Respond(AdminsList()))));
        _registrations.Add(http.Map("POST", "admins", (request, _) => ValueTask.FromResult(Respond(AdminsAdd(request.BodyText)))));
        _registrations.Add(http.Map("PUT", "admins/{name}", (request, _) => ValueTask.FromResult(Respond(AdminsPassword(request.RouteValues["name"], request.BodyText, null)))));
        _registrations.Add(http.Map("DELETE", "admins/{name}", (request, _) => ValueTask.FromResult(Respond(AdminsDelete(request.RouteValues["name"], null)))));

        static PluginHttpResponse Respond(Reply reply) => PluginHttpResponse.Json(reply.Json, reply.Status);
    }

    public async Task HandleAsync(HttpContext http)
    {
        var response = http.Response;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.XFrameOptions = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers.ContentSecurityPolicy =
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
        var path = http.Request.Path.Value ?? "/";
        var method = http.Request.Method;
        if (RefusedHost(http.Request.Host.Host) is { } misdirected)
        {
            await WriteAsync(http, misdirected).ConfigureAwait(false);
            return;
        }
        if (method is not ("GET" or "HEAD") && CrossSite(http.Request) is { } crossSite)
        {
            await WriteAsync(http, crossSite).ConfigureAwait(false);
            return;
        }
        try
        {
            if (method == "GET" && (path == "/" || _assets.ContainsKey(path)))
            {
                await ServeAssetAsync(http, path == "/" ? "/index.html" : path).ConfigureAwait(false);
                return;
            }
            if (path == "/auth/login" && method == "POST")
            {
                await WriteAsync(http, await SignInAsync(http).ConfigureAwait(false)).ConfigureAwait(false);
                return;
            }
            var session = CurrentSession(http);
            if (session is null)
            {
                await WriteAsync(http, Reply.Error(401, "sign in first")).ConfigureAwait(false);
                return;
            }
            if (method != "GET" && method != "HEAD" && !CsrfMatches(http, session))
            {
                await WriteAsync(http, Reply.Error(403, $"missing or wrong {CsrfHeader} header")).ConfigureAwait(false);
                return;
            }
            switch (path)
            {
                case "/auth/me" when method == "GET":
                    await WriteAsync(http, Reply.Of(ViewOf(session), DashboardJson.Default.AnswerSessionView)).ConfigureAwait(false);
                    return;
                case "/auth/logout" when method == "POST":
                    _sessions.TryRemove(session.Token, out _);
                    response.Cookies.Delete(SessionCookie, new CookieOptions { Path = "/", HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = http.Request.IsHttps });
                    await WriteAsync(http, Reply.Ok).ConfigureAwait(false);
                    return;
                case "/auth/password" when method == "POST":
                    await WriteAsync(http, await ChangeOwnPasswordAsync(session, await ReadBodyAsync(http).ConfigureAwait(false), http.RequestAborted).ConfigureAwait(false)).ConfigureAwait(false);
                    return;
            }
            if (_admins.MustChangePassword(session.Username))
            {
                await WriteAsync(http, Reply.Error(403, "change the default password first")).ConfigureAwait(false);
                return;
            }
            if (path == "/admins" || path.StartsWith("/admins/", StringComparison.Ordinal))
            {
                var name = path.Length > "/admins/".Length ? path["/admins/".Length..] : null; // decoded once, by Kestrel
                var reply = (method, name) switch
                {
                    ("GET", null) => AdminsList(),
                    ("POST", null) => AdminsAdd(await ReadBodyAsync(http).ConfigureAwait(false)),
                    ("PUT", { } n) => AdminsPassword(n, await ReadBodyAsync(http).ConfigureAwait(false), session),
                    ("DELETE", { } n) => AdminsDelete(n, session),
                    _ => Reply.Error(405, $"{method} {path} is not supported"),
                };
                await WriteAsync(http, reply).ConfigureAwait(false);
                return;
            }
            if (path.StartsWith("/api/v4/", StringComparison.Ordinal))
            {
                await ForwardAsync(http).ConfigureAwait(false);
                return;
            }
            await WriteAsync(http, Reply.Error(404, $"no page {method} {path}")).ConfigureAwait(false);
        }
        catch (BadRequestException ex)
        {
            await WriteAsync(http, Reply.Error(400, ex.Message)).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            LogForwardFailed(_logger, path, ex.Message);
            await WriteAsync(http, Reply.Error(502, "the management API did not answer: " + ex.Message)).ConfigureAwait(false);
        }
        catch (TaskCanceledException) when (!http.RequestAborted.IsCancellationRequested)
        {
            LogForwardFailed(_logger, path, "no answer in time");
            await WriteAsync(http, Reply.Error(504, "the management API did not answer in time")).ConfigureAwait(false);
        }
    }

    private async Task ServeAssetAsync(HttpContext http, string path)
    {
        var asset = _assets[path];
        var response = http.Response;
        response.Headers.ETag = asset.ETag;
        response.Headers.CacheControl = "no-cache"; // revalidated each time: a reload's new pages show at once
        if (http.Request.Headers.IfNoneMatch == asset.ETag)
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }
        response.ContentType = asset.ContentType;
        response.Headers.Vary = "Accept-Encoding";
        var body = asset.Body;
        if (http.Request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
        {
            response.Headers.ContentEncoding = "gzip";
            body = asset.Gzip;
        }
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, http.RequestAborted).ConfigureAwait(false);
    }

    private async Task<Reply> SignInAsync(HttpContext http)
    {
        if (!IsJson(http.Request))
            return Reply.Error(415, "send the user name and password as application/json");
        var address = http.Connection.RemoteIpAddress ?? IPAddress.None;
        // The attempt is counted before the password is checked, so parallel guesses cannot slip between check and count.
        using var attempt = _attempts.AttemptAcquire(address, 1);
        if (!attempt.IsAcquired)
        {
            var wait = attempt.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : _options.FailureWindow;
            http.Response.Headers.RetryAfter = Math.Max(1, Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            LogThrottled(_logger, address.ToString());
            return Reply.Error(429, "too many sign-ins from this address: try again later");
        }
        var input = Parse(await ReadBodyAsync(http).ConfigureAwait(false), DashboardJson.Default.SignIn);
        var admin = await VerifyAsync(input.Username ?? "", input.Password ?? "", http.RequestAborted).ConfigureAwait(false);
        if (admin is null)
        {
            // The name only when it is a user's: a password typed into the name field stays out of the log.
            LogSignInFailed(_logger, _admins.Exists(input.Username ?? "") ? input.Username! : "(not a user)", address.ToString());
            return Reply.Error(401, "wrong user name or password");
        }
        PruneSessions();
        var session = new Session(NewToken(), admin.Username, NewToken(), _context.TimeProvider.GetTimestamp());
        _sessions[session.Token] = session;
        http.Response.Cookies.Append(SessionCookie, session.Token,
            new CookieOptions { Path = "/", HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = http.Request.IsHttps });
        LogSignedIn(_logger, admin.Username, address.ToString());
        return Reply.Of(ViewOf(session), DashboardJson.Default.AnswerSessionView);
    }

    private async Task<Admin?> VerifyAsync(string username, string password, CancellationToken cancellationToken)
    {
        await _hashing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _admins.Verify(username, password);
        }
        finally
        {
            _hashing.Release();
        }
    }

    /// <summary>
    /// A Host header that is neither an IP address, localhost, nor one of <c>dashboard.hosts</c> is refused (421): a web
    /// page the operator visits cannot point a name of its own at this listener (DNS rebinding) and read the answers.
    /// </summary>
    private Reply? RefusedHost(string host)
    {
        if (host.Length == 0 || host == "localhost" || IPAddress.TryParse(host.Trim('[', ']'), out _)
            || _options.AllowedHosts.Contains(host, StringComparer.OrdinalIgnoreCase))
            return null;
        return Reply.Error(421, $"this dashboard does not answer to the name '{host}': add it to dashboard.hosts");
    }

    /// <summary>A state change sent by another site (its Origin or Sec-Fetch-Site says so) is refused (403).</summary>
    private static Reply? CrossSite(HttpRequest request)
    {
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0 && site is not ("same-origin" or "none"))
            return Reply.Error(403, "a request from another site");
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || !string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase)))
            return Reply.Error(403, "a request from another origin");
        return null;
    }

    private static bool IsJson(HttpRequest request) =>
        request.ContentType is { } type && type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase);

    private Session? CurrentSession(HttpContext http)
    {
        if (!http.Request.Cookies.TryGetValue(SessionCookie, out var token) || token is null || !_sessions.TryGetValue(token, out var session))
            return null;
        var now = _context.TimeProvider.GetTimestamp();
        if (_context.TimeProvider.GetElapsedTime(Volatile.Read(ref session.LastSeen), now) > _options.SessionTimeout || !_admins.Exists(session.Username))
        {
            _sessions.TryRemove(token, out _);
            return null;
        }
        Volatile.Write(ref session.LastSeen, now);
        return session;
    }

    private static bool CsrfMatches(HttpContext http, Session session) =>
        http.Request.Headers[CsrfHeader].ToString() is { Length: > 0 } given
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(session.Csrf));

    private void PruneSessions()
    {
        var now = _context.TimeProvider.GetTimestamp();
        foreach (var (token, session) in _sessions)
        {
            if (_context.TimeProvider.GetElapsedTime(Volatile.Read(ref session.LastSeen), now) > _options.SessionTimeout)
                _sessions.TryRemove(token, out _);
        }
    }

    private SessionView ViewOf(Session session) => new()
    {
        Username = session.Username,
        MustChangePassword = _admins.MustChangePassword(session.Username),
        CsrfToken = session.Csrf,
    };

    private async Task<Reply> ChangeOwnPasswordAsync(Session session, string body, CancellationToken cancellationToken)
    {
        var input = Parse(body, DashboardJson.Default.PasswordChange);
        if (await VerifyAsync(session.Username, input.OldPassword ?? "", cancellationToken).ConfigureAwait(false) is null)
            return Reply.Error(400, "the current password is wrong");
        if (CheckNewPassword(input.NewPassword, input.OldPassword) is { } problem)
            return Reply.Error(400, problem);
        _admins.SetPassword(session.Username, input.NewPassword!);
        DropSessions(session.Username, except: session);
        LogPasswordChanged(_logger, session.Username);
        return Reply.Ok;
    }

    private Reply AdminsList() => Reply.Of(_admins.List(), DashboardJson.Default.AnswerAdminViewArray);

    private Reply AdminsAdd(string body)
    {
        var input = Parse(body, DashboardJson.Default.AdminInput);
        if (string.IsNullOrWhiteSpace(input.Username) || input.Username.Any(char.IsControl))
            return Reply.Error(400, "username is missing or has control characters");
        if (CheckNewPassword(input.Password, null) is { } problem)
            return Reply.Error(400, problem);
        if (!_admins.Add(input.Username, input.Password!, input.Description ?? ""))
            return Reply.Error(409, $"user '{input.Username}' exists");
        LogUserAdded(_logger, input.Username);
        return Reply.Ok;
    }

    private Reply AdminsPassword(string name, string body, Session? by)
    {
        var input = Parse(body, DashboardJson.Default.AdminInput);
        if (CheckNewPassword(input.Password, null) is { } problem)
            return Reply.Error(400, problem);
        if (!_admins.SetPassword(name, input.Password!))
            return Reply.Error(404, $"no user '{name}'");
        DropSessions(name, except: by);
        LogPasswordChanged(_logger, name);
        return Reply.Ok;
    }

    private Reply AdminsDelete(string name, Session? by)
    {
        if (by?.Username == name)
            return Reply.Error(400, "you cannot delete yourself");
        switch (_admins.Delete(name))
        {
            case DeleteResult.NotFound:
                return Reply.Error(404, $"no user '{name}'");
            case DeleteResult.LastUser:
                return Reply.Error(400, $"'{name}' is the last user: add another first");
        }
        DropSessions(name, except: null);
        LogUserDeleted(_logger, name);
        return Reply.Ok;
    }

    private static string? CheckNewPassword(string? password, string? old)
    {
        if (string.IsNullOrEmpty(password) || password.Length < 8)
            return "the new password must have at least 8 characters";
        if (password == old)
            return "the new password must differ from the current one";
        return null;
    }

    private void DropSessions(string username, Session? except)
    {
        foreach (var (token, session) in _sessions)
        {
            if (session.Username == username && session != except)
                _sessions.TryRemove(token, out _);
        }
    }

    /// <summary><c>/api/v4/...</c> of a signed-in user, to the management API and its answer back as it is.</summary>
    private async Task ForwardAsync(HttpContext http)
    {
        var client = ManagementClient();
        // The target as the browser sent it: decoding it (as Path does) would turn %23 in a topic into a fragment.
        var target = (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? http.Request.Path.Value!).TrimStart('/');
        using var request = new HttpRequestMessage(new HttpMethod(http.Request.Method), target);
        if (http.Request.ContentLength > 0 || http.Request.Headers.TransferEncoding.Count > 0)
        {
            request.Content = new ByteArrayContent(await ReadBodyBytesAsync(http).ConfigureAwait(false));
            if (http.Request.ContentType is { } type)
                request.Content.Headers.TryAddWithoutValidation("Content-Type", type);
        }
        using var answer = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, http.RequestAborted).ConfigureAwait(false);
        http.Response.StatusCode = (int)answer.StatusCode;
        if (answer.Content.Headers.ContentType is { } contentType)
            http.Response.ContentType = contentType.ToString();
        http.Response.Headers.CacheControl = "no-store";
        await answer.Content.CopyToAsync(http.Response.Body, http.RequestAborted).ConfigureAwait(false);
    }

    private HttpClient ManagementClient()
    {
        lock (_clientLock)
            return _management ??= _context.CreateManagementClient();
    }

    private static async Task<string> ReadBodyAsync(HttpContext http) => Encoding.UTF8.GetString(await ReadBodyBytesAsync(http).ConfigureAwait(false));

    /// <summary>The request body, at most <see cref="BodyLimit"/> bytes (400 beyond).</summary>
    private static async Task<byte[]> ReadBodyBytesAsync(HttpContext http)
    {
        if (http.Request.ContentLength > BodyLimit)
            throw new BadRequestException($"the body is over {BodyLimit} bytes");
        using var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(buffer, http.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (body.Length + read > BodyLimit)
                throw new BadRequestException($"the body is over {BodyLimit} bytes");
            body.Write(buffer, 0, read);
        }
        return body.ToArray();
    }

    private static T Parse<T>(string body, JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(body, type) ?? throw new BadRequestException("the body is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new BadRequestException("the body is not valid JSON: " + ex.Message);
        }
    }

    private static async Task WriteAsync(HttpContext http, Reply reply)
    {
        http.Response.StatusCode = reply.Status;
        http.Response.ContentType = "application/json; charset=utf-8";
        http.Response.Headers.CacheControl = "no-store";
        await http.Response.WriteAsync(reply.Json, http.RequestAborted).ConfigureAwait(false);
    }

    private static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
        _attempts.Dispose();
        _hashing.Dispose();
        lock (_clientLock)
            _management?.Dispose();
        _sessions.Clear();
    }

    private sealed class Session(string token, string username, string csrf, long lastSeen)
    {
        public string Token { get; } = token;
        public string Username { get; } = username;
        public string Csrf { get; } = csrf;
        public long LastSeen = lastSeen;
    }

    /// <summary>An answer: status and JSON body in EMQX 4's envelope.</summary>
    private sealed record Reply(int Status, string Json)
    {
        public static readonly Reply Ok = new(200, """{"code":0}""");

        public static Reply Of<T>(T data, JsonTypeInfo<Answer<T>> type) => new(200, JsonSerializer.Serialize(new Answer<T> { Data = data }, type));

        public static Reply Error(int status, string message) =>
            new(status, JsonSerializer.Serialize(new Answer<object> { Code = status, Message = message }, DashboardJson.Default.AnswerObject));
    }

    private sealed class BadRequestException(string message) : Exception(message);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Dashboard: {User} signed in from {Address}")]
    private static partial void LogSignedIn(ILogger logger, string user, string address);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Dashboard: failed sign-in as {User} from {Address}")]
    private static partial void LogSignInFailed(ILogger logger, string user, string address);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "Dashboard: sign-ins from {Address} refused for a while: too many attempts")]
    private static partial void LogThrottled(ILogger logger, string address);

    [LoggerMessage(EventId = 13, Level = LogLevel.Information, Message = "Dashboard: password of {User} changed")]
    private static partial void LogPasswordChanged(ILogger logger, string user);

    [LoggerMessage(EventId = 14, Level = LogLevel.Information, Message = "Dashboard: user {User} added")]
    private static partial void LogUserAdded(ILogger logger, string user);

    [LoggerMessage(EventId = 15, Level = LogLevel.Information, Message = "Dashboard: user {User} deleted")]
    private static partial void LogUserDeleted(ILogger logger, string user);

    [LoggerMessage(EventId = 16, Level = LogLevel.Error, Message = "Dashboard: forwarding {Path} to the management API failed: {Reason}")]
    private static partial void LogForwardFailed(ILogger logger, string path, string reason);
}
