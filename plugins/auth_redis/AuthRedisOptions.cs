using Broker.Plugins.Auth;

namespace Broker.Plugins.AuthRedis;

/// <summary>How the Redis servers are arranged (<c>auth.redis.type</c>).</summary>
internal enum RedisType
{
    /// <summary>One server (or a primary and replicas listed together).</summary>
    Single,
    /// <summary>Sentinels: <c>server</c> lists them, <c>sentinel</c> names the monitored primary.</summary>
    Sentinel,
    /// <summary>A Redis Cluster: <c>server</c> lists some of its nodes.</summary>
    Cluster,
}

/// <summary><c>auth.redis.ssl.*</c>: the shared TLS keys and Redis's SNI name.</summary>
internal sealed class RedisTlsOptions : SwitchedBackendTlsOptions
{
    [ConfKey("server_name_indication", "The host name sent in TLS SNI and checked in the certificate; empty = the host of server.")]
    public string ServerName { get; set; } = "";
}

/// <summary>etc/plugins/auth_redis.conf: EMQX 4's <c>auth.redis.*</c> keys, with their defaults.</summary>
internal sealed class AuthRedisOptions : IValidatableOptions
{
    [ConfKey("auth.redis.type", "How the servers are arranged: single, sentinel or cluster.")]
    public RedisType Type { get; set; } = RedisType.Single;

    [ConfKey("auth.redis.server", "The server as host:port; for sentinel and cluster a comma-separated list (127.0.0.1:26379,127.0.0.2:26379).")]
    public string Server { get; set; } = "127.0.0.1:6379";

    [ConfKey("auth.redis.sentinel", "With type = sentinel: the name of the primary the sentinels monitor.")]
    public string Sentinel { get; set; } = "";

    [ConfKey("auth.redis.pool", "EMQX's connection pool size. Accepted for compatibility: StackExchange.Redis multiplexes every query over one connection per server, which needs no pool.", Min = "1")]
    public int Pool { get; set; } = 8;

    [ConfKey("auth.redis.database", "The database number (SELECT).", Min = "0")]
    public int Database { get; set; }

    [ConfKey("auth.redis.password", "The password (AUTH); empty = none.")]
    public string Password { get; set; } = "";

    [ConfKey("auth.redis.query_timeout", "How long one command may take; it is abandoned after and the client is judged by on_error.", Unit = ConfUnit.Duration, Min = "10ms")]
    public TimeSpan QueryTimeout { get; set; } = TimeSpan.FromSeconds(5);

    [ConfKey("auth.redis.auth_cmd", "The authentication command; its reply is the stored password, or [password, salt]. No reply (nil) = unknown user: the next source decides. Empty = no authentication from Redis. Placeholders %u %c %a %C %d; each word of the command is one argument, so a value is never parsed as a command.")]
    public string AuthCmd { get; set; } = "HMGET mqtt_user:%u password";

    [ConfKey("auth.redis.password_hash", "How stored passwords are hashed: plain, md5, sha, sha256, sha512, bcrypt or pbkdf2,<macfun>,<iterations>,<dklen>; salted as salt,sha256 (salt first) or sha256,salt (salt last), the salt being the second value of auth_cmd's reply.")]
    public string PasswordHash { get; set; } = "plain";

    [ConfKey("auth.redis.super_cmd", "The superuser command: a reply of 1 or true makes the client a superuser, allowed everything. Empty = no superusers.")]
    public string SuperCmd { get; set; } = "HGET mqtt_user:%u is_superuser";

    [ConfKey("auth.redis.acl_cmd", "The ACL command: a hash of topic filter -> 1 (subscribe), 2 (publish) or 3 (both), each entry allowing. Loaded once per connection. Empty = no ACL from Redis.")]
    public string AclCmd { get; set; } = "HGETALL mqtt_acl:%u";

    [ConfKey("auth.redis.on_error", "What a Redis error, timeout or outage means for the client: deny (CONNACK Server Unavailable, publish/subscribe refused) or ignore (the next source decides, then allow_anonymous / acl_nomatch).")]
    public OnError OnError { get; set; } = OnError.Deny;

    [ConfKey("auth.redis.cache_on_outage", "While Redis is unreachable, use a user's last successful lookup for this long after it was made (the password is still checked); 0 = off.", Unit = ConfUnit.Duration, Min = "0s")]
    public TimeSpan CacheOnOutage { get; set; } = TimeSpan.Zero;

    [ConfSection("auth.redis.ssl")]
    public RedisTlsOptions Ssl { get; } = new();

    /// <summary>Shorthands for <see cref="Ssl"/>'s keys.</summary>
    public bool SslEnable => Ssl.Enable;

    /// <inheritdoc cref="SslEnable"/>
    public string SslCaCertFile => Ssl.CaCertFile;

    /// <inheritdoc cref="SslEnable"/>
    public string SslServerName => Ssl.ServerName;

    /// <inheritdoc />
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (Type == RedisType.Sentinel && Sentinel.Length == 0)
            yield return ("auth.redis.sentinel", "type = sentinel needs the name of the monitored primary");
        string? hashError = null;
        try
        {
            Auth.PasswordHash.Parse(PasswordHash);
        }
        catch (FormatException ex)
        {
            hashError = ex.Message;
        }
        if (hashError is not null)
            yield return ("auth.redis.password_hash", hashError);
    }
}
