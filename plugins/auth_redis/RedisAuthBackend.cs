using System.Net;
using Broker.Plugins.Auth;
using StackExchange.Redis;
using ClientInfo = Broker.Abstractions.ClientInfo;

namespace Broker.Plugins.AuthRedis;

/// <summary>
/// Runs EMQX 4's auth_cmd, super_cmd and acl_cmd on Redis. Each word of a command is one RESP argument with its
/// placeholders filled in, so a user name like <c>x\r\nFLUSHALL</c> or <c>*</c> is one argument, never a command or a
/// pattern.
/// </summary>
internal sealed class RedisAuthBackend : IAuthBackend
{
    private readonly ConnectionMultiplexer _redis;
    private readonly IDatabase _db;
    private readonly RedisCommand? _auth;
    private readonly RedisCommand? _super;
    private readonly RedisCommand? _acl;

    private RedisAuthBackend(ConnectionMultiplexer redis, int database, AuthRedisOptions options)
    {
        _redis = redis;
        _db = redis.GetDatabase(database);
        _auth = RedisCommand.Parse(options.AuthCmd);
        _super = RedisCommand.Parse(options.SuperCmd);
        _acl = RedisCommand.Parse(options.AclCmd);
    }

    public string Name => "Redis";

    public bool HasAuthQuery => _auth is not null;

    public bool HasSuperQuery => _super is not null;

    public bool HasAclQuery => _acl is not null;

    /// <summary>
    /// Connects in the background: the plugin starts even when Redis is down, and StackExchange.Redis reconnects by
    /// itself whenever Redis comes (back).
    /// </summary>
    public static async Task<RedisAuthBackend> ConnectAsync(AuthRedisOptions options, TlsSettings? tls)
    {
        var config = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            // While Redis is away a command fails at once (RedisConnectionException) instead of queueing until its
            // timeout: connects are answered fast and never pile up.
            BacklogPolicy = BacklogPolicy.FailFast,
            Password = options.Password.Length > 0 ? options.Password : null,
            DefaultDatabase = options.Database,
            AsyncTimeout = (int)Math.Max(10, options.QueryTimeout.TotalMilliseconds),
            SyncTimeout = (int)Math.Max(10, options.QueryTimeout.TotalMilliseconds),
            ConnectTimeout = (int)Math.Clamp(options.QueryTimeout.TotalMilliseconds, 100, 5000),
            ConnectRetry = 1,
            ClientName = "broker-auth_redis",
        };
        foreach (var server in options.Server.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            config.EndPoints.Add(server);
        if (options.Type == RedisType.Sentinel)
        {
            config.ServiceName = options.Sentinel;
            config.CommandMap = CommandMap.Sentinel;
        }
        if (tls is not null)
        {
            config.Ssl = true;
            if (options.Ssl.ServerName.Length > 0)
                config.SslHost = options.Ssl.ServerName;
            config.CertificateValidation += tls.ValidateServer;
            if (tls.ClientCertificate is { } certificate)
                config.CertificateSelection += (_, _, _, _, _) => certificate;
        }
        ConnectionMultiplexer redis;
        if (options.Type == RedisType.Sentinel)
        {
            var sentinel = await ConnectionMultiplexer.SentinelConnectAsync(config).ConfigureAwait(false);
            redis = sentinel.GetSentinelMasterConnection(new ConfigurationOptions
            {
                ServiceName = options.Sentinel,
                AbortOnConnectFail = false,
                BacklogPolicy = BacklogPolicy.FailFast,
                Password = config.Password,
                DefaultDatabase = options.Database,
                AsyncTimeout = config.AsyncTimeout,
                SyncTimeout = config.SyncTimeout,
                Ssl = config.Ssl,
                SslHost = config.SslHost,
            });
        }
        else
        {
            redis = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
        }
        return new RedisAuthBackend(redis, options.Database, options);
    }

    public async Task<StoredCredentials?> FindCredentialsAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        var reply = await _auth!.RunAsync(_db, client).ConfigureAwait(false);
        if (reply.IsNull)
            return null;
        if (reply.Resp2Type != ResultType.Array)
            return new StoredCredentials((string?)reply, null);
        var values = (RedisResult[])reply!;
        if (values.Length == 0 || values[0].IsNull)
            return null; // HMGET of a missing key: [nil, nil]
        return new StoredCredentials((string?)values[0], values.Length > 1 && !values[1].IsNull ? (string?)values[1] : null);
    }

    public async Task<bool> IsSuperuserAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        var reply = await _super!.RunAsync(_db, client).ConfigureAwait(false);
        if (reply.Resp2Type == ResultType.Array)
            reply = ((RedisResult[])reply!) is [var first, ..] ? first : RedisResult.Create(RedisValue.Null);
        return !reply.IsNull && (string?)reply is "1" or "true";
    }

    public async Task<IReadOnlyList<AclRule>> LoadAclAsync(ClientInfo client, CancellationToken cancellationToken)
    {
        var reply = await _acl!.RunAsync(_db, client).ConfigureAwait(false);
        if (reply.IsNull || reply.Resp2Type != ResultType.Array)
            return [];
        var items = (RedisResult[])reply!;
        var rules = new List<AclRule>(items.Length / 2);
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            var access = int.TryParse((string?)items[i + 1], out var value) && value is >= 1 and <= 3 ? (AclAccess)value : AclAccess.None;
            if ((string?)items[i] is { Length: > 0 } topic && access != AclAccess.None)
                rules.Add(new AclRule { Allow = true, Access = access, Topic = topic });
        }
        return rules;
    }

    public Task PingAsync(CancellationToken cancellationToken) => _db.PingAsync();

    public bool IsUnreachable(Exception exception) => exception is RedisConnectionException;

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync().ConfigureAwait(false);

    /// <summary>A configured command: its name and its argument templates.</summary>
    private sealed class RedisCommand(string name, Placeholders[] arguments)
    {
        public static RedisCommand? Parse(string text)
        {
            var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return words.Length == 0 ? null : new RedisCommand(words[0], [.. words.Skip(1).Select(Placeholders.Parse)]);
        }

        public Task<RedisResult> RunAsync(IDatabase db, ClientInfo client)
        {
            var args = new object[arguments.Length];
            for (var i = 0; i < args.Length; i++)
                args[i] = arguments[i].Render(client);
            return db.ExecuteAsync(name, args);
        }
    }
}
