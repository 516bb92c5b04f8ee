using Broker.Plugins.Auth;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.AuthBuiltin;

/// <summary>
/// EMQX 4's <c>emqx_auth_mnesia</c> (mosquitto's dynamic security): users and ACL rules the broker keeps itself, in a
/// JSON file under the plugin's data directory, managed over the management API (<see cref="AuthBuiltinApi"/>) and
/// <c>ctl users|clientids|acl rules</c>, applied from the next CONNECT or the next authorization check without a
/// restart.
/// </summary>
/// <remarks>
/// <para>
/// <b>Authenticate</b> (priority 500, before etc/passwd): the client's client id is looked up in <c>auth_clientid</c> and
/// its user name in <c>auth_username</c>. Neither found: this source ignores the client (the next one decides). Found:
/// allowed when the password matches either entry (superuser when that entry says so), otherwise Bad User Name or
/// Password. Slow hashes (PBKDF2, bcrypt) are checked off the connection's I/O thread.
/// </para>
/// <para>
/// <b>Authorize</b>: the rules of the client's client id, then of its user name, then <c>$all</c>, each in the order
/// added; the first about the action whose topic matches decides; none = the next source (acl.conf). The rules are
/// read from the current data, so a change applies at once; the broker's per-connection cache is emptied on every
/// rule change (<see cref="IBrokerServices.InvalidateAuthorization()"/>).
/// </para>
/// </remarks>
public sealed partial class AuthBuiltinPlugin : IBrokerPlugin
{
    /// <summary>The file under the plugin's data directory.</summary>
    private const string FileName = "auth_builtin.json";

    private IPluginContext _context = null!;
    private BuiltinStore _store = null!;
    private readonly List<IDisposable> _registrations = [];

    /// <inheritdoc />
    public ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        _context = context;
        var options = context.BindOptions<AuthBuiltinOptions>();
        var logger = context.LoggerFactory.CreateLogger("Broker.Plugins." + context.Name);
        // A file that cannot be read stops this plugin (its message names the file), not the broker.
        _store = BuiltinStore.Open(Path.Combine(context.DataDirectory, FileName));
        var cluster = new BuiltinCluster(_store, context, logger);
        _store.Clock = () => (context.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds(), context.Cluster.NodeName);
        _store.Changed = cluster.Changed;
        context.Cluster.Listen(cluster);
        var api = new AuthBuiltinApi(_store, options, context.Broker.InvalidateAuthorization);
        _registrations.AddRange(api.Map(context.Http));
        var hooks = new HookOptions { Priority = HookPriorities.ExternalAuth };
        _registrations.Add(context.Hooks.Register(HookPoints.ClientAuthenticate, Authenticate, hooks));
        _registrations.Add(context.Hooks.Register(HookPoints.ClientAuthorize, Authorize, hooks));
        var data = _store.Current;
        LogStarted(logger, data.Usernames.Count, data.ClientIds.Count, data.Rules.Count, _store.FilePath, options.PasswordHash);
        // Loaded into a running cluster (at boot no node runs yet: each is compared with as it comes up).
        if (context.Cluster.RunningNodes() is [var node, ..])
            _ = cluster.PullAsync(node);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask StopAsync(CancellationToken cancellationToken)
    {
        foreach (var registration in _registrations)
            registration.Dispose();
        return ValueTask.CompletedTask;
    }

    private ValueTask<HookResult> Authenticate(ClientAuthenticateContext ctx)
    {
        if (ctx.Client is not { } client)
            return ValueTask.FromResult(HookResult.Continue);
        var data = _store.Current;
        var byClientId = data.ClientIds.GetValueOrDefault(client.ClientId);
        var byUsername = string.IsNullOrEmpty(client.Username) ? null : data.Usernames.GetValueOrDefault(client.Username);
        if (byClientId is null && byUsername is null)
            return ValueTask.FromResult(HookResult.Continue); // not ours: the next source decides
        var password = ctx.Password ?? ReadOnlyMemory<byte>.Empty;
        if (byClientId?.Password.IsSlow != true && byUsername?.Password.IsSlow != true)
            return ValueTask.FromResult(Decide(ctx, password, byClientId, byUsername));
        // PBKDF2 and bcrypt cost milliseconds on purpose: never on the connection's I/O thread.
        return new ValueTask<HookResult>(Task.Run(() => Decide(ctx, password, byClientId, byUsername)));
    }

    private static HookResult Decide(ClientAuthenticateContext ctx, ReadOnlyMemory<byte> password, User? byClientId, User? byUsername)
    {
        var matched = byClientId is not null && byClientId.Password.Verify(password.Span) ? byClientId
            : byUsername is not null && byUsername.Password.Verify(password.Span) ? byUsername
            : null;
        if (matched is null)
        {
            ctx.Result = AuthenticationResult.Deny;
            ctx.DenyReasonCode = MqttReasonCode.BadUserNameOrPassword;
            return HookResult.Stop;
        }
        ctx.IsSuperuser |= matched.IsSuperuser;
        ctx.Result = AuthenticationResult.Allow;
        return HookResult.Stop;
    }

    private ValueTask<HookResult> Authorize(ClientAuthorizeContext ctx)
    {
        if (ctx.Client is not { } client)
            return ValueTask.FromResult(HookResult.Continue);
        var data = _store.Current;
        // The connection's rules are gathered once per state of the data, not per check.
        var rules = _context.ClientState.Get<ConnectionRules>(client) is { } cached && ReferenceEquals(cached.Data, data)
            ? cached.Rules
            : Gather(client, data);
        var result = rules.Count == 0 ? AuthorizationResult.Ignore : rules.Judge(ctx, client);
        if (result == AuthorizationResult.Ignore)
            return ValueTask.FromResult(HookResult.Continue);
        ctx.Result = result;
        return ValueTask.FromResult(HookResult.Stop);
    }

    private AclRuleSet Gather(ClientInfo client, BuiltinData data)
    {
        var rules = data.RulesFor(client);
        _context.ClientState.Set(client, new ConnectionRules(data, rules));
        return rules;
    }

    private sealed record ConnectionRules(BuiltinData Data, AclRuleSet Rules);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "auth_builtin started: {Users} user name(s), {ClientIds} client id(s), {Rules} ACL rule(s) from {File}; new passwords hashed with {Hash}")]
    private static partial void LogStarted(ILogger logger, int users, int clientIds, int rules, string file, NewPasswordHash hash);
}
