using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Microsoft.Extensions.Logging;

namespace Broker.Core.AccessControl;

/// <summary>
/// The broker's built-in authentication (password file) and authorization (acl.conf) as hook callbacks for
/// <see cref="HookPoints.ClientAuthenticate"/> and <see cref="HookPoints.ClientAuthorize"/>.
/// </summary>
/// <remarks>
/// <para>
/// Authenticate: a client that gives a user name in the password file is allowed with the right password and
/// denied (Bad User Name or Password) with a wrong one; a user name not in a non-empty password file is denied too
/// (mosquitto's behaviour); either way the chain stops. A client without a user name, or any client while the
/// password file is empty or absent, is ignored and the chain continues (the core then applies
/// <c>allow_anonymous</c>).
/// </para>
/// <para>
/// Authorize: the first matching acl.conf rule allows or denies and stops the chain; when none matches the result
/// is ignored and the chain continues (the core then applies <c>acl_nomatch</c>). A subscription whose filter the
/// rules allow only in part is allowed with <see cref="ClientAuthorizeContext.CheckDeliveries"/> set
/// (<see cref="AclRules.CheckSubscription"/>).
/// </para>
/// <para>
/// Authorization finishes synchronously (a walk over an immutable rule array), and so does authentication when
/// <see cref="PasswordFile"/>'s verification caches answer; otherwise the PBKDF2 waits its turn on the
/// <see cref="PasswordHasher"/>'s threads, never on the connection's. The files are read at construction and by
/// <see cref="Reload"/>, which swaps both in at once.
/// </para>
/// </remarks>
public sealed partial class BuiltinAccessControl
{
    private static readonly ValueTask<HookResult> StopTask = new(HookResult.Stop);
    private static readonly ValueTask<HookResult> ContinueTask = new(HookResult.Continue);

    private readonly string _passwordFilePath;
    private readonly string _aclFilePath;
    private readonly ILogger _logger;
    private readonly TimeProvider? _timeProvider;
    private readonly PasswordHasher _hasher;
    private readonly int _iterations;
    private State _state;

    /// <summary>Loads both files.</summary>
    /// <param name="passwordFilePath">The password file; empty = none. A missing file is an empty user list.</param>
    /// <param name="aclFilePath">acl.conf; empty = no rules. A missing file is an error.</param>
    /// <param name="logger">Where reloads and denials are logged.</param>
    /// <param name="hasher">Where password hashes are computed (the engine's <see cref="BrokerEngine.PasswordHasher"/>).</param>
    /// <param name="timeProvider">Clock of the password verification cache (tests pass a fake one).</param>
    /// <param name="iterations">PBKDF2 iterations of passwords set from now on (<c>password_hash_iterations</c>).</param>
    /// <exception cref="AccessFileException">A file has an error; the message names file and line.</exception>
    /// <exception cref="FileNotFoundException">acl.conf is configured but missing.</exception>
    internal BuiltinAccessControl(string passwordFilePath, string aclFilePath, ILogger logger, PasswordHasher hasher,
        TimeProvider? timeProvider = null, int iterations = PasswordFile.DefaultIterations)
    {
        _passwordFilePath = passwordFilePath;
        _aclFilePath = aclFilePath;
        _logger = logger;
        _timeProvider = timeProvider;
        _iterations = iterations;
        _hasher = hasher;
        _state = LoadState();
    }

    /// <summary>The acl.conf in use (empty = none).</summary>
    public string AclFilePath => _aclFilePath;

    /// <summary>The password file in use (empty = none).</summary>
    public string PasswordFilePath => _passwordFilePath;

    /// <summary>Rules loaded from acl.conf by the constructor or the last successful <see cref="Reload"/>.</summary>
    public int RuleCount => Volatile.Read(ref _state).Acl.Count;

    /// <summary>Users loaded from the password file by the constructor or the last successful <see cref="Reload"/>.</summary>
    public int UserCount => Volatile.Read(ref _state).Passwords.Count;

    /// <summary>The <see cref="HookPoints.ClientAuthenticate"/> callback.</summary>
    public ValueTask<HookResult> AuthenticateAsync(ClientAuthenticateContext ctx)
    {
        var username = ctx.Client?.Username;
        var passwords = _state.Passwords;
        if (username is null || passwords.Count == 0)
            return ContinueTask;
        var verifying = passwords.VerifyAsync(username, ctx.Password ?? ReadOnlyMemory<byte>.Empty, _hasher, ctx.CancellationToken);
        if (!verifying.IsCompletedSuccessfully)
            return AuthenticateSlowAsync(ctx, verifying);
        Decide(ctx, verifying.Result);
        return StopTask;
    }

    private static async ValueTask<HookResult> AuthenticateSlowAsync(ClientAuthenticateContext ctx, ValueTask<bool> verifying)
    {
        Decide(ctx, await verifying.ConfigureAwait(false));
        return HookResult.Stop;
    }

    /// <summary>Allowed, or denied with Bad User Name or Password (the connection logs the refusal, throttled).</summary>
    private static void Decide(ClientAuthenticateContext ctx, bool verified)
    {
        if (verified)
        {
            ctx.Result = AuthenticationResult.Allow;
        }
        else
        {
            ctx.Result = AuthenticationResult.Deny;
            ctx.DenyReasonCode = MqttReasonCode.BadUserNameOrPassword;
        }
    }

    /// <summary>The <see cref="HookPoints.ClientAuthorize"/> callback.</summary>
    public ValueTask<HookResult> AuthorizeAsync(ClientAuthorizeContext ctx)
    {
        if (ctx.Client is not { } client)
            return ContinueTask;
        var acl = Volatile.Read(ref _state).Acl;
        AuthorizationResult result;
        if (ctx.Action == AuthorizationAction.Subscribe && !ctx.IsDelivery)
        {
            result = acl.CheckSubscription(client, ctx.Topic, out var partial);
            ctx.CheckDeliveries |= partial;
        }
        else
        {
            result = acl.Check(client, ctx.Action, ctx.Topic);
        }
        if (result == AuthorizationResult.Ignore)
            return ContinueTask;
        ctx.Result = result;
        return StopTask;
    }

    /// <summary>
    /// Reads both files again and swaps them in together. On an error nothing changes: the previous rules and users
    /// stay in force, the error is logged and thrown for the caller (e.g. <c>ctl reload</c>) to report.
    /// </summary>
    public void Reload()
    {
        State state;
        try
        {
            state = LoadState();
        }
        catch (Exception e) when (e is AccessFileException or IOException or UnauthorizedAccessException)
        {
            LogReloadFailed(_logger, e.Message);
            throw;
        }
        Volatile.Write(ref _state, state);
        Reloaded?.Invoke();
    }

    /// <summary>Raised after <see cref="Reload"/> swapped new rules in (the engine authorizes subscriptions again).</summary>
    public event Action? Reloaded;

    private State LoadState()
    {
        var passwords = _passwordFilePath.Length == 0
            ? new PasswordFile(_iterations, _timeProvider)
            : PasswordFile.Load(_passwordFilePath, _iterations, _timeProvider);
        var acl = _aclFilePath.Length == 0 ? AclRules.Empty : AclRules.Load(_aclFilePath);
        LogLoaded(_logger, passwords.Count, _passwordFilePath, acl.Count, _aclFilePath);
        return new State(passwords, acl);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Access control loaded: {Users} user(s) from '{PasswordFile}', {Rules} rule(s) from '{AclFile}'")]
    private static partial void LogLoaded(ILogger logger, int users, string passwordFile, int rules, string aclFile);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Access control reload failed, keeping the previous files: {Error}")]
    private static partial void LogReloadFailed(ILogger logger, string error);

    private sealed record State(PasswordFile Passwords, AclRules Acl);

}
