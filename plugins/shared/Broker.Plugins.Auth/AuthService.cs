using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.Auth;

/// <summary>
/// The hooks of an auth plugin over its <see cref="IAuthBackend"/>: <c>client.authenticate</c> and
/// <c>client.authorize</c> at <see cref="HookPriorities.ExternalAuth"/> (before the built-in password file and
/// acl.conf), with EMQX 4's outcomes and a fail-closed policy.
/// </summary>
/// <remarks>
/// <para>
/// <b>Authenticate</b>: the auth query finds the user's stored password (and salt): none = this source does not know
/// the client, the next one decides; a match = allowed, the chain stops; no match = Bad User Name or Password. An
/// allowed client's superuser flag and ACL rows are loaded at once and kept with the connection
/// (<see cref="IPluginContext.ClientState"/>), so authorization needs no query; a superuser skips every ACL check.
/// </para>
/// <para>
/// <b>Authorize</b>: the connection's rows decide (<see cref="AclRuleSet"/>); a client that another source authenticated,
/// or that connected before a reload, has its rows loaded on its first check. The broker caches decisions per
/// connection (<c>acl_cache_*</c> in broker.conf).
/// </para>
/// <para>
/// <b>Failures</b>: each query is cancelled after <c>query_timeout</c>. A failed query (error, timeout, server
/// unreachable) denies (CONNACK Server Unavailable, or the publish/subscribe refused) unless <c>on_error = ignore</c>,
/// when the next source decides. A server that cannot be reached (or times out three times in a row) is marked down:
/// the log says so once, every lookup fails at once without waiting, and a probe every second brings it back; the
/// log says that too. With <c>cache_on_outage</c> a user's last successful lookup stands in while the server is down
/// (the password is still checked against it).
/// </para>
/// </remarks>
public sealed partial class AuthService : IAsyncDisposable
{
    private const int OutageCacheLimit = 100_000;
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(1);
    /// <summary>
    /// The least the start-up ping is given: the first connection also loads and compiles the driver, which on a busy
    /// two-core machine took more than a 1 s query_timeout, and a backend marked down at start refuses every client
    /// until the next probe.
    /// </summary>
    private static readonly TimeSpan WarmUpAtLeast = TimeSpan.FromSeconds(3);

    private readonly IPluginContext _context;
    private readonly IAuthBackend _backend;
    private readonly AuthSettings _settings;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string? User, string Client), CachedLookup> _outageCache = new();
    private readonly LogInterval _failureLog;
    private int _down;
    private int _consecutiveTimeouts;

    /// <summary>Prepares the hooks of <paramref name="backend"/>; <see cref="StartAsync"/> adds them.</summary>
    public AuthService(IPluginContext context, IAuthBackend backend, AuthSettings settings)
    {
        _context = context;
        _backend = backend;
        _settings = settings;
        _logger = context.LoggerFactory.CreateLogger("Broker.Plugins." + context.Name);
        _failureLog = new LogInterval(context.TimeProvider, TimeSpan.FromSeconds(10));
    }

    /// <summary>Whether the backend is currently marked unreachable.</summary>
    private bool IsDown => Volatile.Read(ref _down) != 0;

    /// <summary>
    /// A ping before the hooks go in, so the first client does not pay for the driver's first connection inside its
    /// query_timeout. A backend that cannot be reached (or gives no answer within the larger of query_timeout and 3 s)
    /// is marked down now, logged once, and probed until it comes; the plugin starts either way.
    /// </summary>
    public async Task StartAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromTicks(Math.Max(_settings.QueryTimeout.Ticks, WarmUpAtLeast.Ticks)), _context.TimeProvider);
            await _backend.PingAsync(timeout.Token).WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            MarkDown(ex is OperationCanceledException ? "no answer at start" : Short(ex));
        }
        Register();
    }

    /// <summary>Registers the callbacks for the queries that are configured.</summary>
    private void Register()
    {
        var options = new HookOptions
        {
            Priority = HookPriorities.ExternalAuth,
            // The queries time out on their own (and answer per on_error); this is the backstop.
            Timeout = 3 * _settings.QueryTimeout + TimeSpan.FromSeconds(1),
            OnFailure = _settings.OnError == OnError.Ignore ? HookFailureAction.Ignore : HookFailureAction.Deny,
        };
        if (_backend.HasAuthQuery)
            _context.Hooks.Register(HookPoints.ClientAuthenticate, AuthenticateAsync, options);
        if (_backend.HasAclQuery || _backend.HasSuperQuery)
            _context.Hooks.Register(HookPoints.ClientAuthorize, Authorize, options);
        LogStarted(_logger, _context.Name, _backend.HasAuthQuery, _backend.HasSuperQuery, _backend.HasAclQuery,
            _backend is IPasswordChecker ? "checked by " + _backend.Name : _settings.PasswordHash.Spec, _settings.OnError);
    }

    /// <summary>The <c>client.authenticate</c> callback.</summary>
    public async ValueTask<HookResult> AuthenticateAsync(ClientAuthenticateContext ctx)
    {
        if (ctx.Client is not { } client)
            return HookResult.Continue;
        var token = ctx.CancellationToken;
        CachedLookup lookup;
        try
        {
            var credentials = await QueryAsync(_backend.FindCredentialsAsync, client, token).ConfigureAwait(false);
            if (credentials is null)
                return HookResult.Continue;
            if (!await VerifyAsync(client, ctx.Password, credentials, token).ConfigureAwait(false))
                return Refuse(ctx, MqttReasonCode.BadUserNameOrPassword);
            lookup = await LoadAccessAsync(client, credentials, token).ConfigureAwait(false);
        }
        catch (BackendFailure failure)
        {
            if (!failure.Unreachable || FromOutageCache(client) is not { } cached)
                return OnBackendFailure(ctx);
            try
            {
                if (!await VerifyAsync(client, ctx.Password, cached.Credentials, token).ConfigureAwait(false))
                    return Refuse(ctx, MqttReasonCode.BadUserNameOrPassword);
            }
            catch (BackendFailure)
            {
                return OnBackendFailure(ctx); // a check that needs the server (an LDAP bind) cannot stand in for it
            }
            lookup = cached;
        }
        _context.ClientState.Set(client, lookup.Access);
        ctx.IsSuperuser |= lookup.Access.IsSuperuser;
        ctx.Result = AuthenticationResult.Allow;
        return HookResult.Stop;
    }

    /// <summary>The <c>client.authorize</c> callback: synchronous when the connection's rows are loaded.</summary>
    public ValueTask<HookResult> Authorize(ClientAuthorizeContext ctx)
    {
        if (ctx.Client is not { } client)
            return ValueTask.FromResult(HookResult.Continue);
        if (_context.ClientState.Get<ConnectionAccess>(client) is { } access)
            return ValueTask.FromResult(Judge(ctx, client, access));
        return LoadAndJudgeAsync(ctx, client);
    }

    private async ValueTask<HookResult> LoadAndJudgeAsync(ClientAuthorizeContext ctx, ClientInfo client)
    {
        ConnectionAccess access;
        try
        {
            var acl = _backend.HasAclQuery
                ? new AclRuleSet(await QueryAsync(_backend.LoadAclAsync, client, ctx.CancellationToken).ConfigureAwait(false))
                : null;
            access = new ConnectionAccess(false, acl);
        }
        catch (BackendFailure) when (FromOutageCache(client) is { } cached)
        {
            access = cached.Access;
        }
        // Any other BackendFailure propagates: the broker applies on_error (the registration's OnFailure) and, as for
        // every failed callback, does not cache that outcome.
        _context.ClientState.Set(client, access);
        return Judge(ctx, client, access);
    }

    private static HookResult Judge(ClientAuthorizeContext ctx, ClientInfo client, ConnectionAccess access)
    {
        if (access.IsSuperuser)
        {
            ctx.Result = AuthorizationResult.Allow;
            return HookResult.Stop;
        }
        if (access.Acl is not { } acl)
            return HookResult.Continue;
        var result = acl.Judge(ctx, client);
        if (result == AuthorizationResult.Ignore)
            return HookResult.Continue;
        ctx.Result = result;
        return HookResult.Stop;
    }

    private async Task<CachedLookup> LoadAccessAsync(ClientInfo client, StoredCredentials credentials, CancellationToken token)
    {
        var superuser = credentials.IsSuperuser ?? false;
        if (_backend.HasSuperQuery && credentials.IsSuperuser is null)
        {
            try
            {
                superuser = await QueryAsync(_backend.IsSuperuserAsync, client, token).ConfigureAwait(false);
            }
            catch (BackendFailure)
            {
                // EMQX 4: a failed superuser query means "not a superuser"; the ACL still applies.
            }
        }
        AclRuleSet? acl = null;
        if (_backend.HasAclQuery && !superuser)
            acl = new AclRuleSet(credentials.Acl ?? await QueryAsync(_backend.LoadAclAsync, client, token).ConfigureAwait(false));
        var lookup = new CachedLookup(credentials, new ConnectionAccess(superuser, acl), _context.TimeProvider.GetTimestamp());
        if (_settings.CacheOnOutage > TimeSpan.Zero && (_outageCache.Count < OutageCacheLimit || _outageCache.ContainsKey(Key(client))))
            _outageCache[Key(client)] = lookup;
        return lookup;
    }

    private CachedLookup? FromOutageCache(ClientInfo client)
    {
        if (_settings.CacheOnOutage <= TimeSpan.Zero || !_outageCache.TryGetValue(Key(client), out var cached))
            return null;
        if (_context.TimeProvider.GetElapsedTime(cached.At) <= _settings.CacheOnOutage)
            return cached;
        _outageCache.TryRemove(Key(client), out _);
        return null;
    }

    private static (string?, string) Key(ClientInfo client) => (client.Username, client.ClientId);

    private async ValueTask<bool> VerifyAsync(ClientInfo client, ReadOnlyMemory<byte>? password, StoredCredentials credentials, CancellationToken token)
    {
        var hash = _settings.PasswordHash;
        var bytes = password ?? ReadOnlyMemory<byte>.Empty;
        if (_backend is IPasswordChecker checker)
            return await QueryAsync((c, t) => checker.CheckPasswordAsync(c, bytes, credentials, t), client, token, evenWhenDown: true).ConfigureAwait(false);
        // bcrypt and pbkdf2 cost milliseconds on purpose: never on the connection's I/O thread.
        return hash.IsSlow
            ? await Task.Run(() => hash.Verify(bytes.Span, credentials.Password, credentials.Salt)).ConfigureAwait(false)
            : hash.Verify(bytes.Span, credentials.Password, credentials.Salt);
    }

    private HookResult OnBackendFailure(ClientAuthenticateContext ctx) =>
        _settings.OnError == OnError.Ignore ? HookResult.Continue : Refuse(ctx, MqttReasonCode.ServerUnavailable);

    private static HookResult Refuse(ClientAuthenticateContext ctx, MqttReasonCode reason)
    {
        ctx.Result = AuthenticationResult.Deny;
        ctx.DenyReasonCode = reason;
        return HookResult.Stop;
    }

    /// <summary>
    /// Runs one query with the timeout, the down-marking and the logging. <paramref name="evenWhenDown"/>: for a
    /// password check, which may need no server at all (it fails by itself when it does and the server is away).
    /// </summary>
    private async Task<T> QueryAsync<T>(Func<ClientInfo, CancellationToken, Task<T>> query, ClientInfo client, CancellationToken hookToken, bool evenWhenDown = false)
    {
        if (IsDown && !evenWhenDown)
            throw new BackendFailure(unreachable: true);
        using var timeout = new CancellationTokenSource(_settings.QueryTimeout, _context.TimeProvider);
        // Not linked to the plugin's Stopping: during a reload this instance answers until its hooks are gone, and
        // DisposeAsync waits for the queries it already started.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, hookToken);
        try
        {
            // WaitAsync: a driver that does not honour the token (StackExchange.Redis) is still not waited for.
            var result = await query(client, linked.Token).WaitAsync(linked.Token).ConfigureAwait(false);
            Volatile.Write(ref _consecutiveTimeouts, 0);
            return result;
        }
        catch (Exception ex) when (ex is not BackendFailure && _backend.IsUnreachable(ex))
        {
            MarkDown(Short(ex));
            throw new BackendFailure(unreachable: true, ex);
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested)
        {
            if (_failureLog.Allow())
                LogQueryTimeout(_logger, _context.Name, _settings.QueryTimeout);
            if (Interlocked.Increment(ref _consecutiveTimeouts) >= 3)
                MarkDown($"{_consecutiveTimeouts} queries in a row took longer than query_timeout ({_settings.QueryTimeout.TotalMilliseconds:0} ms)");
            throw new BackendFailure(unreachable: IsDown, ex);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not BackendFailure)
        {
            if (_failureLog.Allow())
                LogQueryFailed(_logger, ex, _context.Name, _backend.Name);
            throw new BackendFailure(unreachable: false, ex);
        }
    }

    /// <summary>The gist of a driver's message: drivers append pages of diagnostics after the first clause.</summary>
    private static string Short(Exception ex)
    {
        var text = ex.Message.Split([';', '\n'], 2)[0];
        var comma = text.IndexOf(", mc: ", StringComparison.Ordinal); // StackExchange.Redis's counters
        return comma > 0 ? text[..comma] : text.Length > 200 ? text[..200] + "..." : text;
    }

    private void MarkDown(string why)
    {
        if (Interlocked.Exchange(ref _down, 1) != 0)
            return;
        LogDown(_logger, _context.Name, _backend.Name, why, _settings.OnError == OnError.Ignore ? "left to the next source" : "refused");
        _ = ProbeUntilBackAsync();
    }

    private async Task ProbeUntilBackAsync()
    {
        var stopping = _context.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(ProbeInterval, _context.TimeProvider, stopping).ConfigureAwait(false);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(_settings.QueryTimeout);
                await _backend.PingAsync(timeout.Token).WaitAsync(timeout.Token).ConfigureAwait(false);
                Volatile.Write(ref _consecutiveTimeouts, 0);
                Volatile.Write(ref _down, 0);
                LogBack(_logger, _context.Name, _backend.Name);
                return;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception)
            {
                // still down: try again in a second
            }
        }
    }

    /// <summary>
    /// Closes the backend, from the plugin's StopAsync: the host has removed the hooks and waited for the callbacks
    /// already running, and during a reload the new instance has been answering since it started, so no CONNECT in
    /// flight is failed by the old one going away.
    /// </summary>
    public ValueTask DisposeAsync() => _backend.DisposeAsync();

    /// <summary>What a connection may do, loaded at CONNECT (or at its first check) and kept with it.</summary>
    private sealed record ConnectionAccess(bool IsSuperuser, AclRuleSet? Acl);

    private sealed record CachedLookup(StoredCredentials Credentials, ConnectionAccess Access, long At);

    private sealed class BackendFailure(bool unreachable, Exception? inner = null)
        : Exception(unreachable ? "the backend is unreachable" : "the backend query failed", inner)
    {
        public bool Unreachable { get; } = unreachable;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Plugin} started: auth query {Auth}, superuser query {Super}, ACL query {Acl}; password_hash = {Hash}, on_error = {OnError}")]
    private static partial void LogStarted(ILogger logger, string plugin, bool auth, bool super, bool acl, string hash, OnError onError);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "{Plugin}: {Backend} is unreachable ({Why}); until it is back, clients it would check are {Outcome} at once")]
    private static partial void LogDown(ILogger logger, string plugin, string backend, string why, string outcome);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Plugin}: {Backend} is reachable again")]
    private static partial void LogBack(ILogger logger, string plugin, string backend);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "{Plugin}: a {Backend} query failed (logged at most every 10 s)")]
    private static partial void LogQueryFailed(ILogger logger, Exception ex, string plugin, string backend);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "{Plugin}: a query took longer than query_timeout ({Timeout}) (logged at most every 10 s)")]
    private static partial void LogQueryTimeout(ILogger logger, string plugin, TimeSpan timeout);
}
